"""`ssl visualize` on tiny runs: pictures written, targets excited, FGSM consistent with the linear probe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from ssl_toolkit.commands.visualize import add_parser, visualize
from ssl_toolkit.errors import UserError
from tests.data.geotiffs import two_class_chips
from tests.tiny import pretrain_tiny

PNG = b"\x89PNG\r\n\x1a\n"
PICTURES = ("activation_max_units.png", "activation_max_classes.png", "neighbours.png", "tsne.png", "fgsm_examples.png")
# a fixed L2 and few epochs: the probe fits once instead of once per candidate weight decay
PROBE = ["probe.weight_decay=0.0001", "probe.epochs=10"]
OVERRIDES = [("probe.weight_decay", 0.0001), ("probe.epochs", 10)]


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread here (after conftest's two): beside another busy process on 2 cores, a forward and
    backward of mnist_net on 10 images took 190 ms with two threads and 9 ms with one; these tests make a few
    hundred such calls. The previous setting comes back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_visualize(run: Path, **kw) -> dict:
    settings = dict(units=None, classes=None, eps=[0, 0.01, 0.03, 0.1], samples=200, seed=1, out_dir=None)
    settings.update(overrides=[("data.subset", 200), *OVERRIDES], device_name="cpu", steps=30)
    settings.update(kw)
    return visualize(run, **settings)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssl")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p


def test_visualize_command_writes_pictures_and_consistent_numbers(
    ssl, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = pretrain_tiny(ssl, tmp_path / "run")
    command = ["visualize", "--run", str(run), "--samples", "200", "--steps", "30", "data.subset=200", *PROBE]
    args = parser().parse_args(command)
    args.func(args)
    printed = capsys.readouterr().out
    out = run / "visualize"
    assert printed.count("\n") == 1 and "FGSM eps 0.1" in printed and str(out) in printed
    for name in PICTURES:
        assert (out / name).read_bytes().startswith(PNG), name
    saved = json.loads((out / "visualize.json").read_text())
    assert saved["settings"]["eps"] == [0.0, 0.01, 0.03, 0.1] and saved["settings"]["seed"] == 1
    assert saved["shown"] == "the one channel, as grey" and saved["test_size"] == 200

    # activation maximisation: 8 top-variance units, every class; each target is excited more than at its start
    units = saved["activation_max"]["units"]
    assert len(units) == 8 and len({u["unit"] for u in units}) == 8
    assert [c["class"] for c in saved["activation_max"]["classes"]] == list(range(10))
    for target in units + saved["activation_max"]["classes"]:
        assert target["after"] > target["before"], target

    # FGSM: eps 0 is the linear probe's own accuracy (`ssl probe`, computed independently from cached
    # features, on the same 200 test images); a larger step never helps
    code, _, err = ssl("probe", "--run", run, "--protocol", "linear", "--seed", 1, "data.subset=200", *PROBE)
    assert code == 0, err
    probe_accuracy = json.loads((run / "probes" / "linear-seed1" / "probe.json").read_text())["accuracy"]
    accuracy = {a["eps"]: a["accuracy"] for a in saved["fgsm"]["accuracy"]}
    assert saved["fgsm"]["images"] == 200
    assert accuracy[0.0] == pytest.approx(probe_accuracy, abs=1e-3)
    assert saved["linear_probe"]["accuracy"] == pytest.approx(probe_accuracy, abs=1e-3)
    assert accuracy[0.1] <= accuracy[0.03] <= accuracy[0.0]

    neighbours = saved["neighbours"]
    assert neighbours["k"] == 7 and neighbours["queries"] == 8
    assert 0.0 <= neighbours["precision_at_k"] <= 1.0 and 0.0 <= neighbours["precision_at_k_all_samples"] <= 1.0
    assert saved["tsne"]["points"] == 200 and saved["tsne"]["perplexity"] < 200


def test_visualize_parser_reads_lists() -> None:
    args = parser().parse_args(
        ["visualize", "--run", "r", "--units", "3,5", "--classes", "0,7", "--eps", "0,0.2", "data.subset=9"]
    )
    assert args.units == [3, 5] and args.classes == [0, 7] and args.eps == [0.0, 0.2]
    assert args.overrides == ["data.subset=9"] and args.samples == 2000 and args.queries == 8 and args.out is None
    default = parser().parse_args(["visualize", "--run", "r"])
    assert default.units is None and default.classes is None and default.eps == [0.0, 0.01, 0.03, 0.1]
    with pytest.raises(SystemExit):
        parser().parse_args(["visualize", "--run", "r", "--units", "a,b"])


def test_visualize_names_bad_values(ssl, tmp_path: Path) -> None:
    run = pretrain_tiny(ssl, tmp_path / "run")
    with pytest.raises(UserError, match="--units 128: .*128 features"):
        run_visualize(run, units=[0, 128])
    with pytest.raises(UserError, match="--classes 10: .*10 classes"):
        run_visualize(run, classes=[10])
    with pytest.raises(UserError, match="--eps 1.5"):
        run_visualize(run, eps=[0, 1.5])
    (run / "backbone.safetensors").unlink()
    with pytest.raises(UserError, match="backbone.safetensors"):
        run_visualize(run)
    with pytest.raises(UserError, match="not a run folder"):
        run_visualize(tmp_path / "nothing")


@pytest.mark.parametrize("kind", ["rgb", "4-band"])
def test_visualize_colour_and_multiband_data(ssl, tmp_path: Path, image_folder: Path, kind: str) -> None:
    if kind == "rgb":
        data, chans = image_folder, 3
    else:
        data, chans = tmp_path / "chips", 4
        two_class_chips(data, 30)
    run = pretrain_tiny(ssl, tmp_path / "run", "--data", data, "train.batch_size=8")
    record = run_visualize(run, samples=50, eps=[0, 0.05], overrides=OVERRIDES, out_dir=tmp_path / "pictures")
    assert record["channels"] == chans
    assert ("first 3 of 4" in record["shown"]) == (chans == 4)
    for name in PICTURES:
        assert (tmp_path / "pictures" / name).read_bytes().startswith(PNG), name
    for target in record["activation_max"]["units"] + record["activation_max"]["classes"]:
        assert target["after"] > target["before"], target
    accuracy = {a["eps"]: a["accuracy"] for a in record["fgsm"]["accuracy"]}
    assert accuracy[0.0] == pytest.approx(record["fgsm"]["clean_accuracy_from_features"], abs=1e-3)
