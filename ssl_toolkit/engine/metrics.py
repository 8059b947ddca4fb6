"""Metrics as JSON lines, and the loss-curve plot drawn from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ssl_toolkit import atomic


class RunningMeans:
    """Sums of per-step metrics, kept on the device until read (no sync per step), and their counts.

    Each metric is averaged over the steps that reported it (a GAN reports its generator loss only on the steps
    that take a generator step); ``count`` is the number of steps.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.count = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v.detach().float()
            self.counts[k] = self.counts.get(k, 0) + 1
        self.count += 1

    def means(self) -> dict[str, float]:
        return {k: v.item() / self.counts[k] for k, v in self.sums.items()} if self.count else {}

    def reset(self) -> None:
        self.sums, self.counts, self.count = {}, {}, 0

    def state(self) -> dict[str, Any]:
        """For checkpoints: float32 sums round-trip exactly through Python floats."""
        return {"count": self.count, "counts": dict(self.counts), "sums": {k: float(v) for k, v in self.sums.items()}}

    def load(self, state: dict[str, Any], device: torch.device) -> None:
        self.count = int(state["count"])
        self.sums = {k: torch.tensor(v, dtype=torch.float32, device=device) for k, v in state["sums"].items()}
        self.counts = {k: int(state.get("counts", {}).get(k, self.count)) for k in self.sums}


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``.

    ``truncate_after(step)`` drops lines logged after a checkpoint, so a resumed run does not log a step twice.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        """Drop records after ``step`` (step 0: start afresh, dropping a killed run's lines)."""
        if not self.path.exists():
            return
        kept = [line for line in self.read() if 0 < line.get("step", 0) <= step]
        atomic.write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def plot_losses(records: list[dict[str, Any]], path: Path, title: str) -> None:
    """Loss (and pretext accuracy, if logged) against step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r.get("kind") == "step"]
    if not steps:
        return
    metric_names = sorted({k for r in steps for k in r if k.endswith("loss") or k.endswith("acc")})
    losses = [k for k in metric_names if k.endswith("loss")]
    accs = [k for k in metric_names if k.endswith("acc")]
    fig, axes = plt.subplots(1, 2 if accs else 1, figsize=(10 if accs else 5, 3.5), squeeze=False)
    for k in losses:
        axes[0][0].plot([r["step"] for r in steps if k in r], [r[k] for r in steps if k in r], label=k)
    axes[0][0].set_xlabel("step")
    axes[0][0].set_ylabel("loss")
    axes[0][0].legend()
    if accs:
        for k in accs:
            axes[0][1].plot([r["step"] for r in steps if k in r], [r[k] for r in steps if k in r], label=k)
        axes[0][1].set_xlabel("step")
        axes[0][1].set_ylabel("pretext accuracy")
        axes[0][1].set_ylim(0, 1)
        axes[0][1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
