"""hwflow.estimate: per-layer numbers that follow from hls4ml 1.3.0's templates, the calibrated
error on held-out real reports, board errors, and MobileNet speed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hwflow.errors import ConfigError
from hwflow.estimate import CALIBRATION_PATH, Calibration, dsp_share, estimate
from hwflow.estimate_report import write_reports

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


def test_zero_weights_stay_in_the_resource_rom(tf_layers):
    """Resource at RF > 1 reads its weights from a ROM: the zeros keep their products (pruning pays
    only in Latency layers); at RF 1 the ROM is partitioned into constants and they drop again."""
    model = _model(tf_layers.Dense(8), (16,))
    w, b = model.get_weights()
    w[:8] = 0.0
    model.set_weights([w, b])
    at = lambda rf: _one(estimate(_convert(model, strategy="Resource", rf=rf), calibration=HAND), "dense")
    dense = _model(tf_layers.Dense(8), (16,))
    full = _one(estimate(_convert(dense, strategy="Resource", rf=4), calibration=HAND), "dense")
    assert at(4).dsp == full.dsp == 32
    assert at(1).dsp == 64


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
    # judged on the Vivado level: the csynth-level DSPs over pynq-z2's 220 become LUTs (Vivado's fallback)
    assert est.totals["DSP"] > 220 and est.vivado["DSP"] == 220 and est.utilisation["DSP"] == pytest.approx(100.0)
    assert est.vivado["dsp_fallback"] == est.totals["DSP"] - 220
    hls = estimate(_convert(tf.keras.Model(inp, out), io_type="io_stream"), board="pynq-z2", calibration=HAND,
                   basis="hls")
    assert hls.utilisation["DSP"] == pytest.approx(100.0 * hls.totals["DSP"] / 220) and hls.fits is False
    rl = est.roofline
    assert rl.peak_macs_per_s == pytest.approx(220 * 1e9 / 5)
    # does not fit -> scaled by the worst resource relative to its budget
    scale = max(1.0, max(est.utilisation[r] / est.budget[r] for r in est.utilisation) / 100)
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
    worst = max(est.utilisation[r] / est.budget[r] for r in est.utilisation) / 100  # relative to the budget
    assert rl.attainable_images_per_s == pytest.approx(rl.images_per_s / worst)
    assert 0 < rl.share <= 1.0


CNN_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "hls-reports-cnn"
sys.path.insert(0, str(REPO_ROOT))  # benchmarks/ (the rebuild path) is not an installed package
# Loose bounds around what was measured (benchmarks/results/estimator_calibration.md)
BOUNDS = {"DSP": 1.0, "LUT": 0.7, "FF": 0.8, "DSP_worst": 3.5}
LOO_CNN_BOUNDS = {"DSP": 0.4, "LUT": 0.7, "FF": 0.8, "BRAM_18K": 0.3, "latency": 0.35, "II": 0.3}


def _fixture_folder(tmp_path, names, drop_model=()):
    """A folder of the fixture layout with symlinks to some CNN designs (the shared data is
    never copied); for the designs in drop_model, every file but the model file."""
    if not CNN_FIXTURES.is_dir():
        pytest.skip(f"{CNN_FIXTURES} not present")
    root = tmp_path / "fixtures"
    for n in names:
        src = CNN_FIXTURES / n
        if n in drop_model:
            (root / n).mkdir(parents=True)
            for f in src.iterdir():
                if not f.name.startswith("keras_model"):
                    (root / n / f.name).symlink_to(f)
        else:
            root.mkdir(exist_ok=True)
            (root / n).symlink_to(src)
    return root


def test_rebuild_path_on_cnn_fixtures(tmp_path):
    """`python -m benchmarks.calibrate_estimator --fixtures DIR --no-fit --json OUT` on three CNN
    fixtures (Vivado HLS 2019.2 Latency with QConv2DBatchnorm, Vitis 2023.1 Resource RF 1,
    Vitis 2024.2 Resource RF 50) and one rebuilt from design.json alone (no model file). Loose
    bounds around the shipped constants' numbers (benchmarks/results/estimator_calibration.md)."""
    from benchmarks import calibrate_estimator as ce

    folder = _fixture_folder(tmp_path, ["cnnkdd_1", "pixel_1", "tsopeter_1", "pixel_3"], drop_model=("pixel_3",))
    (folder / "broken_1").mkdir()  # a design.json without reports: a warning, the others still run
    (folder / "broken_1" / "design.json").write_text((CNN_FIXTURES / "pixel_3" / "design.json").read_text())
    out = tmp_path / "out.json"
    assert ce.main(["--fixtures", str(folder), "--no-fit", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert list(res["failed_designs"]) == ["broken_1"] and "no csynth report" in res["failed_designs"]["broken_1"]
    assert res["synthetic_designs"] == ["pixel_3"] and res["designs"]["pixel_3"]["model_file"] is None
    for name, row in res["designs"].items():
        assert set(row["estimate"]) == set(ce.METRICS) == set(row["report"]), name
        assert row["layers"] and all(lr["report"] for lr in row["layers"]), name
    # the reports, as parsed (design totals of the core, not the AXI wrapper)
    assert res["designs"]["pixel_1"]["report"] == {"DSP": 928, "LUT": 74382, "FF": 19488, "BRAM_18K": 10,
                                                   "latency": 313, "II": 304}
    assert res["designs"]["tsopeter_1"]["tool"] == "Vitis HLS 2024.2"
    err = {n: r["error"] for n, r in res["designs"].items()}
    # tool-aware io_stream schedule: latency and II within 15% on the model-file designs
    for n in ("cnnkdd_1", "tsopeter_1"):
        assert err[n]["II"] <= 0.2 and err[n]["latency"] <= 0.2, (n, err[n])
    assert res["summary"]["DSP"]["median"] <= BOUNDS["DSP"]
    assert res["summary"]["LUT"]["median"] <= BOUNDS["LUT"]
    assert res["summary"]["FF"]["median"] <= BOUNDS["FF"]
    assert max(e["DSP"] for e in err.values()) <= BOUNDS["DSP_worst"]


def test_fifo_depth_is_read_from_the_stream_variable(tf_layers):
    """FIFO BRAM follows the depth on hls4ml's output variable (what a FIFO-depth pass sets), and
    the model's output port is no FIFO."""
    import tensorflow as tf

    inp = tf.keras.Input((32, 32, 16))
    x = tf_layers.Conv2D(32, 1)(inp)
    out = tf_layers.Conv2D(4, 1)(tf_layers.ReLU()(x))
    hls_model = _convert(tf.keras.Model(inp, out), io_type="io_stream")
    conv = next(layer for layer in hls_model.get_layers() if "Conv" in layer.class_name)
    var = conv.get_output_variable()
    assert var.pragma == ("stream", 32 * 32)  # hls4ml's default: H*W
    deep = next(le for le in estimate(hls_model, calibration=HAND).layers if le.name == conv.name).bram_18k
    var.pragma = ("stream", 2)
    shallow = next(le for le in estimate(hls_model, calibration=HAND).layers if le.name == conv.name).bram_18k
    assert deep >= 28 and shallow == 0  # 1024 x 512 bits: 29 BRAM_18K (1Kx18); depth 2: registers
    last = estimate(hls_model, calibration=HAND).layers[-1]
    assert last.bram_18k == 0  # output port


def test_tool_is_an_input(tf_layers):
    """Vivado HLS and Vitis HLS schedule io_stream convolutions differently: the tool, not the
    hls4ml backend, picks the per-pixel cycles."""
    cal = Calibration(stream_pixel_min={"vivado_hls": 1, "vitis": 2})
    hls_model = _convert(_model(tf_layers.Conv2D(4, 3), (8, 8, 3)), io_type="io_stream")
    assert _one(estimate(hls_model, calibration=cal, tool="Vivado HLS 2020.1"), "conv").ii == 64
    assert _one(estimate(hls_model, calibration=cal, tool="Vitis HLS 2023.1"), "conv").ii == 128
    assert estimate(hls_model, calibration=cal).tool == "vitis"  # the Vitis backend's tool
    with pytest.raises(ConfigError, match="not an HLS tool"):
        estimate(hls_model, calibration=cal, tool="quartus")


@pytest.mark.slow
def test_calibration_error_leave_one_design_out():
    """The stored leave-one-design-out errors are what was measured (MLP and CNN), within loose
    bounds, and one MLP fold reproduces."""
    import statistics

    from benchmarks import calibrate_estimator as ce

    stored = json.loads(CALIBRATION_PATH.read_text())
    loo = stored["leave_one_out"]
    usable = [d for d in ce.DESIGNS if d.role == "usable"]
    mlp = [d.name for d in usable]
    cnn = [n for n in loo if n not in mlp]
    assert len(cnn) >= 15 and set(mlp) <= set(loo)
    for names, key in ((mlp, "leave_one_out_error"), (cnn, "leave_one_out_error_cnn")):
        for m in ce.METRICS:
            med = statistics.median(ce.rel_err(loo[n]["estimate"][m], loo[n]["report"][m]) for n in names)
            assert med == pytest.approx(stored[key][m]["median"]), (key, m)
    cnn_err = stored["leave_one_out_error_cnn"]
    for m, bound in LOO_CNN_BOUNDS.items():
        assert cnn_err[m]["median"] <= bound, (m, cnn_err[m])
    # one fold, recomputed: dnnonsilicon_4 estimated with constants fitted on all other designs
    from benchmarks import cnn_designs

    cnn_designs_ = cnn_designs.load(CNN_FIXTURES, progress=False)
    data = ce.Data(usable, cnn_designs_)
    held = next(d for d in usable if d.name == "dnnonsilicon_4")
    cal = ce.fit(data, [d for d in usable if d is not held] + cnn_designs_, Calibration())
    assert ce.metrics(data.est(held, cal)) == loo["dnnonsilicon_4"]["estimate"]


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


def test_fifo_rule_per_tool():
    """The shipped FIFO rule, as read off the fixtures' FIFO tables (poker_5, Vivado HLS 2019.2: a
    4-channel 16-bit stream 3844 deep is 4 FIFOs of 4 BRAM_18K, 196 deep 4 x 1; poker_1: 36 deep
    still BRAM; 16 deep SRL). Vitis HLS keeps a stream in one FIFO."""
    from hwflow.estimate import stream_fifo_bram

    cal = Calibration.load(CALIBRATION_PATH)
    assert cal.fifo_per_element == {"vivado_hls": True, "vitis": False}
    assert stream_fifo_bram(3844, 4, 16, cal, "vivado_hls") == 16
    assert stream_fifo_bram(196, 4, 16, cal, "vivado_hls") == 4
    assert stream_fifo_bram(36, 4, 16, cal, "vivado_hls") == 4  # shallow, still BRAM (poker_1-3, 36 x 16)
    assert stream_fifo_bram(16, 4, 16, cal, "vivado_hls") == 0  # SRL
    assert stream_fifo_bram(1, 64, 16, cal, "vitis") == 0
    # a Vitis stream is one FIFO of all its elements
    assert stream_fifo_bram(900, 5, 8, cal, "vitis") == stream_fifo_bram(900, 1, 40, cal, "vitis") > 0


def test_fifo_tables_of_the_fixtures(tmp_path):
    """The `* FIFO:` tables of the core reports are read (name, depth, bits, BRAM_18K), and the
    fitted rule reproduces the FIFO BRAM of the Vivado HLS designs exactly."""
    from benchmarks import calibrate_estimator as ce
    from benchmarks.cnn_designs import read_fifo_table

    if not CNN_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/hls-reports-cnn not present")
    rpt = CNN_FIXTURES / "poker_5" / "myproject_prj/solution1/syn/report/myproject_csynth.rpt"
    rows = read_fifo_table(rpt)
    assert len(rows) == 37 and sum(r.bram_18k for r in rows) == 40 and all(r.per_element for r in rows)
    assert (rows[-1].depth, rows[-1].bits, rows[-1].bram_18k) == (196, 16, 1)
    bad = tmp_path / "bad.rpt"
    bad.write_text("    * FIFO: \n    +----+----+\n    |Name|Size|\n    +----+----+\n    |a_U |  3 |\n    +----+----+\n")
    with pytest.raises(Exception, match="FIFO table has columns"):
        read_fifo_table(bad)

    class D:  # the two fields fifo_check reads from a CnnDesign, plus its name and tool
        def __init__(self, name, tool, fifos):
            self.name, self.tool, self.fifos = name, tool, fifos

    check = ce.fifo_check([D("poker_5", "vivado_hls", rows)], Calibration.load(CALIBRATION_PATH))
    assert check["poker_5"]["bram_estimate"] == 40 and check["poker_5"]["fifos_wrong"] == 0


def test_deep_weight_rom_packs_into_bram18_aspect_ratios():
    """A Resource-strategy ROM is RF words of block_factor*bits: deep and narrow at a large RF it
    takes one 4Kx4 BRAM_18K, not eight stacked 512x36 ones; shallow and wide it is ceil(bits/36)
    (autoencoder_1's 9 x 238-bit ROM: 7 BRAM_18K)."""
    from types import SimpleNamespace as P

    from hwflow.estimate import _weight_bram

    assert _weight_bram(P(width=4), 4096, 4096, "resource") == 1
    assert _weight_bram(P(width=17), 9 * 14, 9, "resource") == 7
    assert _weight_bram(P(width=8), 4096, 1, "resource") == 0 and _weight_bram(P(width=8), 64, 4, "latency") == 0


def test_calibrator_reads_qkeras_keras_files_and_text_only_reports(tmp_path):
    """The calibrator uses the flow's loader and report reader: a design whose model is a QKeras `.keras`
    file (Keras 2.14) and whose only top-level csynth report is the text myproject_csynth.rpt is
    evaluated, with the same report numbers as from the XML (cnnkdd_1, rebuilt from a copy)."""
    import shutil

    from benchmarks import calibrate_estimator as ce
    from hwflow.modelfile import load_model_file

    src = CNN_FIXTURES / "cnnkdd_1"
    if not src.is_dir():
        pytest.skip(f"{src} not present")
    root = tmp_path / "fixtures"
    dst = root / "cnnkdd_kr"
    rep = dst / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    for f in src.iterdir():
        if f.name not in ("keras_model.h5", "myproject_prj"):
            (dst / f.name).symlink_to(f)
    for f in (src / "myproject_prj" / "solution1" / "syn" / "report").iterdir():
        if f.name != "myproject_csynth.xml":  # the text report only, at the top
            (rep / f.name).symlink_to(f)
    load_model_file(src / "keras_model.h5").save(dst / "keras_model.keras")  # QKeras layers, .keras format
    out = tmp_path / "out.json"
    assert ce.main(["--fixtures", str(root), "--no-fit", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["failed_designs"] == {}
    row = res["designs"]["cnnkdd_kr"]
    assert row["model_file"].endswith("keras_model.keras")
    assert row["report"]["LUT"] == 28519 and row["report"]["DSP"] == 61  # = the XML's (vivado-pairs/cnnkdd_3)
    shutil.rmtree(root)


def test_strided_resource_conv_charges_its_reuse_factor_on_output_pixels_only(tf_layers):
    """io_stream Resource conv (nnet_conv_stream.h: the kernel runs only where a window ends): a stride-2
    3x3 conv on 16x16 takes RF + extra cycles on its 7x7 output pixels and one cycle on the other input
    pixels; csynth's worst case (RF on every input pixel) is kept beside it for the calibration."""
    rf = 9
    hm = _convert(_model(tf_layers.Conv2D(4, 3, strides=2), (16, 16, 3)), io_type="io_stream", rf=rf, strategy="Resource")
    cal = Calibration.load()
    le = next(l for l in estimate(hm, board="pynq-z2").layers if l.kind == "conv")
    per = rf + cal.per_tool("stream_resource_extra", "vitis")
    assert le.csynth_ii == 16 * 16 * per
    assert le.ii == 7 * 7 * per + (16 * 16 - 7 * 7) * cal.stream_skip_cycles < le.csynth_ii / 3
    # stride 1, no padding (valid): only the border pixels are skipped
    hm1 = _convert(_model(tf_layers.Conv2D(4, 3), (16, 16, 3)), io_type="io_stream", rf=rf, strategy="Resource")
    le1 = next(l for l in estimate(hm1, board="pynq-z2").layers if l.kind == "conv")
    assert le1.ii == 14 * 14 * per + (16 * 16 - 14 * 14) * cal.stream_skip_cycles


def test_large_rf_dense_input_buffer_is_registers_not_luts(tf_layers):
    """A Dense on a stream keeps its input vector in registers read through one mux per product lane:
    at a reuse factor above n_in there are fewer lanes than outputs and the buffer costs FF, few LUTs
    (the mux share scales with block_factor / n_out); at RF <= n_in nothing changes (poker_5/7's dense
    layers, RF 784 / 196 on 784 inputs: lanes = 1)."""
    import tensorflow as tf

    def dense_at(rf):
        inp = tf.keras.Input((8, 8, 16))
        m = tf.keras.Model(inp, tf_layers.Dense(10)(tf_layers.Flatten()(inp)))
        le = next(l for l in estimate(_convert(m, io_type="io_stream", rf=rf, strategy="Resource")).layers
                  if l.kind == "dense")
        return le

    small, big = dense_at(1024), dense_at(10240)  # n_in 1024, n_out 10: block 10 vs 1
    assert small.reuse_factor == 1024 and big.reuse_factor == 10240
    assert small.features["inbuf"] == pytest.approx(1024 * 16 / 16) and small.features["inreg"] == 0
    assert big.features["inbuf"] == pytest.approx(1024 * 16 / 16 / 10) and big.features["inreg"] == pytest.approx(
        1024 * 16 / 16 * 0.9)
    cal = Calibration.load()
    lut_drop = cal.lut_coef["inbuf"] * 1024 * 0.9
    assert small.lut - big.lut >= 0.8 * lut_drop > 20_000  # tens of thousands of LUTs less
    assert abs(small.ff - big.ff) < 0.1 * small.ff  # the buffer stays in FF
