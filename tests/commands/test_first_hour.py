"""The first hour of a satellite team, as issue reports found it: defaults that fit multi-band scenes with nodata
edges, Ctrl-C that loses nothing, probes that never overwrite each other, pictures at the end of a capped run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.data import geotiffs
from tests.images import colour_images


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scenes") / "scenes"
    root.mkdir()
    for i in range(3):
        geotiffs.satellite_scene(root / f"scene{i}.tif", size=192, seed=i, origin=(500_000 + 5000 * i, 5_300_000))
    return root


def test_the_satellite_example_runs_with_defaults_and_learns(ssl, tmp_path: Path, scenes: Path) -> None:
    """README's `ssl pretrain --task rotation --data /data/scenes data.tile_size=... data.tile_stride=...
    data.bands=[...]` at test sizes: overlapping windows, a nodata wedge (left out, not a bad file), the
    resnet18 and AdamW recipe chosen for 64 px tiles, and a loss below chance (ln 4) within the first epoch."""
    run = tmp_path / "run"
    args = ["--task", "rotation", "--data", scenes, "--out", run, "data.tile_size=64", "data.tile_stride=32"]
    code, out, err = ssl("pretrain", *args, "data.bands=[3,2,1]", "train.batch_size=8", "train.log_every=5")
    assert code == 0, err
    assert "backbone.name=resnet18, optim.name=adamw" in out and "left out" in out and "window(s)" in out
    assert "bad file" not in out
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["backbone"]["name"] == "resnet18" and config["optim"]["name"] == "adamw"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["kind"] == "step"]
    assert min(losses[-3:]) < 1.386  # ln 4: chance for 4 rotations


def test_a_truncated_scene_gives_no_windows(tmp_path: Path, scenes: Path) -> None:
    from ssl_toolkit.data import DataOptions, load_data

    root = tmp_path / "scenes"
    root.mkdir()
    for f in sorted(scenes.glob("*.tif"))[:2]:
        (root / f.name).write_bytes(f.read_bytes())
    broken = root / "scene1.tif"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size * 2 // 3])  # its first rows still read
    data = load_data(str(root), DataOptions(tile_size=64, tile_stride=64, on_bad_file="skip"))
    assert [p for p, _ in data.skipped] == [str(broken)]
    assert not any(p.startswith(str(broken)) for p in [*data.train.paths, *data.test.paths])


def test_ctrl_c_writes_a_checkpoint_and_resume_ends_like_an_uninterrupted_run(ssl, tmp_path: Path) -> None:
    args = ["pretrain", "--task", "rotation", "data.subset=640", "train.batch_size=16", "train.log_every=1"]
    assert ssl(*args, "--out", tmp_path / "whole")[0] == 0
    run = tmp_path / "run"
    command = [sys.executable, "-m", "ssl_toolkit.cli", *args, "--out", str(run)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (
        (run / "metrics.jsonl").exists() and len((run / "metrics.jsonl").read_text().splitlines()) >= 3
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert "stopped by SIGINT" in err and "--resume" in err and (run / "checkpoints" / "last.pt").exists()
    assert ssl("pretrain", "--resume", "--out", run)[0] == 0
    a, b = ((r / "backbone.safetensors").read_bytes() for r in (tmp_path / "whole", run))
    assert a == b


def test_a_one_epoch_run_keeps_one_copy_of_its_final_state(ssl, tmp_path: Path) -> None:
    run = tmp_path / "r"
    assert ssl("pretrain", "--out", run, "data.subset=64")[0] == 0
    last, epoch = (run / "checkpoints" / n for n in ("last.pt", "epoch_0001.pt"))
    assert os.stat(last).st_ino == os.stat(epoch).st_ino  # one file under two names


def test_probes_on_other_data_never_overwrite_each_other(ssl, tmp_path: Path, scenes: Path) -> None:
    run = tmp_path / "run"
    tiles = ["data.tile_size=64", "data.tile_stride=64"]
    code, _, err = ssl(
        "pretrain", "--task", "rotation", "--data", scenes, "--out", run, "--max-steps", 1, *tiles, "data.bands=[1,2,3]"
    )
    assert code == 0, err
    images = colour_images(tmp_path / "images", 6)
    labelled = geotiffs.two_class_chips(tmp_path / "chips", 12)
    # another dataset: none of the run's tile keys are inherited, and the folder is named after that data
    code, out, err = ssl("probe", "--run", run, "--data", labelled, "probe.epochs=2", "data.bands=[1,2,3]")
    assert code == 0, err
    first = json.loads(Path(out.split("-> ")[1].strip()).read_text())
    assert first["data_config"]["tile_size"] is None and first["data_config"]["bands"] == [1, 2, 3]
    code, out2, err = ssl("probe", "--run", run, "--data", labelled, "probe.epochs=2", "data.bands=[3,2,1]")
    assert code == 0, err and out2.split("-> ")[1] != out.split("-> ")[1]
    assert len(list((run / "probes").iterdir())) == 2
    # the same folder with other settings is refused, not overwritten
    target = Path(out.split("-> ")[1].strip()).parent
    code, _, err = ssl(
        "probe", "--run", run, "--data", labelled, "--out", target, "probe.epochs=3", "data.bands=[1,2,3]"
    )
    assert code == 2 and "holds a probe made with other probe settings (epochs)" in err
    code, out, err = ssl(
        "probe", "--random-init", "--backbone", "resnet18", "--data", images, "--out", tmp_path / "p", "probe.epochs=2"
    )
    assert code == 0, err


def test_a_capped_gan_run_ends_with_its_pictures_and_a_judge_of_fixed_size(ssl, tmp_path: Path) -> None:
    run = tmp_path / "gan"
    code, _, err = ssl(
        "pretrain", "--task", "gan", "--out", run, "--max-steps", 2, "data.subset=256", "task.quality_samples=50"
    )
    assert code == 0, err
    assert (run / "plots" / "gan" / "samples_epoch_0001.png").exists() and (
        run / "plots" / "gan" / "progression.png"
    ).exists()
    end = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"end"' in line]
    assert len(end) == 1 and {"classes_covered", "frechet", "judge_accuracy"} <= set(end[0])
    from ssl_toolkit.analysis.sample_quality import _key
    from ssl_toolkit.data import DataOptions, load_data

    assert _key(load_data("mnist", DataOptions(subset=256))) == _key(load_data("mnist", DataOptions(subset=3200)))


def test_small_frictions(ssl, tmp_path: Path, monkeypatch) -> None:
    code, out, _ = ssl("tasks", "--task", "jigsaw")
    assert code == 0 and "task.num_permutations" in out and "default 100" in out
    code, _, err = ssl("bogus")
    assert code == 2 and err.startswith("ssl: error: argument command") and "ssl: error: ssl" not in err
    code, _, err = ssl("visualize", "--run", tmp_path / "nothing", "--data", "mnist")
    assert code == 2 and "not a run folder" in err  # --data is an option of visualize now
    monkeypatch.setenv("SSL_DATA_ROOT", str(tmp_path / "nowhere"))
    code, _, err = ssl("data", "index", "eurosat-rgb")
    assert code == 2 and "SSL_DATA_ROOT" in err and "nowhere" in err
    monkeypatch.delenv("SSL_DATA_ROOT")
    cache = Path(os.environ["SSL_CACHE_DIR"])
    code, out, _ = ssl("cache")
    assert code == 0 and str(cache) in out
    from ssl_toolkit.data.splits import natural_colour

    assert natural_colour(("B02", "B03", "B04", "B08"), 4) == [2, 1, 0]
    assert natural_colour((None, None, None, None), 4) == [0, 1, 2]


def test_geolocation_warns_of_empty_clusters_and_the_map_fits_its_clusters(ssl, tmp_path: Path) -> None:
    chips = geotiffs.two_class_chips(tmp_path / "chips", 12)
    args = ["--task", "geolocation", "--data", chips, "--out", tmp_path / "g", "--max-steps", 1, "task.clusters=8"]
    code, _, err = ssl("pretrain", *args)
    assert code == 0 and "warning: geolocation: 8 clusters on 9 training tiles" in err and "set task.clusters" in err
    code, out, _ = ssl("data", "map", chips, "--out", tmp_path / "map.png")
    assert code == 0 and "note: --clusters 100 on 12 tiles" in out
