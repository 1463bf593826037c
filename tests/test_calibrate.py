"""`activation_integer: auto`: integer bits of each layer's activation from the float model's activations
(hwflow.zoo.quant.activation_integer_for, hwflow.train.calibrate_activations)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hwflow.config import config_from_dict, load_config
from hwflow.errors import ConfigError
from hwflow.train import build_models, calibrate_activations, resolve_plan
from hwflow.zoo.layers import ACT_SUFFIX, Q_SUFFIX, fold_batchnorm, kernel_layer_names
from hwflow.zoo.quant import AUTO, activation_integer_for, with_default_activations
from tests.conftest import write_config


def _mse(x, bits, integer, signed=False):
    step = 2.0 ** (integer - bits + (1 if signed else 0))
    lo, hi = (-(2.0 ** integer), 2.0 ** integer - step) if signed else (0.0, 2.0 ** integer - step)
    return float(np.mean((np.clip(np.round(x / step) * step, lo, hi) - x) ** 2))


def test_integer_bits_trade_clipping_against_the_step():
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 0.9, 50_000)  # fits [0, 1): every integer bit only coarsens the step
    assert activation_integer_for(small, 6) == 0
    wide = rng.uniform(0, 3.5, 50_000)  # [0, 1.97] clips a third of it; [0, 3.94] in 1/16 steps does not
    assert activation_integer_for(wide, 6) == 2
    assert _mse(wide, 6, 2) < min(_mse(wide, 6, 1), _mse(wide, 6, 3))
    # a long tail: clipping the rare large values costs less than doubling the step for all of them
    tail = np.concatenate([rng.uniform(0, 0.9, 99_990), np.full(10, 1.5)])  # 1 in 10,000 above 0.98
    assert activation_integer_for(tail, 6) == 0 and _mse(tail, 6, 0) < _mse(tail, 6, 1)
    normal = rng.normal(0, 1, 50_000)  # signed (quantized_bits): [-4, 4) in steps of 1/32 beats [-2, 2) clipping 4.6%
    assert activation_integer_for(normal, 8, signed=True) == 2
    assert activation_integer_for(normal, 8, signed=False) == 2  # unsigned: the negatives clip at 0 whatever i is
    assert activation_integer_for(small, 6, least=3) == 3  # a ReLU(6) needs 3 integer bits whatever the data
    assert activation_integer_for(np.zeros(0), 6, least=1) == 1
    assert activation_integer_for(rng.uniform(0, 100, 1000), 4) == 3  # never more than bits - 1


BASE = {"model": {"arch": "mobilenet_v2", "input_shape": [16, 16, 3], "classes": 10, "alpha": 0.35,
                  "stem_stride": 1, "last_channels": 64},
        "quantization": {"default": {"weight": 8, "bias": 8, "activation": 6, "activation_integer": AUTO},
                         "layers": {"conv1": {"activation_integer": 3}}}}


def test_auto_is_calibrated_per_layer_on_the_float_activations():
    """MobileNetV2: ReLU6 layers (`_relu`, bounded: never fewer than 3 integer bits), linear projections (`_q`,
    signed), the classifier (no activation quantizer in use: the width's default) and a layer whose integer
    bits are written (kept). Each 'auto' layer gets what activation_integer_for gives on its float outputs."""
    import tensorflow as tf

    cfg = config_from_dict(BASE, Path("mnv2.yaml"))
    tf.keras.utils.set_random_seed(0)
    fm, _ = build_models(cfg)
    names = kernel_layer_names(fm)
    plan = resolve_plan(cfg.quant_plan(names), fold_batchnorm(fm))
    assert plan.get("conv1").activation.integer == 3
    assert all(plan.get(n).activation.integer is None for n in names if n != "conv1")
    x = np.random.default_rng(1).uniform(0, 1, (8, 16, 16, 3)).astype(np.float32)
    got = calibrate_activations(plan, fm, x)
    layers = {l.name: l for l in fm.layers}
    kinds = set()
    for n in names:
        integer = got.get(n).activation.integer
        if n == "conv1":
            assert got.get(n) == plan.get(n)
            continue
        relu = layers.get(n + ACT_SUFFIX)
        if relu is None and n + Q_SUFFIX not in layers:  # the classifier: no activation quantizer in use
            assert integer == 3 and n == "fc"
            kinds.add("none")
            continue
        out = tf.keras.Model(fm.input, (relu or layers[n + Q_SUFFIX]).output)(x, training=False).numpy()
        bounded = relu is not None and getattr(relu, "max_value", None) is not None
        kinds.add("relu6" if bounded else "relu" if relu is not None else "linear")
        expect = activation_integer_for(out, 6, signed=relu is None, least=3 if bounded else 0)  # 8 images: no stride
        assert integer == expect, n
        assert got.get(n).weight == plan.get(n).weight and got.get(n).activation.bits == 6
    assert {"relu6", "linear", "none"} <= kinds
    integers = {got.get(n).activation.integer for n in names if n + Q_SUFFIX in layers}
    assert integers != {3}  # the projections do not all land on the old default
    build_models(cfg, got)  # the QKeras twin builds (the ReLU6 bounds are representable)
    # the uniform baseline: the same integer bits everywhere, except where a ReLU6 needs 3
    flat = calibrate_activations(plan, fm, x, uniform=1)
    for n in names:
        relu = layers.get(n + ACT_SUFFIX)
        bounded = relu is not None and getattr(relu, "max_value", None) is not None
        assert flat.get(n).activation.integer == (3 if n == "conv1" or bounded or n == "fc" else 1), n
    # nothing to calibrate: the same plan back
    assert calibrate_activations(got, fm, x) is got
    # no data (structure checks, estimates): the width's default
    assert {with_default_activations(plan).get(n).activation.integer for n in names} == {3}


def test_auto_is_keyed_and_refused_where_it_cannot_be_calibrated(tmp_path):
    auto = config_from_dict(BASE, Path("a.yaml"))
    fixed = config_from_dict({**BASE, "quantization": {"default": {**BASE["quantization"]["default"],
                                                                   "activation_integer": 3}}}, Path("a.yaml"))
    assert auto.float_fingerprint("ds") == fixed.float_fingerprint("ds")  # same float training...
    assert auto.fingerprint("ds") != fixed.fingerprint("ds")  # ...its own QAT
    for bad, message in (("autos", "expected an integer (integer bits) or 'auto', got 'autos'"),
                         (-1, "must be >= 0, got -1")):
        raw = {**BASE, "quantization": {"default": {"activation_integer": bad}}}
        with pytest.raises(ConfigError, match=re.escape("b.yaml: quantization.default.activation_integer: " + message)):
            config_from_dict(raw, Path("b.yaml"))
    from tensorflow import keras

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="d1"), keras.layers.ReLU(name="r1"),
                              keras.layers.Flatten(), keras.layers.Dense(2, name="fc")])
    model.save(tmp_path / "m.h5")
    path = write_config(tmp_path, "model: {file: m.h5}\nquantization: {layers: {d1: {activation_integer: auto}}}\n", "file")
    with pytest.raises(ConfigError, match=r"file.yaml: quantization.layers.d1.activation_integer: 'auto' is calibrated "
                                          r"for zoo models \(model.arch\) only; valid for a model file: integer bits"):
        load_config(path)


@pytest.mark.slow
def test_training_with_auto_stores_the_calibrated_plan(tmp_path, build_dir):
    """Through train(): the stored plan has every 'auto' resolved, as calibrate_activations gives on the trained
    float model and the seeded calibration images, and QAT ran with it."""
    from hwflow.data import load_dataset
    from hwflow.train import calibration_images, train

    text = ("model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 10, alpha: 0.25, depth: 2, dropout: 0.0}\n"
            "data: {source: default, max_train: 256, max_test: 64}\n"
            "train: {epochs: 1, qat_epochs: 1, batch_size: 64}\n"
            "quantization: {default: {activation: 6, activation_integer: auto}}\n"
            "hls: {board: pynq-z2}\n")
    cfg = load_config(write_config(tmp_path, text, "auto"))
    ds = load_dataset(cfg.data, (16, 16, 3))
    got = train(cfg, ds)
    stored = json.loads((got.weights_dir / "plan.json").read_text())
    plan = resolve_plan(cfg.quant_plan(kernel_layer_names(got.float_model)), fold_batchnorm(got.float_model))
    expect = calibrate_activations(plan, got.float_model, calibration_images(ds, cfg.train.seed))
    assert stored == {n: {r: str(getattr(lq, r)) for r in ("weight", "bias", "activation")}
                      for n, lq in expect.layers.items()}
    assert all("auto" not in v["activation"] for v in stored.values())
    assert got.qkeras_accuracy is not None and len(calibration_images(ds, cfg.train.seed)) == 256


@pytest.mark.slow
def test_activation_integers_benchmark_measures_each_variant(tmp_path, build_dir):
    """benchmarks.activation_integers on a small trained config: one row per uniform integer width and one
    calibrated, each the top-1 of the folded float weights in that QKeras twin (re-measured here), written
    as Markdown / JSON / PNG."""
    from benchmarks import activation_integers as bench
    from hwflow.data import load_dataset
    from hwflow.train import accuracy, calibration_images, folded_twin, train
    from hwflow.zoo.quant import uncalibrated_activations

    text = ("model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 10, alpha: 0.25, depth: 2, dropout: 0.0}\n"
            "data: {source: default, max_train: 512, max_test: 128}\n"
            "train: {epochs: 2, qat_epochs: 1, batch_size: 64}\n"
            "quantization: {default: {activation: 4, activation_integer: 2}}\n"
            "hls: {board: pynq-z2}\n")
    path = write_config(tmp_path, text, "small")
    assert bench.main(["--config", str(path), "--integers", "0", "3", "--out", str(tmp_path / "ai")]) == 0
    data = json.loads((tmp_path / "ai.json").read_text())
    assert [r["variant"] for r in data["rows"]] == ["0 integer bits on every layer", "3 integer bits on every layer",
                                                    "calibrated per layer (auto)"]
    cfg = load_config(path)
    ds = load_dataset(cfg.data, (16, 16, 3))
    trained = train(cfg, ds)  # the benchmark's training, from the cache
    fm = trained.float_model
    folded = fold_batchnorm(fm)
    open_plan = uncalibrated_activations(resolve_plan(cfg.quant_plan(kernel_layer_names(fm)), folded))
    assert all(lq.activation.integer is None for lq in open_plan.layers.values())
    for row, uniform in zip(data["rows"], (0, 3, None)):
        p = calibrate_activations(open_plan, fm, calibration_images(ds, cfg.train.seed), uniform=uniform)
        assert row["top1_before_qat"] == accuracy(folded_twin(cfg, p, folded), ds.x_test, ds.y_test)
        assert row["integers"] == {n: lq.activation.integer for n, lq in p.layers.items() if n != "fc"}  # fc: no ReLU
    assert set(data["rows"][0]["integers"].values()) == {0} and data["config_after_qat"]["top1"] == trained.qkeras_accuracy
    assert data["config_after_qat"]["integers"] == {n: 2 for n in data["rows"][0]["integers"]}  # as written
    md = (tmp_path / "ai.md").read_text()
    assert "| calibrated per layer (auto) |" in md and (tmp_path / "ai.png").stat().st_size > 5000
    assert bench.main(["--config", str(path), "--integers", "-1"]) == 2
