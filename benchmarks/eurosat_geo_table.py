"""EuroSAT RGB on two splits: linear probe after geolocation, rotation, rotation+geolocation and random-init.

Every pretrained row: ResNet-18 from scratch at 64 px, one epoch of its split's training tiles, 64 tiles per step,
AdamW, cosine (configs/geolocation_eurosat.yaml, rotation_eurosat.yaml, rotation_geolocation_eurosat.yaml;
rotation with one random rotation per tile, so every row makes one backbone pass per tile and task). Each row
is pretrained on the training tiles of the split it is probed on, so the geographic rows never saw a tile of a
held-out region. The floor is a logistic regression on per-channel colour statistics of the same split.
Runs through `ssl`.

    python benchmarks/eurosat_geo_table.py --out runs/eurosat-geo
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ssl_toolkit.data import DataOptions, load_data

sys.path.insert(0, str(Path(__file__).parent))
from eurosat_patch_tasks import colour_features, run  # noqa: E402

ROWS = {
    "geolocation": ["--config", "configs/geolocation_eurosat.yaml", "--seed", "{seed}"],
    "rotation": ["--config", "configs/rotation_eurosat.yaml", "--seed", "{seed}", "task.all_rotations=false"],
    "rotation+geolocation": ["--config", "configs/rotation_geolocation_eurosat.yaml", "--seed", "{seed}"],
}
SPLITS = ("random", "geographic")


def colour_floor(split: str) -> tuple[float, int, int]:
    data = load_data("eurosat-rgb", DataOptions(split=split))
    scaler = StandardScaler()
    xtr = scaler.fit_transform(colour_features(data.train.images))
    xte = scaler.transform(colour_features(data.test.images))
    clf = LogisticRegression(max_iter=3000).fit(xtr, data.train.labels.numpy())
    return 100.0 * float((clf.predict(xte) == data.test.labels.numpy()).mean()), len(data.train), len(data.test)


def pretext_end(run_dir: Path) -> str:
    """Mean pretext accuracy over the last 3 logged windows, per task."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["kind"] == "step"][-3:]
    keys = [k for k in steps[-1] if k.endswith("acc")]
    return ", ".join(
        f"{k.removesuffix('_acc').removesuffix('acc') or 'acc'} {np.mean([r[k] for r in steps]):.3f}" for k in keys
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/eurosat-geo")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out, s = Path(args.out), str(args.seed)
    log: list[str] = []
    table: dict[str, dict[str, tuple[float, str, float, float]]] = {}
    floors = {}
    for split in SPLITS:
        floors[split] = colour_floor(split)
        print(
            f"{split} split: colour floor {floors[split][0]:.2f}% ({floors[split][1]} train, {floors[split][2]} test)"
        )
        rand = out / f"random-init-{split}"
        t = 0.0
        if not (rand / "probe.json").exists():
            t = run(
                ["probe", "--random-init", "--backbone", "resnet18", "--data", "eurosat-rgb", "--seed", s,
                 "--out", str(rand), f"data.split={split}"],
                log,
            )  # fmt: skip
        table.setdefault("random-init", {})[split] = (
            json.loads((rand / "probe.json").read_text())["accuracy"],
            "-",
            0.0,
            t,
        )
        for name, flags in ROWS.items():
            run_dir = out / f"{name.replace('+', '_')}-{split}"
            t_pre = t_probe = 0.0
            if not (run_dir / "backbone.safetensors").exists():
                flags = [f.format(seed=s) for f in flags]
                t_pre = run(["pretrain", "--out", str(run_dir), *flags, f"data.split={split}"], log)
            tag = "" if split == "random" else f"-{split}"
            result = run_dir / "probes" / f"linear{tag}-seed{s}" / "probe.json"
            if not result.exists():
                t_probe = run(["probe", "--run", str(run_dir), "--seed", s, f"data.split={split}"], log)
            acc = json.loads(result.read_text())["accuracy"]
            table.setdefault(name, {})[split] = (acc, pretext_end(run_dir), t_pre, t_probe)
    lines = [
        "| representation (ResNet-18, 64 px) | random split: linear probe % | geographic split: linear probe % |"
        " pretext acc. at the end (random / geographic) | pretrain s (random / geographic) |",
        "|---|---|---|---|---|",
        f"| colour statistics (floor) | {floors['random'][0]:.2f} | {floors['geographic'][0]:.2f} | - | - |",
    ]
    for name, cells in table.items():
        r, g = cells["random"], cells["geographic"]
        lines.append(f"| {name} | {r[0]:.2f} | {g[0]:.2f} | {r[1]} / {g[1]} | {r[2]:.0f} / {g[2]:.0f} |")
    sizes = ", ".join(f"{k}: {v[1]} train / {v[2]} test tiles" for k, v in floors.items())
    text = "\n".join(lines) + f"\n\nSplits: {sizes}.\n"
    print("\n" + text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "RESULTS.md").write_text(text + "\nCommands:\n\n" + "\n".join(log) + "\n")
    (out / "results.json").write_text(json.dumps({"floors": floors, "table": table, "commands": log}, indent=2))


if __name__ == "__main__":
    main()
