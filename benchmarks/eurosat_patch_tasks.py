"""EuroSAT RGB: linear-probe accuracy after each pretext task, against random-init and a colour-statistics floor.

Every row uses the same backbone (ResNet-18 from scratch, 64 px) and the same budget (configs/<task>_eurosat.yaml:
one epoch of the 21,600 training tiles, 64 tiles per step, AdamW, cosine), then `ssl probe --protocol linear` on
the fixed stratified 80/20 split. The floor is a logistic regression on per-channel colour statistics (mean,
std and an 8-bin histogram per channel) of the same split. Runs through the `ssl` command line.

    python benchmarks/eurosat_patch_tasks.py --out runs/eurosat-patch
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ssl_toolkit.data import load_data

SSL = [sys.executable, "-m", "ssl_toolkit.cli"]
TASKS = ["rotation", "context", "jigsaw", "damaged_jigsaw"]
CHANCE = {"rotation": "1/4", "context": "1/8", "jigsaw": "1/100", "damaged_jigsaw": "1/100"}


def run(cmd: list[str], log: list[str]) -> float:
    log.append("ssl " + shlex.join(cmd))
    print("$", log[-1], flush=True)
    t0 = time.time()
    subprocess.run(SSL + cmd, check=True)
    return time.time() - t0


def colour_features(images: torch.Tensor) -> np.ndarray:
    x = images.float() / 255
    feats = [x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
    for c in range(x.shape[1]):
        hist = torch.stack([torch.histc(im, bins=8, min=0, max=1) for im in x[:, c]])
        feats.append(hist / hist.sum(1, keepdim=True))
    return torch.cat(feats, dim=1).numpy()


def colour_floor() -> float:
    data = load_data("eurosat-rgb")
    scaler = StandardScaler()
    xtr = scaler.fit_transform(colour_features(data.train.images))
    xte = scaler.transform(colour_features(data.test.images))
    clf = LogisticRegression(max_iter=3000).fit(xtr, data.train.labels.numpy())
    return 100.0 * float((clf.predict(xte) == data.test.labels.numpy()).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/eurosat-patch")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out, s = Path(args.out), str(args.seed)
    log: list[str] = []
    rows = []
    floor = colour_floor()
    print(f"colour-statistics floor: {floor:.2f}%", flush=True)
    rand = out / "random-init"
    t = 0.0
    if not (rand / "probe.json").exists():
        t = run(
            [
                "probe",
                "--random-init",
                "--backbone",
                "resnet18",
                "--data",
                "eurosat-rgb",
                "--protocol",
                "linear",
                "--seed",
                s,
                "--out",
                str(rand),
            ],
            log,
        )
    rows.append(("random-init", json.loads((rand / "probe.json").read_text())["accuracy"], None, "-", 0.0, t))
    for task in TASKS:
        run_dir = out / task
        t_pre = t_probe = 0.0
        if not (run_dir / "backbone.safetensors").exists():
            t_pre = run(
                ["pretrain", "--config", f"configs/{task}_eurosat.yaml", "--seed", s, "--out", str(run_dir)], log
            )
        result = run_dir / "probes" / f"linear-seed{s}" / "probe.json"
        if not result.exists():
            t_probe = run(["probe", "--run", str(run_dir), "--protocol", "linear", "--seed", s], log)
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        steps = [r for r in records if r["kind"] == "step"]
        last_acc = float(np.mean([r["acc"] for r in steps[-3:]]))  # the last 60 steps
        rows.append((task, json.loads(result.read_text())["accuracy"], last_acc, CHANCE[task], t_pre, t_probe))
    lines = [
        "| representation (ResNet-18, 64 px) | linear probe top-1 % | beats the floor | pretext acc. (end) | chance |"
        " pretrain s | probe s |",
        "|---|---|---|---|---|---|---|",
        f"| colour statistics (floor) | {floor:.2f} | - | - | - | - | - |",
    ]
    for name, acc, pre, chance, tp, tq in rows:
        pre_s = f"{pre:.3f}" if pre is not None else "-"
        lines.append(
            f"| {name} | {acc:.2f} | {'yes' if acc > floor else 'no'} | {pre_s} | {chance} | {tp:.0f} | {tq:.0f} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "RESULTS.md").write_text(table + "\n\nCommands:\n\n" + "\n".join(log) + "\n")
    (out / "results.json").write_text(json.dumps({"floor": floor, "rows": rows, "commands": log}, indent=2))


if __name__ == "__main__":
    main()
