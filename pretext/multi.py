"""Several pretext tasks on one shared backbone, their losses weighted and summed.

Created from a name such as ``rotation+jigsaw`` by ``pretext.factory.create_task``, the front door of every
task. Each task keeps its own heads and randomness; the backbone is the same module in all of them, so its
gradient is the weighted sum of the tasks' gradients. Metrics come back per task, prefixed by its name
(``rotation_loss``, ``rotation_acc``, ...), next to the total ``loss``. Every task's ``after_step`` runs after
the shared step.
"""

from __future__ import annotations

import torch
from torch import nn

from pretext.base import EpochContext, PretextTask, StepContext
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.data.revisits import Revisits
from ssl_toolkit.data.splits import DataSource


class MultiTask(PretextTask):
    """A weighted sum of several tasks' losses on one backbone."""

    def __init__(self, backbone: Backbone, tasks: dict[str, PretextTask], weights: dict[str, float]) -> None:
        super().__init__(backbone)
        if len(tasks) < 2:
            raise ValueError("a combined task needs at least two tasks, e.g. rotation+jigsaw")
        for name, task in tasks.items():
            if task.backbone is not backbone:
                raise ValueError(f"task '{name}' does not share the backbone")
            if type(task).training_step is not PretextTask.training_step:
                raise ValueError(
                    f"'{name}' takes its own optimizer steps (several optimizers), so its losses cannot be summed "
                    "with other tasks' into one step; train it alone"
                )
            if weights.get(name, 1.0) < 0:
                raise ValueError(f"task '{name}': weight must be >= 0, got {weights[name]}")
        self.tasks = nn.ModuleDict(tasks)
        self.weights = {name: float(weights.get(name, 1.0)) for name in tasks}

    @property
    def loss_over_ranks(self) -> bool:  # type: ignore[override]
        return any(task.loss_over_ranks for task in self.tasks.values())

    def forward(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = images.new_zeros(())
        # with a loss over every rank's rows among them, the engine leaves the sum unweighted: the per-rank losses
        # then carry this rank's share of the batch themselves
        share = self.context.share if self.loss_over_ranks else 1.0
        for name, task in self.tasks.items():
            result = task(images, meta)
            weight = self.weights[name] * (1.0 if task.loss_over_ranks else share)
            total = total + weight * result["loss"]
            for key, value in result.items():
                if key == "online_features":  # the engine's online probe reads the first learner's features
                    out.setdefault(key, value)
                    continue
                metric = f"{name}_{key}" if key in ("loss", "acc") else f"{name}_{key.removesuffix('_loss')}_loss"
                out[metric] = value.detach()
        out["loss"] = total
        return out

    @property
    def revisits(self) -> Revisits | None:  # type: ignore[override]
        return next((task.revisits for task in self.tasks.values() if task.revisits is not None), None)

    def fit_data(self, data: DataSource) -> None:
        for task in self.tasks.values():
            task.fit_data(data)

    def attach(self, ctx: StepContext) -> None:
        super().attach(ctx)
        for task in self.tasks.values():
            task.attach(ctx)

    def after_step(self, ctx: StepContext) -> None:
        for task in self.tasks.values():
            task.after_step(ctx)

    def epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        return {f"{name}_{k}": v for name, task in self.tasks.items() for k, v in task.epoch_end(ctx).items()}

    def run_files(self) -> dict[str, str | bytes]:
        files: dict[str, str | bytes] = {}
        for name, task in self.tasks.items():
            # files in a folder are named by their task already (geolocation/...); loose ones get its name
            files.update({k if "/" in k else f"{name}_{k}": v for k, v in task.run_files().items()})
        return files

    def examples(self, images: torch.Tensor, meta: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[str]]:
        panels: list[torch.Tensor] = []
        captions: list[str] = []
        for name, task in self.tasks.items():
            p, c = task.examples(images, meta)
            panels += p
            captions += [f"{name}: {caption}" for caption in c]
        return panels, captions
