"""Time `ssl pretrain` + `ssl probe` (seed protocol, one epoch each) against a plain PyTorch script of the same
protocol (benchmarks/plain_seed_protocol.py), in one run, and print the ratio (aim: at most 1.2x).

Both are timed as whole processes (interpreter start, imports, data loading, training, evaluation), run
alternately `--repeats` times; the ratio uses the median of each.

    python benchmarks/overhead_vs_plain.py --repeats 1
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--mnist-root", default=str(HERE.parents[1] / "shared" / "data"))
    args = parser.parse_args()
    ssl = [sys.executable, "-m", "ssl_toolkit.cli"]
    toolkit, plain = [], []
    for i in range(args.repeats):
        work = Path(tempfile.mkdtemp(prefix="ssl-bench-"))
        try:
            plain.append(timed([sys.executable, str(HERE / "plain_seed_protocol.py"), "--root", args.mnist_root]))

            t0 = time.perf_counter()
            subprocess.run(ssl + ["pretrain", "--task", "transpose", "--out", str(work / "run")], check=True)
            subprocess.run(ssl + ["probe", "--run", str(work / "run"), "--protocol", "seed-fc"], check=True)
            toolkit.append(time.perf_counter() - t0)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"repeat {i + 1}: toolkit {toolkit[-1]:.1f} s, plain {plain[-1]:.1f} s", flush=True)
    t, p = statistics.median(toolkit), statistics.median(plain)
    print(f"\nssl pretrain + ssl probe (seed-fc): {t:.1f} s")
    print(f"plain PyTorch script, same protocol: {p:.1f} s")
    print(f"ratio toolkit / plain: {t / p:.2f}x  (aim: <= 1.20x)")


if __name__ == "__main__":
    main()
