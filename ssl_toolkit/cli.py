"""The ``ssl`` command: a thin parser over the commands in ``ssl_toolkit/commands/`` (one module each, with its
own ``add_parser`` and ``main``).

User mistakes (UserError) print one line, ``ssl: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from ssl_toolkit.commands import bench, cache, data, pretrain, probe, show, tasks, visualize
from ssl_toolkit.engine.interrupts import Interrupted
from ssl_toolkit.errors import UserError

COMMANDS = (tasks, pretrain, show, probe, bench, visualize, data, cache)


class _Parser(argparse.ArgumentParser):
    """argparse with the toolkit's one-line error format (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.removeprefix("ssl").strip()
        print(f"ssl: error: {f'{where}: ' if where else ''}{message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ssl", description="Self-supervised pretraining and probing.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, but ``key=value`` overrides may also follow options given after a positional argument
    (``ssl data map eurosat-rgb --color split data.split=geographic``), which argparse alone refuses."""
    args, extra = parser.parse_known_args(argv)
    stray = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
    if stray:
        command = " ".join(filter(None, [getattr(args, "command", None), getattr(args, "data_command", None)]))
        print(
            f"ssl: error: {command}: unrecognized arguments: {' '.join(stray)} (see ssl {command} --help)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse(build_parser(), argv)
    except SystemExit as e:  # --help (0) or a malformed command line (2, already reported on one line)
        return int(e.code or 0)
    try:
        args.func(args)
    except UserError as e:
        if os.environ.get("RANK", "0") in ("", "0"):  # under torchrun every rank meets the mistake: rank 0 says it
            print(f"ssl: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that stopped early (`ssl tasks | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush does not fail again
        return 0
    except OSError as e:  # the operating system refused a file (permissions, space, a path under a file)
        where = f"{e.filename}: " if e.filename else ""
        print(f"ssl: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"ssl: {e}; continue it with --resume", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("ssl: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
