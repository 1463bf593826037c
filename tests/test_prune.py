"""Pruning (hwflow.prune, the `prune:` section): zeros made by TFMOT during float fine-tuning, kept
through BN folding and QAT, seen by hls4ml and the estimator, and bit-exact in the firmware."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.config import load_config
from hwflow.errors import ConfigError
from tests.conftest import write_config

BASE = """\
model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 10, alpha: 0.25, depth: 2, dropout: 0.0}
data: {source: default, max_train: 256, max_test: 64}
train: {epochs: 1, qat_epochs: 1, batch_size: 32}
hls: {board: pynq-z2}
"""
PRUNED = BASE + "prune: {sparsity: 0.75, epochs: 2, frequency: 2, exclude: [conv1], layers: {fc: 0.5}}\n"


def test_sparsity_plan_and_fingerprints(tmp_path):
    base = load_config(write_config(tmp_path, BASE, "base"))
    cfg = load_config(write_config(tmp_path, PRUNED, "pruned"))
    layers = ["conv1", "dw1", "pw1", "fc"]
    assert base.sparsity_plan(layers) == {}
    assert cfg.sparsity_plan(layers) == {"dw1": 0.75, "pw1": 0.75, "fc": 0.5}
    # the float baseline is shared, the QAT cache is not; an unpruned config keeps its old key
    assert cfg.float_fingerprint("x") == base.float_fingerprint("x")
    assert cfg.fingerprint("x") != base.fingerprint("x")
    zero = load_config(write_config(tmp_path, BASE + "prune: {sparsity: 0}\n", "zero"))
    assert zero.sparsity_plan(layers) == {}


@pytest.mark.parametrize("text,match", [
    ("prune: {sparsity: 1.5}", r"prune.sparsity"),
    ("prune: {sparsity: 0.5, epochs: 0}", r"prune.epochs"),
    ("prune: {sparsity: 0.5, layers: {pw1: high}}", r"prune.layers.pw1"),
    ("prune: {sparsity: 0.5, exclude: conv1}", r"prune.exclude"),
    ("prune: {sparsity: 0.5, schedule: cubic}", r"prune: unknown key 'schedule'|schedule"),
])
def test_bad_prune_section(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write_config(tmp_path, BASE + text + "\n", "bad"))


def test_unknown_prune_layer_is_refused(tmp_path):
    from hwflow.config import validate_layers

    cfg = load_config(write_config(tmp_path, BASE + "prune: {sparsity: 0.5, exclude: [nope]}\n", "bad"))
    with pytest.raises(ConfigError, match=r"prune.exclude.nope: no such layer with weights; valid: conv1"):
        validate_layers(cfg, ["conv1", "fc"], ["conv1", "fc"])


def test_magnitude_prune_keeps_the_largest():
    from hwflow.prune import magnitude_prune

    w = np.arange(1, 101, dtype=np.float32).reshape(10, 10) * np.where(np.arange(100) % 2, 1, -1).reshape(10, 10)
    out = magnitude_prune(w, 0.75)
    assert np.mean(out == 0) == 0.75
    assert np.all(np.abs(out[out != 0]) > 75)
    assert np.array_equal(magnitude_prune(out, 0.75), out)  # idempotent: zeros already there


def test_untrained_pruned_twin_has_the_zeros(tmp_path):
    from hwflow.train import untrained_models

    cfg = load_config(write_config(tmp_path, PRUNED, "pruned"))
    _, qmodel, _ = untrained_models(cfg)
    k = {n: qmodel.get_layer(n).get_weights()[0] for n in ("conv1", "pw1", "fc")}
    assert np.mean(k["conv1"] == 0) == 0
    assert abs(np.mean(k["pw1"] == 0) - 0.75) < 0.01
    assert abs(np.mean(k["fc"] == 0) - 0.5) < 0.01


@pytest.mark.slow
def test_pruned_training_keeps_zeros_to_the_firmware(tmp_path, build_dir):
    from hwflow import convert
    from hwflow.data import load_dataset
    from hwflow.estimate import estimate
    from hwflow.train import train

    base_cfg = load_config(write_config(tmp_path, BASE, "base"))
    cfg = load_config(write_config(tmp_path, PRUNED, "pruned"))
    ds = load_dataset(cfg.data, (16, 16, 3))
    base = train(base_cfg, ds)
    pruned = train(cfg, ds)
    # the float baseline was fine-tuned, not retrained: its cache is shared
    assert not pruned.from_cache
    for name, target in {"pw1": 0.75, "pw2": 0.75, "fc": 0.5}.items():
        fz = np.mean(pruned.float_model.get_layer(name).get_weights()[0] == 0)
        qz = np.mean(pruned.qmodel.get_layer(name).get_weights()[0] == 0)
        assert fz >= target - 0.01 and qz >= target - 0.01, (name, fz, qz)
        # every float zero is still a zero after folding and QAT
        fmask = pruned.float_model.get_layer(name).get_weights()[0] == 0
        assert not np.any(pruned.qmodel.get_layer(name).get_weights()[0][fmask])
    assert np.mean(pruned.qmodel.get_layer("conv1").get_weights()[0] == 0) < 0.05
    # hls4ml counts them, and the estimator drops their products
    m_base = convert.to_hls_model(base_cfg, base.qmodel)
    m_pruned = convert.to_hls_model(cfg, pruned.qmodel)
    nz = {l.name: l.get_weights("weight").nzeros for l in m_pruned.get_layers() if l.name == "pw1"}
    assert nz["pw1"] >= 0.75 * pruned.qmodel.get_layer("pw1").get_weights()[0].size - 1
    e_base, e_pruned = estimate(m_base), estimate(m_pruned)
    assert e_pruned.totals["LUT"] < e_base.totals["LUT"]
    # cached the second time
    assert train(cfg, ds).from_cache


def test_depthwise_layers_are_not_pruned(tmp_path):
    from hwflow.prune import plan_for
    from hwflow.train import untrained_models

    cfg = load_config(write_config(tmp_path, PRUNED, "pruned"))
    float_model, _, _ = untrained_models(cfg)
    plan = plan_for(cfg, float_model)
    assert "dw1" not in plan and plan["pw1"] == 0.75
    bad = load_config(write_config(tmp_path, BASE + "prune: {layers: {dw1: 0.5}}\n", "bad"))
    with pytest.raises(ConfigError, match=r"prune.layers.dw1: a depthwise layer.*valid: conv1, pw1"):
        plan_for(bad, float_model)


@pytest.mark.slow
def test_prune_study_table(tmp_path, build_dir):
    """benchmarks/prune_study on a small config: rows per sparsity with measured top-1, bit-exact
    firmware and a fit per board; the pruned row's estimate has fewer LUTs at the fitted rate."""
    import json

    from benchmarks import prune_study

    path = write_config(tmp_path, BASE.replace("hls: {board: pynq-z2}", "hls: {board: pynq-z2, io_type: io_stream, "
                                                "strategy: Resource, reuse_factor: 8}") + "parity: {images: 64}\n", "study")
    out = tmp_path / "res" / "study"
    assert prune_study.main(["--config", str(path), "--sparsity", "0", "0.75", "--prune-epochs", "1",
                             "--board", "pynq-z2", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["sparsity_target"] for r in rows] == [0.0, 0.75]
    assert rows[0]["sparsity"] == 0 and rows[1]["sparsity"] > 0.5
    for r in rows:
        assert r["bit_exact_share"] == 1.0 and r["images"] == 64 and 0 <= r["firmware_top1"] <= 1
        assert r["fits"]["pynq-z2"]["fits"]
    a, b = (r["fits"]["pynq-z2"] for r in rows)
    assert b["images_per_s"] >= a["images_per_s"] and b["totals"]["LUT"] < a["totals"]["LUT"]
    assert "| study | 75% |" in out.with_suffix(".md").read_text() and out.with_suffix(".png").stat().st_size > 0
    both = tmp_path / "res" / "both"  # --merge: the rows of earlier runs as one table, nothing recomputed
    assert prune_study.main(["--merge", str(out.with_suffix(".json")), str(out.with_suffix(".json")),
                             "--out", str(both)]) == 0
    assert json.loads(both.with_suffix(".json").read_text())["rows"] == rows + rows
    assert both.with_suffix(".md").read_text().count("| study | 75% |") == 2


def test_prune_study_merge_of_a_bad_file_exits_2(tmp_path, capsys):
    from benchmarks import prune_study

    bad = tmp_path / "bad.json"
    bad.write_text('{"rows_": []}')
    assert prune_study.main(["--merge", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "bad.json" in capsys.readouterr().err and not (tmp_path / "m.md").exists()


@pytest.mark.parametrize("steps,ramp,frequency", [(292, 0.6, 100), (37, 0.6, 100), (4219, 0.6, 100), (3, 0.6, 100)])
def test_ramp_reaches_the_target_on_a_mask_update(steps, ramp, frequency):
    """The polynomial ramp's last mask update is at its end step, so the target is reached."""
    from hwflow.prune import ramp_schedule

    sched = ramp_schedule(steps, ramp, frequency)(0.5)
    last = max(s for s in range(1, steps + 1) if bool(sched(s)[0]))
    assert float(sched(last)[1]) == pytest.approx(0.5) and last <= steps
