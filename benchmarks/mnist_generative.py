"""MNIST: a DCGAN that collapses against the same DCGAN with stabilizers, a non-saturating DCGAN for reference,
and a VAE, each probed (linear and kNN) against the random-init mnist_net.

The collapsing GAN is the textbook one: the original minimax generator loss, log(1 - D(G(z))), whose gradient
vanishes once the discriminator wins. The stabilised run changes only the stabilizer keys: spectral norm on the
discriminator, one-sided label smoothing 0.9, minibatch discrimination (8 kernels) and a replay buffer (25% of
each fake batch). Sample quality (classes covered, KL of the class histogram, Frechet distance in the judge
classifier's features) and the collapse monitors (dead units, effective rank of the trunk's embeddings) come
from each run's last epoch record.

Budget: mnist_net backbone, EPOCHS epochs of the 60,000 training images, 64 per step, Adam lr 2e-4, beta1 0.5,
constant lr for the GANs (lr 1e-3 for the VAE); `ssl probe` linear (L2 chosen on validation) and kNN (k 20).

The second wave (``--wave 2``) compares the newer learners at one CPU budget instead of one epoch, since their
steps cost very different times: ``--minutes M`` of pretraining each (``train.minutes``, whole epochs of a
``--subset`` of the training images, at least one), next to the plain DCGANs at the same budget: progressive
growing, the StyleGAN-style mapping network (with and without growing), AdaGAN's mixture of minimax DCGANs (the
loss that collapses), pix2pix (each digit to its transpose), CycleGAN (digits <-> transposes, unpaired) and
completion with global and local discriminators. The table adds each run's pretraining minutes. The first
seed's run of each row fits its epochs to the minutes; the later seeds repeat those epochs, so the seeds of a row
differ in their seed only, not in what the CPU's speed that day bought.

    python benchmarks/mnist_generative.py --out runs/mnist-generative --seeds 1 2
    python benchmarks/mnist_generative.py --wave 2 --minutes 3 --subset 10000 --out runs/mnist-generative-2
    python benchmarks/mnist_generative.py --wave 2 --minutes 3 --subset 10000 --seeds 1 2 3 --only AdaGAN pggan
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from eurosat_patch_tasks import run  # noqa: E402

EPOCHS = 1
GAN = ["--task", "gan", "optim.name=adam", "optim.lr=0.0002", "optim.momentum=0.5", "schedule.name=constant"]
STABILIZERS = ["task.spectral_norm=true", "task.real_label=0.9", "task.minibatch=8", "task.replay=0.25"]
ROWS = {
    "DCGAN, minimax loss (plain)": [*GAN, "task.objective=minimax"],
    "DCGAN, minimax loss + stabilizers": [*GAN, "task.objective=minimax", *STABILIZERS],
    "DCGAN, non-saturating loss (plain)": GAN,
    "VAE (beta 1, latent 16)": ["--task", "vae", "optim.name=adam", "optim.lr=0.001", "schedule.name=constant"],
}
GROWING = ["task.progressive=true", "task.stage_images=5000", "task.fade_images=5000"]
SECOND_WAVE = {
    "DCGAN, non-saturating loss (plain)": GAN,
    "DCGAN, minimax loss (plain)": [*GAN, "task.objective=minimax"],
    "AdaGAN, 3 minimax DCGANs": [*GAN[:1], "adagan", *GAN[2:], "task.objective=minimax", "task.components=3"],
    "progressive growing 7->14->28 px (pggan)": [*GAN, "task.generator=pggan", *GROWING],
    "StyleGAN mapping network": [*GAN, "task.generator=style"],
    "StyleGAN mapping network, progressive": [*GAN, "task.generator=style", *GROWING],
    "pix2pix (digit -> its transpose)": ["--task", "pix2pix"],
    "pix2pix encoder-decoder (digit -> its transpose)": ["--task", "pix2pix", "task.skips=false"],
    "CycleGAN (digits <-> transposes)": ["--task", "cyclegan"],
    "CycleGAN encoder-decoder (digits <-> transposes)": ["--task", "cyclegan", "task.skips=false"],
    "completion (global + local discriminators)": ["--task", "completion"],
    "completion encoder-decoder (global + local discriminators)": ["--task", "completion", "task.skips=false"],
}
QUALITY = ("classes_covered", "class_kl", "frechet")
MONITORS = ("dead_units", "embed_rank")
COLUMNS = ("linear", "knn", *QUALITY, *MONITORS, "minutes")


def probe_accuracy(cmd_prefix: list[str], out: Path, protocol: str, seed: str, log: list[str]) -> float:
    result = out / "probe.json"
    if not result.exists():
        run([*cmd_prefix, "--protocol", protocol, "--seed", seed, "--out", str(out)], log)
    return json.loads(result.read_text())["accuracy"]


def cell(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def measure(
    rows: dict[str, list[str]], budget: list[str], setup: list[str], out: Path, seeds: list[int], log: list[str]
) -> dict[str, dict[str, list[float]]]:
    """Pretrain every row (``setup``: the data and backbone flags, shared with the random-init probes), probe it
    linear and kNN, and collect its last epoch's sample quality and collapse monitors and its minutes; runs and
    probes already in ``out`` are reused."""
    table: dict[str, dict[str, list[float]]] = {"random-init": {c: [] for c in COLUMNS}}
    first_runs: dict[str, Path] = {}
    for seed in map(str, seeds):
        rand = ["probe", "--random-init", *setup]
        for protocol in ("linear", "knn"):
            acc = probe_accuracy(rand, out / f"random-init-seed{seed}" / protocol, protocol, seed, log)
            table["random-init"][protocol].append(acc)
        for name, flags in rows.items():
            row = table.setdefault(name, {c: [] for c in COLUMNS})
            run_dir = out / f"{name.split(' (')[0].replace(', ', '-').replace(' ', '_')}-seed{seed}"
            first = first_runs.setdefault(name, run_dir)
            if not (run_dir / "backbone.safetensors").exists():
                run(["pretrain", "--out", str(run_dir), "--seed", seed, *setup, *repeat(budget, first), *flags], log)
            for protocol in ("linear", "knn"):
                acc = probe_accuracy(
                    ["probe", "--run", str(run_dir)], run_dir / "probes" / protocol, protocol, seed, log
                )
                row[protocol].append(acc)
            records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
            last = [r for r in records if r["kind"] == "epoch"][-1]
            for key in (*QUALITY, *MONITORS):
                if key in last:
                    row[key].append(last[key])
            row["minutes"].append([r for r in records if r["kind"] == "step"][-1]["elapsed_s"] / 60)
    return table


def repeat(budget: list[str], first_run: Path) -> list[str]:
    """The budget of a row's later seeds: the epochs its first seed's ``train.minutes`` chose, where it had
    minutes (recorded in that run's config.yaml)."""
    if not any(b.startswith("train.minutes=") for b in budget) or not (first_run / "config.yaml").exists():
        return budget
    epochs = yaml.safe_load((first_run / "config.yaml").read_text())["train"]["epochs"]
    return [b for b in budget if not b.startswith("train.minutes=")] + ["--epochs", str(epochs)]


def write_results(
    table: dict[str, dict[str, list[float]]], backbone: str, seeds: list[int], out: Path, log: list[str]
) -> None:
    """Print the table and write it with the commands that made it to ``out/RESULTS.md``."""
    lines = [
        f"| representation ({backbone}) | linear probe % | kNN probe % | classes covered | class KL | Frechet "
        "| dead units | effective rank | pretrain min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    digits = {"linear": 2, "knn": 2, "classes_covered": 1, "class_kl": 3, "frechet": 1, "dead_units": 2}
    for name, row in table.items():
        lines.append(f"| {name} | " + " | ".join(cell(row[c], digits.get(c, 1)) for c in COLUMNS) + " |")
    table_md = f"Seeds {', '.join(map(str, seeds))}; mean ± std where there are several.\n\n" + "\n".join(lines)
    print("\n" + table_md)
    out.mkdir(parents=True, exist_ok=True)
    (out / "RESULTS.md").write_text(table_md + "\n\nCommands:\n\n" + "\n".join(log) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/mnist-generative")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--only", nargs="+", help="run only the rows whose name contains one of these, e.g. minimax")
    parser.add_argument("--wave", type=int, choices=(1, 2), default=1, help="2: the second-wave learners")
    parser.add_argument("--minutes", type=float, help="pretraining budget per run (train.minutes) instead of epochs")
    parser.add_argument("--subset", type=int, help="pretrain on this many training images (data.subset)")
    args = parser.parse_args()
    table_rows = SECOND_WAVE if args.wave == 2 else ROWS
    rows = {name: flags for name, flags in table_rows.items() if args.only is None or any(o in name for o in args.only)}
    budget = [f"train.minutes={args.minutes:g}"] if args.minutes else ["--epochs", str(EPOCHS)]
    budget += [f"data.subset={args.subset}"] if args.subset else []
    out, log = Path(args.out), []
    table = measure(rows, budget, ["--backbone", "mnist_net"], out, args.seeds, log)
    write_results(table, "mnist_net", args.seeds, out, log)


if __name__ == "__main__":
    main()
