"""Reproduce the seed's MNIST experiment over several seeds with the `ssl` command line, and tabulate it.

For each seed: the seed-fc probe of a random-init mnist_net, and of mnist_net pretrained for one epoch on
transpose (the seed's pretext) and on 4-way rotation. Prints a Markdown table (mean +- std over seeds, and
each seed), the commands it ran, and whether the published gates hold:
random-init in 93-96.5%, transpose >= 97.0%, transpose above random-init by >= 1.5 points for every seed.

    python benchmarks/mnist_seed_experiment.py --seeds 1 2 3 --out runs/seed-experiment
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

SSL = [sys.executable, "-m", "ssl_toolkit.cli"]


def run(cmd: list[str], log: list[str]) -> None:
    shown = "ssl " + shlex.join(cmd)
    log.append(shown)
    print("$", shown, flush=True)
    subprocess.run(SSL + cmd, check=True)


def accuracy(path: Path) -> float:
    return json.loads(path.read_text())["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", default="runs/seed-experiment")
    args = parser.parse_args()
    out = Path(args.out)
    commands: list[str] = []
    rows: dict[str, list[float]] = {"random-init": [], "transpose (1 epoch)": [], "rotation (1 epoch)": []}
    for seed in args.seeds:
        s = str(seed)
        rand = out / f"random-s{seed}"
        if not (rand / "probe.json").exists():
            run(
                [
                    "probe",
                    "--random-init",
                    "--backbone",
                    "mnist_net",
                    "--protocol",
                    "seed-fc",
                    "--seed",
                    s,
                    "--out",
                    str(rand),
                ],
                commands,
            )
        rows["random-init"].append(accuracy(rand / "probe.json"))
        for task, label in [("transpose", "transpose (1 epoch)"), ("rotation", "rotation (1 epoch)")]:
            run_dir = out / f"{task}-s{seed}"
            result = run_dir / "probes" / f"seed-fc-seed{seed}" / "probe.json"
            if not result.exists():
                if not (run_dir / "backbone.safetensors").exists():
                    run(
                        ["pretrain", "--config", f"configs/{task}_mnist.yaml", "--seed", s, "--out", str(run_dir)],
                        commands,
                    )
                run(["probe", "--run", str(run_dir), "--protocol", "seed-fc", "--seed", s], commands)
            rows[label].append(accuracy(result))

    lines = [
        f"| mnist_net, seed-fc probe (1 epoch) | mean +- std ({len(args.seeds)} seeds) | "
        + " | ".join(f"seed {s}" for s in args.seeds)
        + " |",
        "|---|---|" + "---|" * len(args.seeds),
    ]
    for label, accs in rows.items():
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(
            f"| {label} | {statistics.mean(accs):.2f} +- {std:.2f} | " + " | ".join(f"{a:.2f}" for a in accs) + " |"
        )
    table = "\n".join(lines)
    rand, trans = rows["random-init"], rows["transpose (1 epoch)"]
    gates = {
        "random-init within 93-96.5% (every seed)": all(93.0 <= a <= 96.5 for a in rand),
        "transpose >= 97.0% (every seed)": all(a >= 97.0 for a in trans),
        "transpose - random-init >= 1.5 points (every seed)": all(t - r >= 1.5 for t, r in zip(trans, rand)),
    }
    print("\n" + table + "\n")
    for name, ok in gates.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"seeds": args.seeds, "rows": rows, "gates": gates, "commands": commands}, indent=2) + "\n"
    )
    (out / "RESULTS.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
