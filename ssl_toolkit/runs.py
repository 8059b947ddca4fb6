"""The run folder and its one owner: what ``ssl pretrain`` writes there, and how probes, ``ssl visualize`` and the
bench read it back.

::

    RUN/config.yaml            the resolved config (re-running with it reproduces the run)
    RUN/normalization.json     the per-channel statistics the run normalised with
    RUN/backbone.safetensors   the backbone's weights alone, under the names a plain model of that name uses
    RUN/skipped_files.csv      files left out by data.on_bad_file=skip
    RUN/metrics.jsonl          step and epoch records (engine.metrics)
    RUN/checkpoints/           last.pt and one per epoch (engine.checkpoint)
    RUN/plots/                 loss curves, the task's examples and pictures
    RUN/distributed.json       every rank's weights digest (distributed runs)
    RUN/probes/<name>/probe.json
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ssl_toolkit import atomic
from ssl_toolkit import config as cfg
from ssl_toolkit.backbones.base import Backbone
from ssl_toolkit.build import build_backbone
from ssl_toolkit.data import DataSource
from ssl_toolkit.errors import UserError

# the data keys that decide what a channel is; a probe reuses a run's statistics only when they agree
CHANNEL_KEYS = ("name", "bands", "tile_size", "image_size")


class Run:
    """A run folder, by path."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.yaml")
    normalization_file = property(lambda self: self.path / "normalization.json")
    backbone_file = property(lambda self: self.path / "backbone.safetensors")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    checkpoints = property(lambda self: self.path / "checkpoints")
    plots = property(lambda self: self.path / "plots")

    def has_checkpoint(self) -> bool:
        return (self.checkpoints / "last.pt").exists()

    def remove_temporaries(self) -> None:
        """The temporary files of writes a killed process left (``.NAME.*.tmp``, see ``atomic``)."""
        for tmp in self.path.rglob(".*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)

    # --- config.yaml

    def read_config(self) -> dict[str, Any]:
        if not self.config_file.is_file():
            raise UserError(
                f"{self.path} is not a run folder (no config.yaml); pass the --out folder of `ssl pretrain`"
            )
        return cfg.load_yaml(self.config_file)

    def write_files(self, config: dict[str, Any], data: DataSource) -> None:
        """What a run writes before training: the resolved config, the normalisation statistics and the list
        of skipped files (rank 0 only)."""
        self.path.mkdir(parents=True, exist_ok=True)
        cfg.save(config, self.config_file)
        self.write_normalization(data, config["data"])
        if data.skipped:
            table = io.StringIO()
            writer = csv.writer(table, lineterminator="\n")
            writer.writerow(["path", "reason"])
            writer.writerows(data.skipped)
            atomic.write_text(self.path / "skipped_files.csv", table.getvalue())

    # --- normalization.json

    def write_normalization(self, data: DataSource, data_cfg: dict[str, Any]) -> None:
        """The per-channel statistics the run normalised with, so probes normalise the same way."""
        record = {
            "data_config": {k: data_cfg[k] for k in CHANNEL_KEYS},
            "data": data.name,
            "split": data.split,
            "pixel_scale": data.pixel_scale,
            "mean": list(data.mean),
            "std": list(data.std),
            **data.stats_note,
        }
        atomic.write_text(self.normalization_file, json.dumps(record, indent=2) + "\n")

    def normalization(self) -> dict[str, Any] | None:
        """The saved statistics (``data_config``, ``mean``, ``std``), or None (none saved, or saved before the
        data keys were recorded: computed afresh)."""
        path = self.normalization_file
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
            if "data_config" not in record:
                return None
            return {
                "data_config": dict(record["data_config"]),
                "mean": tuple(record["mean"]),
                "std": tuple(record["std"]),
            }
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path}: not a normalisation record ({e})") from None

    def stats_for(self, data_cfg: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """The run's (mean, std) when ``data_cfg`` reads the same channels of the same dataset, else None."""
        saved = self.normalization()
        if saved is None or saved["data_config"] != {k: data_cfg[k] for k in CHANNEL_KEYS}:
            return None
        return saved["mean"], saved["std"]

    # --- backbone.safetensors

    def save_backbone(self, backbone: Backbone, metadata: dict[str, str]) -> None:
        save_backbone(self.backbone_file, backbone, metadata)

    def load_backbone(self, data: DataSource, backbone_name: str | None = None) -> Backbone:
        """The run's backbone, built as its config says for ``data``, with its exported weights."""
        config = self.read_config()
        backbone_cfg = config.get("backbone")
        if not isinstance(backbone_cfg, dict) or not isinstance(backbone_cfg.get("name"), str):
            raise UserError(f"{self.config_file}: expected a backbone section with a name")
        if backbone_name is not None and backbone_name != backbone_cfg["name"]:
            raise UserError(f"--backbone {backbone_name} differs from the run's backbone {backbone_cfg['name']}")
        backbone = build_backbone({"in_chans": None, "img_size": None, **backbone_cfg}, data)
        load_backbone_weights(self.backbone_file, backbone)
        return backbone

    # --- distributed.json

    def write_distributed(self, world_size: int, digests: list[str]) -> None:
        record = {"world_size": world_size, "weights_digests": digests, "ranks_agree": len(set(digests)) == 1}
        atomic.write_text(self.path / "distributed.json", json.dumps(record, indent=2) + "\n")


def save_backbone(path: Path, backbone: Backbone, metadata: dict[str, str]) -> None:
    """``backbone.export_state_dict()`` as safetensors, with the backbone's name and input channels."""
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.export_state_dict().items()}
    meta = {"backbone": backbone.name, "in_chans": str(backbone.in_chans), **metadata}
    atomic.write_bytes(path, safetensors_bytes(state, meta))


SAFETENSORS_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}  # fmt: skip


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file (8-byte header length, JSON header, the tensors' bytes) with its header in a fixed
    order: metadata keys sorted, then tensors by name. The library's writer orders the metadata by a hash map,
    so two identical runs wrote different bytes; these are byte-identical for identical weights."""
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    chunks, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def load_backbone_weights(path: Path, backbone: Backbone) -> None:
    """Load ``path`` into ``backbone``; a missing, corrupt or mismatched file is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"{path} does not exist (was the run finished? `ssl pretrain --resume` completes it)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise UserError(f"{path} holds NaN or infinite weights ({len(broken)} tensor(s), first {broken[0]})")
    try:
        backbone.load_export(state)
    except (ValueError, RuntimeError) as e:
        first = str(e).splitlines()[0]
        raise UserError(f"{path} does not match backbone '{backbone.name}': {first}") from None
