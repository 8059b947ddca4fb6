"""Data-parallel training on PyTorch's own engine: ``torch.distributed`` with DDP, launched by ``torchrun``.

``torchrun --nproc-per-node N $(which ssl) pretrain ...`` starts N processes; each reads its place from the
environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Without torchrun the
world is one process and nothing here does anything.

- ``train.batch_size`` is the global batch: every global batch of the seeded epoch order is cut into one
  contiguous shard per rank (a distributed sampler without sampler state, so resuming needs none), and DDP
  averages the gradients, so N processes take the same steps as one process would.
- gloo on CPU, nccl on CUDA (each rank on ``cuda:LOCAL_RANK``); collectives wait up to
  ``$SSL_DIST_TIMEOUT_MINUTES`` (default 60) for a rank.
- Rank 0 alone writes logs, checkpoints, plots and weights; logged losses are averaged over ranks.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ssl_toolkit.errors import UserError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env() -> World:
    """The place torchrun gave this process, or a world of one."""
    try:
        return World(
            rank=int(os.environ.get("RANK", 0)),
            size=int(os.environ.get("WORLD_SIZE", 1)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        )
    except ValueError:
        raise UserError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None


def start(world: World, device: torch.device) -> torch.device:
    """Join the process group (nccl on CUDA, gloo on CPU); returns this rank's device (``cuda:LOCAL_RANK`` for
    CUDA). A world of one joins nothing and keeps ``device``."""
    if not world.distributed:
        return device
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise UserError(
                f"LOCAL_RANK {world.local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                "use --nproc-per-node at most that"
            )
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # rank 0 works alone at epoch ends (pictures, a GAN's judge) while the others wait in a collective
        minutes = float(os.environ.get("SSL_DIST_TIMEOUT_MINUTES", 60))
        dist.init_process_group(
            backend="nccl" if device.type == "cuda" else "gloo", timeout=datetime.timedelta(minutes=minutes)
        )
    return device


def barrier(world: World) -> None:
    """Wait until every rank gets here (nothing in a world of one)."""
    if world.distributed:
        dist.barrier()


def stop(error: bool = False) -> None:
    """Leave the process group. Every rank waits for the others first (a rank that tears its group down while a
    peer still talks to it aborts the process); not after an error, when the others may never arrive."""
    if dist.is_available() and dist.is_initialized():
        if not error:
            dist.barrier()
        dist.destroy_process_group()


def shard(batch: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's contiguous part of a global index batch (sizes differ by at most one)."""
    return batch.tensor_split(world.size)[world.rank] if world.distributed else batch


def wrap(task: nn.Module, world: World, device: torch.device, sync_batchnorm: bool) -> nn.Module:
    """The model the step context calls: the task itself, or its DDP wrapper. DDP broadcasts rank 0's weights
    and buffers, so every rank starts from the same model. Learners with several optimizers (a GAN's
    discriminator step leaves the generator unused) let DDP look for parameters a forward did not use."""
    if not world.distributed:
        return task  # nothing to synchronise either
    if sync_batchnorm:
        if device.type != "cuda":
            raise UserError(
                "train.sync_batchnorm needs CUDA (torch's SyncBatchNorm runs on GPUs only); on CPU use "
                "backbone.norm=layer, which does not depend on the batch"
            )
        task = convert_sync_batchnorm(task)
    from torch.nn.parallel import DistributedDataParallel

    several = len(task.optimizer_groups()) > 1
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(task, device_ids=ids, find_unused_parameters=several)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Every batch norm -> SyncBatchNorm (timm's fused norm+activation layers keep their activation)."""
    from timm.layers import convert_sync_batchnorm as timm_convert

    return timm_convert(module)


def mean_over_ranks(values: dict[str, float], world: World) -> dict[str, float]:
    """Each value averaged over the ranks (every rank calls this with the same keys)."""
    if not world.distributed or not values:
        return values
    keys = sorted(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    total = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return {k: float(v) / world.size for k, v in zip(keys, total.tolist())}


def all_finite(loss: torch.Tensor, world: World) -> bool:
    """Whether the loss is finite on every rank: all ranks then agree to step or to stop."""
    finite = torch.isfinite(loss.detach()).all()
    if not world.distributed:
        return bool(finite)
    flag = finite.to(torch.int32).reshape(1)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


class _GatherRows(torch.autograd.Function):
    """All-gather of equally sized tensors whose backward sums every rank's gradient of the gathered tensor
    (an all-reduce) and keeps this rank's part: the gradient of the sum of all ranks' losses."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, rank: int, size: int) -> torch.Tensor:  # type: ignore[override]
        parts = [torch.empty_like(tensor) for _ in range(size)]
        dist.all_gather(parts, tensor.contiguous())
        ctx.rank, ctx.rows = rank, tensor.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows], None, None


def all_gather_rows(tensor: torch.Tensor, world: World) -> tuple[torch.Tensor, int]:
    """(every rank's ``tensor`` stacked along dim 0 in rank order, the first row of this rank's part), with
    gradients flowing back to each rank's own rows. Ranks may hold different row counts (uneven shards): each
    part is padded to the largest for the collective and cut back after it."""
    if not world.distributed:
        return tensor, 0
    count = torch.tensor([tensor.shape[0]], device=tensor.device)
    counts = [torch.zeros_like(count) for _ in range(world.size)]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    largest = max(sizes)
    padded = torch.cat([tensor, tensor.new_zeros(largest - tensor.shape[0], *tensor.shape[1:])])
    gathered = _GatherRows.apply(padded, world.rank, world.size)
    parts = [gathered[r * largest : r * largest + n] for r, n in enumerate(sizes)]
    return torch.cat(parts), sum(sizes[: world.rank])


def gather(obj: Any, world: World) -> list[Any]:
    """``obj`` of every rank, in rank order (a world of one: ``[obj]``)."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def weights_digest(module: nn.Module) -> str:
    """sha256 over the module's parameters (names, shapes and bytes), to check that ranks agree. Buffers are
    left out: batch-norm running statistics are updated from each rank's own shard, and DDP broadcasts rank 0's
    (the ones checkpoints hold) at every forward."""
    h = hashlib.sha256()
    for name, tensor in module.named_parameters():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
