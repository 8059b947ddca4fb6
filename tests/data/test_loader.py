"""The batch reader: file-backed splits through one DataLoader whose workers stay up between epochs; in-memory
splits kept on the training device."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from ssl_toolkit.data import DataOptions, epoch_order, load_data
from ssl_toolkit.data.loader import BatchReader, auto_workers
from ssl_toolkit.data.splits import LazyImages, TensorImages
from tests.data.geotiffs import two_class_chips
from tests.tiny import state_equal


def test_workers_give_the_same_batches_and_persist_across_epochs(tmp_path: Path) -> None:
    data = load_data(str(two_class_chips(tmp_path / "chips", 24)), DataOptions())
    assert isinstance(data.train, LazyImages)
    plain, workers = BatchReader(data.train), BatchReader(data.train, num_workers=2, prefetch=2)
    pids = []
    for epoch in range(2):
        order = epoch_order(len(data.train), 5, seed=1, epoch=epoch)
        for (a, meta_a), (b, meta_b) in zip(plain(order), workers(order), strict=True):
            assert torch.equal(a, b) and torch.equal(meta_a["label"], meta_b["label"])
        pids.append(sorted(w.pid for w in workers.loader._iterator._workers))
    assert len(pids[0]) == 2 and pids[0] == pids[1]  # the same worker processes served both epochs
    # a pass stopped early (--max-steps) leaves no stale prefetched batches for the next pass, in a new order
    first = next(iter(workers(order)))[0]
    assert torch.equal(first, next(iter(plain(order)))[0])
    order = epoch_order(len(data.train), 3, seed=1, epoch=7)
    for (a, _), (b, _) in zip(plain(order), workers(order), strict=True):
        assert torch.equal(a, b)


def test_a_run_with_loader_workers_ends_with_the_weights_of_one_without(ssl, tmp_path: Path) -> None:
    root = two_class_chips(tmp_path / "chips", 24)
    args = ["--data", root, "train.batch_size=6", "train.epochs=2", "--backbone", "mnist_net", "backbone.img_size=16"]
    assert ssl("pretrain", "--task", "rotation", "--out", tmp_path / "w0", "data.num_workers=0", *args)[0] == 0
    assert ssl("pretrain", "--task", "rotation", "--out", tmp_path / "w2", "data.num_workers=2", *args)[0] == 0
    a, b = (load_file(str(tmp_path / r / "backbone.safetensors")) for r in ("w0", "w2"))
    assert state_equal(a, b)


def test_auto_workers_leave_the_training_loop_a_core() -> None:
    cores = len(os.sched_getaffinity(0))
    for processes in (1, 2, cores, 4 * cores):
        gpu, cpu = auto_workers(torch.device("cuda"), processes), auto_workers(torch.device("cpu"), processes)
        assert 0 <= gpu <= 8 and 0 <= cpu <= 4
        assert processes * (gpu + 1) <= max(cores, processes)  # workers and loops fit on the cores
    assert auto_workers(torch.device("cpu"), 1) == 0 if cores < 4 else auto_workers(torch.device("cpu"), 1) >= 1


def test_images_kept_on_the_device_give_the_batches_of_the_host_copy(monkeypatch) -> None:
    """In-memory images stay on a GPU where they fit (sliced there, no copy per step); the batches, and the
    partners of temporal positives, are those of the host copy. The policy is forced here to run on a CPU."""
    import ssl_toolkit.data.loader as loader
    from ssl_toolkit.data.revisits import Revisits

    assert not loader.keep_on_device(torch.zeros(4, dtype=torch.uint8), torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    split = TensorImages(torch.randint(0, 255, (10, 3, 8, 8), dtype=torch.uint8, generator=g), torch.arange(10))
    revisits = Revisits(torch.arange(10) // 2, torch.arange(10, dtype=torch.float64))
    batches = epoch_order(10, 4, seed=1, epoch=0)
    host = list(loader.BatchReader(split, revisits=revisits, seed=2)(batches, epoch=3))
    monkeypatch.setattr(loader, "keep_on_device", lambda images, device: True)
    reader = loader.BatchReader(split, revisits=revisits, seed=2, device=torch.device("cpu"))
    assert reader.resident is not None
    for (a, meta_a), (b, meta_b) in zip(host, reader(batches, epoch=3), strict=True):
        assert torch.equal(a, b) and torch.equal(meta_a["partner_images"], meta_b["partner_images"])
        assert torch.equal(meta_a["label"], meta_b["label"])
