"""The bad-input corpus: every user or OS mistake ends with a non-zero exit, one line on stderr that names the file,
key or value, no traceback, and the output folder left as it was (or never made).

Each case builds its inputs (real files: images, GeoTIFFs through rasterio, a FIFO, a run folder made by the
toolkit and then damaged as a user would) and gives the command line, a fragment the error must hold, and the
folder to watch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.data.geotiffs import write_tif
from tests.images import colour_images, png_declaring
from tests.tiny import pretrain_tiny


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Path, Path], list[object]]  # (work folder, a finished tiny run) -> the command line
    message: str  # a fragment of the one-line error
    watched: str  # the folder (relative to the work folder) that must be unchanged or absent


def images(work: Path) -> Path:
    return colour_images(work / "images", 6)


def copy_run(run: Path, work: Path) -> Path:
    return Path(shutil.copytree(run, work / "run"))


def edit_config(run: Path, old: str, new: str) -> Path:
    config = run / "config.yaml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    return run


def chips(work: Path, shape: tuple[int, int], dtype: str = "uint16", nan: bool = False) -> Path:
    root = work / "chips"
    rng = np.random.default_rng(0)
    for i in range(6):
        data = rng.integers(100, 5000, size=(3, *shape)).astype(dtype)
        if nan:
            data[:, 0, 0] = np.nan
        write_tif(root / ("a" if i % 2 else "b") / f"{i}.tif", data, "EPSG:32632", from_origin(5e5, 5.3e6, 10, 10))
    return root


def huge_sparse_geotiff(work: Path) -> Path:
    """A GeoTIFF that declares 200,000 x 200,000 pixels and stores almost nothing (sparse tiles)."""
    path = work / "huge" / "scene.tif"
    path.parent.mkdir(parents=True)
    profile = dict(driver="GTiff", width=200_000, height=200_000, count=1, dtype="uint8", tiled=True)
    profile.update(crs="EPSG:32632", transform=from_origin(5e5, 5.3e6, 10, 10), SPARSE_OK=True)
    with rasterio.open(path, "w", **profile):
        pass
    return path.parent


def fifo_image(work: Path) -> Path:
    root = images(work)
    os.mkfifo(root / "red" / "pipe.png")
    return root


def duplicate_rows(work: Path) -> Path:
    root = images(work)
    rows = ["path,lat,lon,label", "red/0.png,48.1,9.2,red", "green/0.png,48.2,9.3,green", "red/0.png,48.1,9.2,red"]
    (root / "locations.csv").write_text("\n".join(rows) + "\n")
    return root / "locations.csv"


def shared_train_test(work: Path) -> Path:
    root = work / "split"
    colour_images(root / "train", 4)
    colour_images(root / "test", 4)
    os.remove(root / "test" / "red" / "0.png")
    os.symlink(root / "train" / "red" / "0.png", root / "test" / "red" / "0.png")
    return root


def one_class(work: Path) -> Path:
    root = images(work)
    for name in ("green", "blue"):
        shutil.rmtree(root / name)
    return root


def nan_weights(run: Path) -> Path:
    from safetensors.torch import load_file, save_file

    weights = {k: v.clone().fill_(float("nan")) for k, v in load_file(str(run / "backbone.safetensors")).items()}
    save_file(weights, str(run / "backbone.safetensors"))
    return run


def other_backbone_weights(run: Path) -> Path:
    from ssl_toolkit.backbones import create_backbone
    from ssl_toolkit.runs import save_backbone

    save_backbone(run / "backbone.safetensors", create_backbone("mnist_net", 1, 20), {})  # fc1 sized for 20 px
    return run


def escaping_suite(work: Path) -> Path:
    suite = work / "suite.yaml"
    suite.write_text("datasets:\n  ../../../escaped: {data.name: mnist}\ntasks: [transpose]\nprobes: [knn]\n")
    return suite


CASES = [
    Case("nan-lr", lambda w, r: ["pretrain", "--out", w / "out", "optim.lr=nan"], "optim.lr: expected a finite", "out"),
    Case("inf-task-param", lambda w, r: ["pretrain", "--out", w / "out", "task.p=inf"], "task.p: expected a finite", "out"),
    Case(
        "nan-label-fraction",
        lambda w, r: ["probe", "--random-init", "--backbone", "mnist_net", "--out", w / "out", "probe.label_fraction=nan"],
        "probe.label_fraction: expected a finite",
        "out",
    ),
    Case("config-is-a-folder", lambda w, r: ["pretrain", "--config", w, "--out", w / "out"], "is a folder", "out"),
    Case(
        "flag-and-key-disagree",
        lambda w, r: ["pretrain", "--batch-size", 16, "train.batch_size=32", "--out", w / "out"],
        "--batch-size 16 and train.batch_size=32 disagree",
        "out",
    ),
    Case(
        "out-under-a-file",
        lambda w, r: ["pretrain", "--out", (w / "file").write_text("x") and w / "file" / "run", "data.subset=64"],
        "file/run",
        "file",
    ),
    Case(
        "index-out-is-a-folder",
        lambda w, r: ["data", "index", images(w), "--out", (w / "out").mkdir() or w / "out"],
        "is a folder",
        "out",
    ),
    Case("tile-size-on-mnist", lambda w, r: ["pretrain", "--out", w / "out", "data.tile_size=14"], "data.tile_size=14 applies to GeoTIFF", "out"),
    Case(
        "bands-on-an-image-folder",
        lambda w, r: ["pretrain", "--data", images(w), "--out", w / "out", "data.bands=[1,2,3]"],
        "data.bands=[1, 2, 3] applies to GeoTIFF",
        "out",
    ),
    Case(
        "non-square-chips",
        lambda w, r: ["pretrain", "--task", "rotation", "--data", chips(w, (16, 24)), "--out", w / "out"],
        "rotation needs square images, got 16x24",
        "out",
    ),
    Case(
        "nan-pixels-without-nodata",
        lambda w, r: ["pretrain", "--data", chips(w, (16, 16), "float32", nan=True), "--out", w / "out"],
        "holds NaN pixels but declares no nodata",
        "out",
    ),
    Case(
        "decompression-bomb",
        lambda w, r: ["pretrain", "--data", (png_declaring(images(w) / "red" / "x.png", 20000, 20000)).parents[1], "--out", w / "out"],
        "x.png: declares more than",
        "out",
    ),
    Case("fifo-named-png", lambda w, r: ["pretrain", "--data", fifo_image(w), "--out", w / "out"], "pipe.png: is not a regular file", "out"),
    Case(
        "duplicate-table-rows",
        lambda w, r: ["pretrain", "--data", duplicate_rows(w), "--out", w / "out"],
        "locations.csv line 4 lists red/0.png again (first on line 2)",
        "out",
    ),
    Case(
        "image-in-train-and-test",
        lambda w, r: ["pretrain", "--data", shared_train_test(w), "--out", w / "out"],
        "1 image(s) are in both train/ and test/",
        "out",
    ),
    Case(
        "windows-beyond-the-limit",
        lambda w, r: ["pretrain", "--data", huge_sparse_geotiff(w), "--out", w / "out", "data.tile_size=32"],
        "more than data.max_tiles=1,000,000",
        "out",
    ),
    Case(
        "too-many-permutations",
        lambda w, r: ["pretrain", "--task", "jigsaw", "--out", w / "out", "task.num_permutations=362880"],
        "num_permutations must be in [2, 2000], got 362880",
        "out",
    ),
    Case(
        "single-class-probe",
        lambda w, r: ["probe", "--random-init", "--backbone", "mnist_net", "--data", one_class(w), "--out", w / "out"],
        "holds 1 class",
        "out",
    ),
    Case(
        "nan-weights",
        lambda w, r: ["probe", "--run", nan_weights(copy_run(r, w)), "data.subset=64"],
        "backbone.safetensors holds NaN or infinite weights",
        "run",
    ),
    Case(
        "weights-of-another-shape",
        lambda w, r: ["probe", "--run", other_backbone_weights(copy_run(r, w)), "data.subset=64"],
        "fc1.weight (128, 4096) in the file, (128, 9216) here",
        "run",
    ),
    Case(
        "resume-with-an-edited-lr",
        lambda w, r: ["pretrain", "--resume", "--out", edit_config(copy_run(r, w), "lr: 1.0", "lr: 0.001")],
        "differs from the config last.pt was made with (optim.lr 1.0 -> 0.001)",
        "run",
    ),
    Case(
        "resume-with-an-edited-optimizer",
        lambda w, r: ["pretrain", "--resume", "--out", edit_config(copy_run(r, w), "name: adadelta", "name: sgd")],
        "(optim.name 'adadelta' -> 'sgd')",
        "run",
    ),
    Case(
        "resume-as-another-task",
        lambda w, r: ["pretrain", "--resume", "--out", copy_run(r, w), "--task", "transpose"],
        "cannot change task.name when resuming",
        "run",
    ),
    Case(
        "resume-without-a-checkpoint",
        lambda w, r: ["pretrain", "--resume", "--out", shutil.rmtree(copy_run(r, w) / "checkpoints") or w / "run"],
        "holds no checkpoint to resume from",
        "run",
    ),
    Case(
        "corrupt-checkpoint",
        lambda w, r: [
            "pretrain", "--resume", "--out",
            (copy_run(r, w) / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 torn") and w / "run",
        ],
        "last.pt cannot be read",
        "run",
    ),
    Case("bench-label-escapes", lambda w, r: ["bench", escaping_suite(w), "--out", w / "out"], "'../../../escaped'", "out"),
]  # fmt: skip


def snapshot(folder: Path) -> dict[str, str] | None:
    if not folder.exists():
        return None
    if folder.is_file():
        return {"": hashlib.sha256(folder.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
        if not p.is_fifo()
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ssl_toolkit.cli import main

    run = tmp_path_factory.mktemp("reliability") / "run"

    def ssl(*args: object) -> tuple[int, str, str]:
        return main([str(a) for a in args]), "", ""

    return pretrain_tiny(ssl, run)  # rotation, mnist_net, 2 steps, with a checkpoint


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_one_line_and_leaves_the_output_as_it_was(
    ssl, tmp_path: Path, finished_run: Path, case: Case
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    args = case.setup(work, finished_run)
    watched = work / case.watched
    before = snapshot(watched)
    code, _, err = ssl(*args)
    lines = err.strip().splitlines()
    assert code != 0, f"exit 0; stderr: {err}"
    assert len(lines) == 1 and lines[0].startswith("ssl: error: "), err
    assert "Traceback" not in err and "weights_only=False" not in err
    assert case.message in lines[0], lines[0]
    assert snapshot(watched) == before, f"{watched} changed"


def test_a_folder_held_by_another_process_is_refused(ssl, tmp_path: Path) -> None:
    """A second `ssl pretrain` into a folder a live process holds: refused before it writes anything."""
    folder = tmp_path / "run"
    code = "import sys, time; from pathlib import Path; from ssl_toolkit.lock import exclusive\n"
    code += "with exclusive(Path(sys.argv[1]), 'ssl pretrain'):\n    print('ready', flush=True); time.sleep(60)\n"
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        before = snapshot(folder)
        rc, _, err = ssl("pretrain", "--out", folder, "data.subset=64", "--max-steps", 1)
        assert rc == 2 and f"{folder} is in use by pid {holder.pid}" in err and len(err.strip().splitlines()) == 1
        assert snapshot(folder) == before
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing: the kernel released its lock, and the folder is usable again
    assert ssl("pretrain", "--out", folder, "data.subset=64", "--max-steps", 1)[0] == 0
    assert not (folder / ".lock").exists()


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """A folder on a read-only file system: a read-only bind mount (skipped where mounting is not allowed; as
    root, permission bits alone do not stop a write)."""
    source, target = tmp_path / "source", tmp_path / "read-only"
    source.mkdir()
    target.mkdir()
    done = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here ({done.stderr.decode().strip()[:80]})")
    yield target
    subprocess.run(["umount", str(target)], check=False)


def test_an_output_on_a_read_only_file_system_is_one_line(ssl, read_only_folder: Path) -> None:
    for args in (
        ["pretrain", "--out", read_only_folder / "run", "data.subset=64", "--max-steps", 1],
        ["probe", "--random-init", "--backbone", "mnist_net", "--out", read_only_folder / "p", "data.subset=64"],
        ["data", "index", "mnist", "--out", read_only_folder / "index.csv"],
    ):
        code, _, err = ssl(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert str(read_only_folder) in err and "Read-only file system" in err
    assert list(read_only_folder.iterdir()) == []
