"""Run by ``torchrun --nproc-per-node 2`` in test_distributed: ``all_gather_rows`` with uneven rows per rank.

Rank r holds 3 - r rows of value 10 r + row; every rank's loss is sum(gathered * weight), weight = 1 + global
row index. Writes rank r's gathered tensor, offset and input gradient to OUT/rank{r}.pt.
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ssl_toolkit.engine.distributed import World, all_gather_rows

dist.init_process_group("gloo")
world = World(rank=dist.get_rank(), size=dist.get_world_size())
rows = 3 - world.rank
x = (10.0 * world.rank + torch.arange(rows, dtype=torch.float32)).view(rows, 1).repeat(1, 2).requires_grad_(True)
gathered, offset = all_gather_rows(x, world)
weight = (1.0 + torch.arange(gathered.shape[0], dtype=torch.float32)).view(-1, 1)
(gathered * weight).sum().backward()
torch.save(
    {"gathered": gathered.detach(), "offset": offset, "grad": x.grad}, Path(sys.argv[1]) / f"rank{world.rank}.pt"
)
dist.barrier()
dist.destroy_process_group()
