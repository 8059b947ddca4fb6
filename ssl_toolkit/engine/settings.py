"""``TrainSettings``: how the engine trains, the ``optim.*``, ``schedule.*`` and ``train.*`` keys (and the
loader's workers) as one typed record. Its defaults are the schema's, so none is written twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ssl_toolkit.config import record, setting


@dataclass(frozen=True)
class TrainSettings:
    optimizer: str = setting("optim.name")
    lr: float = setting("optim.lr")
    weight_decay: float = setting("optim.weight_decay")
    momentum: float = setting("optim.momentum")  # SGD's momentum; Adam's and AdamW's beta1
    grad_clip: float | None = setting("optim.grad_clip")
    decay_norms_and_biases: bool = setting("optim.decay_norms_and_biases")
    schedule: str = setting("schedule.name")
    warmup_steps: int = setting("schedule.warmup_steps")
    gamma: float = setting("schedule.gamma")
    epochs: int = setting("train.epochs")
    max_steps: int | None = setting("train.max_steps")
    minutes: float | None = setting("train.minutes")  # read by the pretrain command, which sets epochs from it
    batch_size: int = setting("train.batch_size")  # the global batch, cut into one shard per rank
    seed: int = setting("train.seed")
    precision: str = setting("train.precision")
    log_every: int = setting("train.log_every")
    checkpoint_every: int | None = setting("train.checkpoint_every")
    checkpoint_minutes: float | None = setting("train.checkpoint_minutes")  # of training; also on Ctrl-C/SIGTERM
    keep_checkpoints: int | None = setting("train.keep_checkpoints")  # newest epoch files kept; None: all
    num_workers: int = setting("data.num_workers")  # -1: sized from the machine (loader.auto_workers)
    online_probe: bool = setting("train.online_probe")  # online linear head and per-epoch kNN (engine.online)
    sync_batchnorm: bool = setting("train.sync_batchnorm")
    channels_last: bool = setting("train.channels_last")  # weights and batches in NHWC memory order
    compile: bool = setting("train.compile")  # the step's forward through torch.compile

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TrainSettings:
        """From a resolved config."""
        return record(cls, config)
