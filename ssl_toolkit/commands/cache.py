"""``ssl cache``: what the on-disk cache holds (decoded datasets, extracted features, tile indexes, permutation
sets, GAN judges) under ``$SSL_CACHE_DIR`` (default ``~/.cache/ssl-toolkit``), and ``ssl cache clear`` to empty it."""

from __future__ import annotations

import argparse
import shutil

from ssl_toolkit.cache import cache_dir
from ssl_toolkit.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show or clear the on-disk cache (decoded datasets, features, judges)")
    p.add_argument("action", nargs="?", choices=("show", "clear"), default="show")
    p.set_defaults(func=main)


def sizes() -> dict[str, tuple[int, int]]:
    """(files, bytes) per top-level entry of the cache folder."""
    root = cache_dir()
    out: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return out
    for entry in sorted(root.iterdir()):
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        out[entry.name] = (len(files), sum(p.stat().st_size for p in files))
    return out


def main(args: argparse.Namespace) -> None:
    root = cache_dir()
    found = sizes()
    total = sum(b for _, b in found.values())
    if args.action == "clear":
        try:
            shutil.rmtree(root)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise UserError(f"cannot clear the cache {root}: {e.strerror or e}") from None
        print(f"cleared {root} ({total / 2**20:.1f} MiB in {sum(n for n, _ in found.values())} files)")
        return
    print(f"cache {root}: {total / 2**20:.1f} MiB")
    for name, (count, size) in found.items():
        print(f"  {name:<40} {count:>6} files {size / 2**20:>10.1f} MiB")
