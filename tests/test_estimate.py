"""hwflow.estimate: per-layer numbers that follow from hls4ml 1.3.0's templates, the calibrated
error on held-out real reports, board errors, and MobileNet speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hwflow.errors import ConfigError
from hwflow.estimate import CALIBRATION_PATH, Calibration, dsp_share, estimate, write_reports

REPO_ROOT = Path(__file__).resolve().parent.parent
# Every nonzero 16-bit weight needs a DSP (threshold 0, wide weight distribution), depth 1 cycle
# at 5 ns, no extra reuse cycle: numbers checkable by hand.
HAND = Calibration(lut_mult_max_bits=4, dsp_min_sig_bits={"vitis": 0, "vivado_hls": 0}, weight_sigma=8.0,
                   dense_depth_ns=4.0, reuse_extra_cycles=0)


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
    scale = max(1.0, max(est.utilisation.values()) / 100)  # does not fit -> scaled by the worst resource
    assert rl.attainable_images_per_s == pytest.approx(rl.images_per_s / scale)
    assert rl.share == pytest.approx(min(1.0, rl.attainable_images_per_s * rl.macs_per_image / rl.peak_macs_per_s))
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


def test_dsp_share_follows_weight_precision():
    """The statistical constant-multiplier model: more fractional bits -> more DSP products;
    8-bit weights with 4 fractional bits (the l1jettagger fixture, 0 DSPs) -> none."""
    wide = dsp_share(16, 10, 16, 5, 0.4)[0]
    mid = dsp_share(8, 7, 16, 5, 0.4)[0]
    assert 0.5 < wide < 1.0 and mid < wide
    assert dsp_share(8, 4, 16, 5, 0.4)[0] == 0.0
    assert dsp_share(16, 10, 576, 5, 0.4)[0] < dsp_share(16, 10, 9, 5, 0.4)[0]  # bigger fan-in, smaller weights


def test_roofline_share_of_a_design_that_does_not_fit(tf_layers):
    est = estimate(_convert(_model(tf_layers.Dense(64), (256,))), board="pynq-z2", calibration=HAND)
    rl = est.roofline
    assert not est.fits and est.totals["DSP"] > 220
    worst = max(est.utilisation.values()) / 100
    assert rl.attainable_images_per_s == pytest.approx(rl.images_per_s / worst)
    assert 0 < rl.share <= 1.0


@pytest.mark.slow
def test_calibration_error_leave_one_design_out():
    """The stored leave-one-design-out errors are what was measured, one fold reproduces, and
    the shipped constants reproduce the stored in-sample estimates."""
    import statistics
    import sys

    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks import calibrate_estimator as ce

    stored = json.loads(CALIBRATION_PATH.read_text())
    usable = [d for d in ce.DESIGNS if d.role == "usable"]
    assert len(usable) >= 9 and stored["usable_designs"] == [d.name for d in usable]
    loo = stored["leave_one_out"]
    errs = {m: [ce.rel_err(loo[n]["estimate"][m], loo[n]["report"][m]) for n in loo] for m in ce.METRICS}
    for m in ce.METRICS:
        assert statistics.median(errs[m]) == pytest.approx(stored["leave_one_out_error"][m]["median"])
    # Loose bounds around what was measured (benchmarks/results/estimator_calibration.md):
    # DSP median 20% / worst 51%, latency 16% / 92%, II 0% / 67%, LUT 24% / 74%, BRAM 0%, FF 78%.
    med = {m: statistics.median(v) for m, v in errs.items()}
    assert med["DSP"] <= 0.30 and max(errs["DSP"]) <= 0.65
    assert med["latency"] <= 0.25 and max(errs["latency"]) <= 1.1
    assert med["II"] <= 0.05 and max(errs["II"]) <= 0.8
    assert med["LUT"] <= 0.35 and max(errs["LUT"]) <= 1.0
    assert med["BRAM_18K"] <= 0.05 and med["FF"] <= 1.0
    # one fold, recomputed: dnnonsilicon_4 estimated with constants fitted on the other designs
    data = ce.Data(usable)
    held = next(d for d in usable if d.name == "dnnonsilicon_4")
    cal = ce.fit(data, [d for d in usable if d is not held], Calibration())
    assert ce.metrics(data.est(held, cal)) == loo["dnnonsilicon_4"]["estimate"]
    shipped = Calibration.load()
    for d in usable:
        assert ce.metrics(data.est(d, shipped)) == stored["all_fit"][d.name]["estimate"], d.name


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
    assert t2 - t1 < 1.0
    assert est.roofline.macs_per_image == pytest.approx(568e6, rel=0.03)  # MobileNet v1: ~569M MACs
    assert not est.fits and 0 < est.roofline.share <= 1.0
    assert est.unknown_layers == []
    assert est.ii_cycles >= 112 * 112  # a stride-2 112x112 stream stage at RF=1
