"""Shipped trained weights (hwflow.shipped): a config with hls_configs/weights/<name>.npz made for it
builds without training; a file made for another training is named and the config is trained."""

from __future__ import annotations

import json
import shutil

import numpy as np

from hwflow.config import load_config
from hwflow.data import load_dataset
from hwflow.paths import CONFIG_DIR
from hwflow import shipped
from hwflow.train import _plan_to_json, train
from tests.conftest import write_config

BASE = """\
model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 10, alpha: 0.25, depth: 2, dropout: 0.0}
data: {source: default, max_train: 256, max_test: 64}
train: {epochs: 1, qat_epochs: 1, batch_size: 64}
hls: {board: pynq-z2}
"""


def test_shipped_weights_replace_training_only_for_their_config(tmp_path, build_dir, capsys):
    text = BASE.replace("batch_size: 64}", "batch_size: 64, restarts: [{epochs: 1, learning_rate: 0.0005}]}")
    cfg = load_config(write_config(tmp_path, text, "tiny"))
    ds = load_dataset(cfg.data, cfg.model.input_shape, cfg.train.seed)
    tm = train(cfg, ds)
    path = shipped.save(cfg, ds, tm, _plan_to_json(tm.plan), {"note": "test"})
    assert path == tmp_path / "weights" / "tiny.npz" and 0 < path.stat().st_size <= shipped.MAX_BYTES
    with np.load(path, allow_pickle=False) as z:  # numpy arrays and JSON text only
        prov = json.loads(str(z["provenance"]))
    assert prov["epochs"] == 1 and prov["float_accuracy"] == tm.float_accuracy and prov["note"] == "test"
    assert prov["restarts"] == [{"epochs": 1, "learning_rate": 0.0005}]
    shutil.rmtree(build_dir)  # a fresh clone: no training cache
    again = train(cfg, ds)
    out = capsys.readouterr().out
    assert "shipped weights: tiny.npz (trained 1 + 1 + 1 QAT epochs; no training)" in out and again.from_cache
    for a, b in zip(again.qmodel.get_weights(), tm.qmodel.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again.qkeras_accuracy == tm.qkeras_accuracy
    assert json.loads((again.weights_dir / "metrics.json").read_text())["shipped"] == "tiny.npz"
    # another training (a quantization change): the file is named, the config trains from scratch
    other = load_config(write_config(tmp_path, text + "quantization: {default: {activation: 6}}\n", "tiny"))
    shutil.rmtree(build_dir)
    assert shipped.load(other, ds) is None
    assert "shipped weights of another training" in capsys.readouterr().out


def test_shipped_float_weights_start_a_config_that_gained_a_restart(tmp_path, build_dir, capsys):
    """A fresh clone whose config gained a warm restart since its weights were shipped trains only the new
    cycle, from the shipped float weights, to the weights training every cycle from scratch gives."""
    cfg = load_config(write_config(tmp_path, BASE, "tiny"))
    ds = load_dataset(cfg.data, cfg.model.input_shape, cfg.train.seed)
    tm = train(cfg, ds)
    shipped.save(cfg, ds, tm, _plan_to_json(tm.plan))
    text = BASE.replace("batch_size: 64}", "batch_size: 64, restarts: [{epochs: 1, learning_rate: 0.0005}]}")
    warm = load_config(write_config(tmp_path, text, "tiny"))
    assert shipped.seed_float(warm, ds)[0] == 0  # the shipped weights are those after the first of two cycles
    shutil.rmtree(build_dir)  # a fresh clone: no training cache
    seeded = train(warm, ds)
    out = capsys.readouterr().out
    assert "shipped weights of another training" in out
    assert "float training: cycles 1-1 of 2 from the shipped weights tiny.npz" in out
    assert json.loads((seeded.weights_dir / "metrics.json").read_text())["started_at_epoch"]["float"] == 0
    moved = [np.abs(a - b).max() for a, b in zip(seeded.float_model.get_weights(), tm.float_model.get_weights())]
    assert max(moved) > 0  # the restart trained on

    (tmp_path / "weights" / "tiny.npz").unlink()  # from scratch: both cycles, to the same weights
    shutil.rmtree(build_dir)
    scratch = train(warm, ds)
    assert "from the shipped weights" not in capsys.readouterr().out
    for a, b in zip(scratch.float_model.get_weights(), seeded.float_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    for a, b in zip(scratch.qmodel.get_weights(), seeded.qmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)

    # a pruned training's float weights are not a float cycle's: they seed nothing
    pruned = load_config(write_config(tmp_path, BASE + "prune: {sparsity: 0.5, epochs: 1}\n", "tiny"))
    pt = train(pruned, ds)
    shipped.save(pruned, ds, pt, _plan_to_json(pt.plan))
    assert shipped.seed_float(pruned, ds) is None and shipped.seed_float(warm, ds) is None


def test_the_shipped_flagship_file_is_small_and_matches_its_config():
    """Every file in hls_configs/weights/ belongs to a config of that name and is at most 2 MB."""
    for f in (CONFIG_DIR / "weights").glob("*.npz"):
        assert (CONFIG_DIR / f"{f.stem}.yaml").is_file() and f.stat().st_size <= shipped.MAX_BYTES
        with np.load(f, allow_pickle=False) as z:
            prov = json.loads(str(z["provenance"]))
        cfg = load_config(CONFIG_DIR / f"{f.stem}.yaml")
        assert prov["config"] == f.stem and prov["config_fingerprint"] == cfg.fingerprint()
        assert prov["epochs"] == cfg.train.epochs and prov["qat_epochs"] == cfg.train.qat_epochs
        assert [(r["epochs"], r["learning_rate"]) for r in prov["restarts"]] == list(cfg.train.restarts)
        assert (prov.get("optimizer", "adam"), prov.get("weight_decay", 0.0)) == (cfg.train.optimizer, cfg.train.weight_decay)
        assert prov["float_key"] is not None  # its float weights can start a longer training (seed_float)
