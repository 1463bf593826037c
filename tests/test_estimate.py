"""hwflow.estimate: per-layer numbers that follow from hls4ml 1.3.0's templates, the calibrated
error on held-out real reports, board errors, and MobileNet speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hwflow.errors import ConfigError
from hwflow.estimate import CALIBRATION_PATH, Calibration, estimate, write_reports

REPO_ROOT = Path(__file__).resolve().parent.parent
# Every nonzero 16-bit weight needs a DSP, depth 1 cycle at 5 ns: numbers checkable by hand.
HAND = Calibration(lut_mult_max_bits=4, const_lut_max_bits={"vitis": 0, "vivado_hls": 0}, dense_depth_ns=4.0)


def _convert(model, io_type="io_parallel", rf=1, strategy="Latency", weight="fixed<16,6>"):
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis",
                                               default_precision="fixed<16,6>")
    cfg["Model"].update(ReuseFactor=rf, Strategy=strategy)
    for lc in cfg["LayerName"].values():
        lc.pop("ReuseFactor", None)
        if isinstance(lc.get("Precision"), dict):
            lc["Precision"] = {k: (weight if k in ("weight", "bias") else "fixed<16,6>") for k in lc["Precision"]}
    return hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, io_type=io_type, backend="Vitis", part="xczu9eg-ffvb1156-2-e",
        clock_period=5, output_dir="/tmp/hwflow-test-estimate")


def _model(layer, shape):
    import tensorflow as tf

    inp = tf.keras.Input(shape)
    model = tf.keras.Model(inp, layer(inp))
    # weights 0.3 -> 307/1024 at fixed<16,6>: nonzero, 8 significant bits -> DSP under HAND
    model.set_weights([np.full(w.shape, 0.3, dtype=np.float32) for w in model.get_weights()])
    return model


def _one(est, kind):
    (le,) = [le for le in est.layers if le.kind == kind]
    return le


@pytest.fixture(scope="module")
def tf_layers():
    import tensorflow as tf

    return tf.keras.layers


@pytest.mark.parametrize("rf,mults,latency", [(1, 128, 1), (4, 32, 4)])
def test_dense_reuse_factor(tf_layers, rf, mults, latency):
    est = estimate(_convert(_model(tf_layers.Dense(8), (16,)), rf=rf), calibration=HAND)
    d = _one(est, "dense")
    assert (d.reuse_factor, d.macs, d.multipliers, d.dsp) == (rf, 128, mults, mults)  # ceil(16*8/RF)
    assert (d.latency, d.ii) == (latency, rf)  # PIPELINE II=RF, RF-1 + 1 cycle of depth at 5 ns
    assert est.ii_cycles == rf and est.board == "zcu102"


def test_narrow_weights_map_to_luts(tf_layers):
    est = estimate(_convert(_model(tf_layers.Dense(8), (16,)), weight="fixed<4,1>"), calibration=HAND)
    d = _one(est, "dense")
    assert d.multipliers == 128 and d.dsp == 0 and d.lut > 0


def test_zero_weights_take_no_dsp(tf_layers):
    model = _model(tf_layers.Dense(8), (16,))
    w, b = model.get_weights()
    w[:8] = 0.0  # 64 of 128 weights
    model.set_weights([w, b])
    assert _one(estimate(_convert(model), calibration=HAND), "dense").dsp == 64


@pytest.mark.parametrize("io_type,ii", [("io_stream", 64), ("io_parallel", 64)])
def test_conv_1x1(tf_layers, io_type, ii):
    est = estimate(_convert(_model(tf_layers.Conv2D(4, 1), (8, 8, 3)), io_type=io_type), calibration=HAND)
    c = _one(est, "conv")
    assert c.macs == 8 * 8 * 3 * 4
    # stream: 12 products per pixel, one pixel per RF cycles; parallel: one output pixel per
    # partition (n_partitions = 64), the same 12 multipliers reused 64 times
    assert (c.multipliers, c.dsp, c.ii) == (12, 12, ii)


@pytest.mark.parametrize("io_type,ii", [("io_stream", 64), ("io_parallel", 36)])
def test_conv_3x3(tf_layers, io_type, ii):
    est = estimate(_convert(_model(tf_layers.Conv2D(4, 3), (8, 8, 3)), io_type=io_type), calibration=HAND)
    c = _one(est, "conv")
    assert (c.macs, c.multipliers, c.dsp) == (6 * 6 * 27 * 4, 108, 108)
    assert c.ii == ii  # stream: every input pixel (8x8); parallel: every output pixel (6x6)


def test_conv_3x3_reuse_stream(tf_layers):
    est = estimate(_convert(_model(tf_layers.Conv2D(4, 3), (8, 8, 3)), io_type="io_stream", rf=4), calibration=HAND)
    c = _one(est, "conv")
    assert (c.multipliers, c.dsp, c.ii) == (27, 27, 64 * 4)


@pytest.mark.parametrize("io_type,ii", [("io_stream", 64), ("io_parallel", 36)])
def test_depthwise(tf_layers, io_type, ii):
    est = estimate(_convert(_model(tf_layers.DepthwiseConv2D(3), (8, 8, 4)), io_type=io_type), calibration=HAND)
    c = _one(est, "depthwise")
    assert (c.macs, c.multipliers, c.dsp, c.ii) == (6 * 6 * 9 * 4, 36, 36, ii)  # kernel x channels


def test_network_dataflow_and_board(tf_layers, tmp_path):
    import tensorflow as tf

    inp = tf.keras.Input((8, 8, 3))
    x = tf_layers.MaxPooling2D()(tf_layers.ReLU()(tf_layers.Conv2D(4, 3)(inp)))
    out = tf_layers.Softmax()(tf_layers.Dense(5)(tf_layers.Flatten()(x)))
    est = estimate(_convert(tf.keras.Model(inp, out), io_type="io_stream"), board="pynq-z2", calibration=HAND)
    assert est.ii_cycles == max(le.ii for le in est.layers) == 64  # the conv sets the interval
    assert est.board == "pynq-z2" and est.binding_resource in est.utilisation
    assert est.utilisation["DSP"] == pytest.approx(100.0 * est.totals["DSP"] / 220)
    rl = est.roofline
    assert rl.peak_macs_per_s == pytest.approx(220 * 1e9 / 5)
    assert rl.share == pytest.approx(rl.images_per_s * rl.macs_per_image / rl.peak_macs_per_s)
    paths = write_reports(est, tmp_path, "tiny")
    assert "Binding resource" in paths["md"].read_text()
    assert json.loads(paths["json"].read_text())["ii_cycles"] == 64
    assert paths["png"].stat().st_size > 1000


def test_unknown_board_is_an_error(tf_layers):
    with pytest.raises(ConfigError, match="unknown board 'zynq-9000'.*valid boards: pynq-z2"):
        estimate(_convert(_model(tf_layers.Dense(8), (16,))), board="zynq-9000")


def test_unknown_layer_is_reported_not_zeroed():
    from hwflow.estimate import _Ctx, _layer

    class Stub:
        class_name, name = "GarNet", "garnet_1"

        def get_attr(self, key, default=None):
            return default

    le = _layer(Stub(), _Ctx("io_parallel", 5.0, "vitis", False, HAND))
    assert le.kind == "unknown" and "GarNet" in le.note


@pytest.mark.slow
def test_calibration_error_on_held_out_designs():
    """Re-run the calibration's estimates; the committed numbers and the error must hold."""
    import sys

    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks import calibrate_estimator as ce

    stored = json.loads(CALIBRATION_PATH.read_text())
    held = [d for d in ce.DESIGNS if d.role == "holdout"]
    assert len(held) >= 4 and not set(stored["fit_designs"]) & {d.name for d in held}
    models = {d.name: ce.convert(d) for d in held}
    reports = {d.name: ce.read_report(d) for d in held}
    out = ce.run(models, reports, held, Calibration.load())
    for d in held:
        assert out[d.name] == stored["per_design"][d.name]["estimate"], d.name  # reproducible
    errs = {m: sorted(ce.rel_err(out[d.name][m], reports[d.name][m]) for d in held) for m in ce.METRICS}
    # Loose bounds around what was measured (see benchmarks/results/estimator_calibration.md):
    assert errs["II"][len(held) // 2] <= 0.35
    assert errs["latency"][len(held) // 2] <= 0.5
    assert errs["DSP"][len(held) // 2] <= 0.8
    assert errs["BRAM_18K"][len(held) // 2] <= 0.2


@pytest.mark.slow
def test_mobilenet_224_is_fast():
    import tensorflow as tf

    model = tf.keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3))
    t0 = time.perf_counter()
    hls_model = _convert(model, io_type="io_stream")
    t1 = time.perf_counter()
    est = estimate(hls_model, board="zcu102")
    t2 = time.perf_counter()
    print(f"MobileNet 224: conversion {t1 - t0:.2f} s, estimate {t2 - t1:.3f} s")
    assert t2 - t1 < 3.0
    assert est.roofline.macs_per_image == pytest.approx(568e6, rel=0.03)  # MobileNet v1: ~569M MACs
    assert est.unknown_layers == []
    assert est.ii_cycles >= 112 * 112  # a stride-2 112x112 stream stage at RF=1
