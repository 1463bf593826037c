"""Calibrate hwflow.estimate against real synthesized hls4ml designs and measure its error.

Two fixture sets. MLP: the (config, csynth report) pairs in ../shared/fixtures/hls-reports/ (see
SOURCES.md there), rebuilt here from the layer sizes in SOURCES.md with seeded random weights.
CNN (and any folder of that layout, --fixtures DIR): one sub-folder per design with design.json,
the model file and csynth reports, rebuilt by benchmarks/cnn_designs.py with the reuse factors,
strategies, precisions and FIFO depths hls4ml wrote (from design.json alone, seeded weights
honouring n_zeros, when there is no model file: marked `synthetic`).

Calibration data are per layer (each layer function's own csynth report) and per design. The
error is measured leave-one-design-out: each design is estimated with constants fitted on the
other designs only (designs sharing one network are left out together); the shipped constants
are the fit on all designs.

    python -m benchmarks.calibrate_estimator [--fixtures DIR] [--calibration FILE] [--no-fit] --json OUT

Fit (default): writes FILE (default hwflow/estimate/calibration.json) and OUT (default
benchmarks/results/estimator_calibration.json) with .md and .png beside it. --no-fit: estimates
the designs of DIR with FILE's constants and writes OUT only (per design and per layer estimate vs
report, median and worst absolute relative error per column).
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hwflow.estimate.calibration import LUT_FEATURES
from hwflow.paths import write_text_atomic

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "hls-reports"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "estimator_calibration.md"
METRICS = ("DSP", "LUT", "FF", "BRAM_18K", "latency", "II")
REPORT_DIR = "myproject_prj/solution1/syn/report"
Z33 = "_".join(["0"] * 33)  # the mangled Vivado HLS 2019.2/2020.1 dense_latency module names


@dataclass
class Design:
    name: str
    role: str  # usable | flagged
    build: str  # builder key
    backend: str
    io_type: str
    part: str
    clock: float
    rf: int
    modules: dict = field(default_factory=dict)  # layer name -> exact module name (its <module>_csynth.xml)
    group: str = ""  # designs sharing one trained model are left out together
    precision: str = "fixed<16,6>"
    strategy: str = "Latency"
    prune: float = 0.0
    layer_precision: dict | None = None
    note: str = ""


def _mlp_modules(prefix: str) -> dict:
    return {"fc1": f"dense_latency_{Z33}_s", "fc2": f"dense_latency_{Z33}_1", "fc3": f"dense_latency_{Z33}",
            "output": f"dense_latency_{prefix}config11_0_0_0_0_0_0",
            "relu1": "relu_ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0_relu_config4_s",
            "relu2": "relu_ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0_relu_config7_s",
            "relu3": "relu_ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0_relu_config10_s",
            "softmax": "softmax_stable_ap_fixed_ap_fixed_16_6_5_3_0_softmax_config13_s"}


DUMMY_MODULES = {"dense_a": f"dense_latency_{Z33}_s", "dense_b": "dense_latency_ap_fixed_ap_fixed_16_6_5_3_0_config4_0_0_0_0",
                 "relu_a": "relu_ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0_relu_config3_s",
                 "softmax": "softmax_stable_ap_fixed_ap_fixed_16_6_5_3_0_softmax_config5_s"}
NRP = "ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0"
MLP8 = {"weight": "fixed<8,1>", "bias": "fixed<8,1>"}
DESIGNS = [
    Design("hlstutorial_1", "usable", "jet_mlp", "Vivado", "io_parallel", "xcu250-figd2104-2L-e", 5, 1,
           _mlp_modules("ap_fixed_ap_fixed_16_6_5_3_0_"), group="hlstutorial", note="Vivado HLS 2019.2"),
    Design("hlstutorial_2", "usable", "jet_mlp", "Vivado", "io_parallel", "xcu250-figd2104-2L-e", 5, 2,
           _mlp_modules("ap_fixed_ap_fixed_16_6_5_3_0_"), group="hlstutorial",
           note="Vivado HLS 2019.2; same trained model as hlstutorial_1"),
    Design("nrp6_1", "usable", "jet_mlp", "Vitis", "io_parallel", "xcu250-figd2104-2L-e", 5, 1,
           {"fc1": f"dense_latency_{NRP}_config2_s", "fc2": f"dense_latency_{NRP}_config5_s",
            "fc3": f"dense_latency_{NRP}_config8_s", "output": f"dense_latency_{NRP}_config11_s",
            "relu1": f"relu_{NRP}_relu_config4_s", "relu2": f"relu_{NRP}_relu_config7_s",
            "relu3": f"relu_{NRP}_relu_config10_s",
            "softmax": "softmax_stable_ap_fixed_ap_fixed_16_6_5_3_0_softmax_config13_s"}, note="Vitis HLS 2022.2"),
    Design("lhc_anomaly_1", "usable", "lhc_ae", "Vitis", "io_parallel", "xc7a50t-csg324-1", 5, 4,
           {"encoder_1": f"dense_latency_{NRP}_config2_s", "bottleneck": f"dense_latency_{NRP}_config4_s",
            "decoder_1": f"dense_latency_{NRP}_config6_s", "output_layer": f"dense_latency_{NRP}_config8_s",
            "encoder_1_relu": f"relu_{NRP}_relu_config3_s", "bottleneck_relu": f"relu_{NRP}_relu_config5_s",
            "decoder_1_relu": f"relu_{NRP}_relu_config7_s"},
           note="hls4ml 1.0 Vivado backend run through Vitis HLS 2023.2"),
    Design("dnnonsilicon_1", "usable", "dummy_mlp", "Vivado", "io_parallel", "xc7z020clg400-1", 25, 1,
           DUMMY_MODULES, note="Vivado HLS 2020.1"),
    Design("dnnonsilicon_2", "usable", "dummy_mlp", "Vivado", "io_parallel", "xc7z020clg400-1", 25, 16,
           DUMMY_MODULES, prune=0.75, note="Vivado HLS 2020.1; 75% pruned (random mask here)"),
    Design("dnnonsilicon_3", "usable", "mnist_cnn", "Vivado", "io_stream", "xcu50-fsvh2104-2-e", 25, 16,
           {"conv_a": "conv_2d_cl_array_ap_fixed_1u_array_ap_fixed_16_6_5_3_0_4u_config2_s",
            "relu_a": "relu_array_ap_fixed_4u_array_ap_fixed_16_6_5_3_0_4u_relu_config3_s",
            "pool_a": "pooling2d_cl_array_ap_fixed_4u_array_ap_fixed_16_6_5_3_0_4u_config4_s",
            "conv_b": "conv_2d_cl_array_ap_fixed_4u_array_ap_fixed_16_6_5_3_0_8u_config5_s",
            "relu_b": "relu_array_ap_fixed_8u_array_ap_fixed_16_6_5_3_0_8u_relu_config6_s",
            "pool_b": "pooling2d_cl_array_ap_fixed_8u_array_ap_fixed_16_6_5_3_0_8u_config7_s",
            "dense": "dense_array_ap_fixed_8u_array_ap_fixed_16_6_5_3_0_10u_config9_s",
            "softmax": "softmax_array_array_ap_fixed_16_6_5_3_0_10u_softmax_config10_s"}, note="Vivado HLS 2020.1"),
    Design("dnnonsilicon_4", "usable", "small_cnn", "Vivado", "io_stream", "xcu280-fsvh2892-2L-e", 10, 3,
           {"conv_a": "conv_2d_cl_array_ap_fixed_1u_array_ap_fixed_16_6_5_3_0_4u_config2_s",
            "relu_a": "relu_array_ap_fixed_4u_array_ap_fixed_16_6_5_3_0_4u_relu_config3_s",
            "pool_a": "pooling2d_cl_array_ap_fixed_4u_array_ap_fixed_16_6_5_3_0_4u_config4_s",
            "dense": "dense_array_ap_fixed_4u_array_ap_fixed_16_6_5_3_0_12u_config6_s",
            "softmax": "softmax_array_array_ap_fixed_16_6_5_3_0_12u_softmax_config7_s"}, note="Vivado HLS 2020.1"),
    Design("ece226_1", "usable", "har_cnn1d", "Vitis", "io_stream", "xcu250-figd2104-2L-e", 5, 1,
           {"pad": "zeropad1d_cl_array_ap_fixed_9u_array_ap_fixed_16_6_5_3_0_9u_config8_s",
            "conv_a": "conv_1d_cl_array_ap_fixed_9u_array_ap_fixed_16_6_5_3_0_16u_config2_s",
            "relu_a": "relu_array_ap_fixed_16u_array_ap_fixed_16_6_5_3_0_16u_relu_config4_s",
            "gpool": "global_pooling1d_cl_array_array_ap_fixed_16_6_5_3_0_16u_config5_s",
            "dense": "dense_array_ap_fixed_16u_array_ap_fixed_16_6_5_3_0_6u_config6_s",
            "softmax": "softmax_array_array_ap_fixed_16_6_5_3_0_6u_softmax_config7_s"}, note="Vitis HLS 2024.1"),
    Design("mlpestimator_1", "flagged", "jet_mlp", "Vitis", "io_parallel", "xc7z007s-clg225-2", 3.33, 1,
           layer_precision=MLP8, note="stale config; mul forced to DSP (config_op)"),
    Design("mlpestimator_2", "flagged", "jet_mlp", "Vitis", "io_parallel", "xc7z007s-clg225-2", 3.33, 100,
           layer_precision=MLP8, note="stale config (RF=100 from parameters.h); mul forced to DSP"),
]
EXCLUDED = {
    "hls4mlearly_1": "no hls4ml config (2017 keras-to-hls)",
    "dndhls4ml_1": "no config, text report only",
    "l1jettagger_1": "config part differs from the synthesized part (SOURCES.md caveat); layer sizes not rebuilt",
    "lfads_1": "GRU model, synthesis report only",
    "kv260vu_1": "Distributed Arithmetic strategy (not modelled)",
    "hlstutorial_3": "pruned QKeras model, pruning mask unknown; AXI wrapper top",
    "autoencoder_1": "reuse factors changed by the old hls4ml (per-pixel II 20 for RF 64): layer config not recoverable",
    "mlfpga_1": "layer lengths / kernel sizes not recoverable from the reports",
    "mlfpga_2": "layer lengths / kernel sizes not recoverable from the reports",
}


def build(key: str, seed: int, prune: float):
    import numpy as np
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(seed)
    if key == "jet_mlp":
        inp = L.Input((16,), name="fc1_input")
        x = inp
        for i, n in enumerate((64, 32, 32), 1):
            x = L.Activation("relu", name=f"relu{i}")(L.Dense(n, name=f"fc{i}")(x))
        out = L.Softmax(name="softmax")(L.Dense(5, name="output")(x))
    elif key == "dummy_mlp":
        inp = L.Input((4,), name="input_a")
        x = L.Activation("relu", name="relu_a")(L.Dense(128, name="dense_a")(inp))
        out = L.Softmax(name="softmax")(L.Dense(3, name="dense_b")(x))
    elif key == "lhc_ae":
        inp = L.Input((8,), name="input_layer")
        x = L.Dense(6, activation="relu", name="encoder_1")(inp)
        x = L.Dense(3, activation="relu", name="bottleneck")(x)
        x = L.Dense(6, activation="relu", name="decoder_1")(x)
        out = L.Dense(8, name="output_layer")(x)
    elif key == "mnist_cnn":
        inp = L.Input((28, 28, 1), name="input_a")
        x = L.MaxPooling2D(4, name="pool_a")(L.Activation("relu", name="relu_a")(L.Conv2D(4, 3, name="conv_a")(inp)))
        x = L.MaxPooling2D(2, name="pool_b")(L.Activation("relu", name="relu_b")(L.Conv2D(8, 3, name="conv_b")(x)))
        out = L.Softmax(name="softmax")(L.Dense(10, name="dense")(L.Flatten(name="flatten")(x)))
    elif key == "small_cnn":
        inp = L.Input((28, 28, 1), name="input_a")
        x = L.MaxPooling2D(2, name="pool_a")(L.Activation("relu", name="relu_a")(L.Conv2D(4, 4, name="conv_a")(inp)))
        out = L.Softmax(name="softmax")(L.Dense(12, name="dense")(L.Flatten(name="flatten")(x)))
    elif key == "har_cnn1d":
        inp = L.Input((128, 9), name="input_a")
        x = L.Activation("relu", name="relu_a")(L.Conv1D(16, 3, name="conv_a")(L.ZeroPadding1D(1, name="pad")(inp)))
        out = L.Softmax(name="softmax")(L.Dense(6, name="dense")(L.GlobalAveragePooling1D(name="gpool")(x)))
    else:
        raise KeyError(key)
    model = tf.keras.Model(inp, out)
    if prune:
        rng = np.random.default_rng(seed)
        for layer in model.layers:
            if isinstance(layer, L.Dense):
                w, b = layer.get_weights()
                layer.set_weights([w * (rng.random(w.shape) >= prune), b])
    return model


def convert(d: Design, seed: int = 0):
    import hls4ml

    model = build(d.build, seed, d.prune)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=d.backend,
                                               default_precision=d.precision)
    cfg["Model"].update(ReuseFactor=d.rf, Strategy=d.strategy, Precision=d.precision)
    for name, lc in cfg["LayerName"].items():
        lc.pop("ReuseFactor", None)
        prec = lc.get("Precision")
        if isinstance(prec, dict):
            for k in list(prec):
                prec[k] = d.precision
            if d.layer_precision and "weight" in prec:
                prec.update(d.layer_precision)
        elif prec is not None:
            lc["Precision"] = d.precision
    return hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, io_type=d.io_type, backend=d.backend, part=d.part, clock_period=d.clock,
        output_dir=f"/tmp/hwflow-calib/{d.name}")


def _read_xml(path: Path) -> dict:
    root = ET.parse(path).getroot()
    res = {c.tag: int(c.text) for c in root.find("AreaEstimates/Resources") if c.text and c.text.isdigit()}
    lat = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    return {"DSP": res.get("DSP48E", res.get("DSP", 0)), "LUT": res.get("LUT", 0), "FF": res.get("FF", 0),
            "BRAM_18K": res.get("BRAM_18K", 0), "latency": int(lat.find("Worst-caseLatency").text),
            "II": int(lat.find("Interval-max").text)}


def read_report(d: Design) -> dict:
    return _read_xml(FIXTURES / d.name / REPORT_DIR / "myproject_csynth.xml")


def read_layers(d: Design) -> dict:
    """layer name -> that layer function's own csynth numbers."""
    return {layer: _read_xml(FIXTURES / d.name / REPORT_DIR / f"{module}_csynth.xml")
            for layer, module in d.modules.items()}


def metrics(est) -> dict:
    """The estimate in csynth's conventions (totals; worst-case latency / II), as the reports state them."""
    return {"DSP": est.totals["DSP"], "LUT": est.totals["LUT"], "FF": est.totals["FF"],
            "BRAM_18K": est.totals["BRAM_18K"], "latency": est.csynth_latency_cycles, "II": est.csynth_ii_cycles}


def _lat(le) -> int:
    return le.csynth_latency if le.csynth_latency is not None else le.latency


def _ii(le) -> int:
    return le.csynth_ii if le.csynth_ii is not None else le.ii


def rel_err(est: float, rep: float) -> float:
    return abs(est - rep) / max(abs(rep), 1.0)


def _log2(a: float, b: float) -> float:
    return math.log((a + 1.0) / (b + 1.0)) ** 2


# --- fitting -------------------------------------------------------------------------------


class Data:
    """Converted models and reports of the designs (converted once, estimated often): the MLP
    fixtures (`Design`, rebuilt from SOURCES.md) and the CNN fixtures (`CnnDesign`, rebuilt from
    their model files and design.json, see benchmarks/cnn_designs.py)."""

    def __init__(self, designs, cnn=()):
        self.designs = list(designs) + list(cnn)
        self.models = {d.name: convert(d) for d in designs}
        self.reports = {d.name: read_report(d) for d in designs}
        self.layers = {d.name: read_layers(d) for d in designs}
        self.tools = {d.name: None for d in designs}
        for d in cnn:
            self.models[d.name], self.reports[d.name], self.layers[d.name] = d.hls_model, d.report, d.layers
            self.tools[d.name] = d.tool

    def est(self, d, cal):
        return _estimate(self.models[d.name], d.clock, cal, self.tools[d.name])


def _estimate(hls_model, clock, cal, tool):
    import inspect

    from hwflow.estimate import estimate

    # `tool` is an input since the per-tool io_stream schedule; the committed estimator before it
    # (for the "before" numbers) has no such argument
    kw = {"tool": tool} if tool and "tool" in inspect.signature(estimate).parameters else {}
    return estimate(hls_model, board=None, clock_period_ns=clock, calibration=cal, **kw)


def tool_of(data: Data, d) -> str:
    from hwflow.estimate import _tool

    return data.tools.get(d.name) or _tool(d.backend)


def fit(data: Data, fit_set: list[Design], base):
    """Constants from the fit designs: DSP model on per-layer DSPs, latency constants on per-layer
    latencies/intervals + design totals, FIFO threshold on BRAM totals, LUT/FF coefficients by
    relative non-negative least squares on per-layer LUT/FF."""
    import numpy as np
    from scipy.optimize import nnls

    from hwflow.estimate import LUT_FEATURES, ff_density

    def layer_loss(cal, keys):
        loss = 0.0
        for d in fit_set:
            est = data.est(d, cal)
            by_name = {le.name: le for le in est.layers}
            rep_layers = data.layers[d.name]
            for name, rep in rep_layers.items():
                le = by_name.get(name)
                if le is None:
                    continue
                for k in keys:
                    if k in ("latency", "II") and le.kind not in ("dense", "conv", "depthwise", "separable", "softmax"):
                        continue
                    loss += _log2({"DSP": le.dsp, "latency": _lat(le), "II": _ii(le)}[k], rep[k])
            tot = metrics(est)
            for k in keys:
                loss += 2.0 * _log2(tot[k], data.reports[d.name][k])
        return loss

    # the weights are the models' own (trained for the CNN fixtures, seeded random for the MLP
    # rebuilds): only the significant-bit thresholds are fitted
    grid = [replace(base, dsp_min_sig_bits={"vivado_hls": tv, "vitis": tt}, dsp_sig_per_input_bit=sl)
            for tv, tt, sl in itertools.product(range(2, 9), range(2, 9), (0.0, 0.25, 0.5))]
    best = min(grid, key=lambda c: layer_loss(c, ("DSP",)))
    grid = [replace(best, dense_depth_ns=dd, reuse_extra_cycles=re_, vivado_ii_from_dsp=vi, stream_pixel_extra=px)
            for dd, re_, vi, px in itertools.product((2.5, 5.0, 10.0), (0, 1, 2), (False, True), (0, 1, 2, 4, 8))]
    best = min(grid, key=lambda c: layer_loss(c, ("latency", "II")))
    grid = [replace(best, latency_rf_cycles=v) for v in (1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 32)]
    best = min(grid, key=lambda c: layer_loss(c, ("latency", "II")))
    # per-tool io_stream schedule, one table entry at a time (coordinate descent, two sweeps)
    for _ in range(2):
        for name, values in (("stream_pixel_min", (1, 2, 3)), ("stream_resource_extra", range(0, 9)),
                             ("stream_resource_rf1", range(1, 15))):
            for tool in ("vivado_hls", "vitis"):
                # the current value first: on a tie (no fit design informs it) the prior stays
                cur = getattr(best, name)[tool]
                cands = [replace(best, **{name: {**getattr(best, name), tool: v}}) for v in [cur, *values]]
                best = min(cands, key=lambda c: layer_loss(c, ("latency", "II")))
    grid = [replace(best, softmax_depth_ns=sm, parallel_call_overhead=po)
            for sm, po in itertools.product((5.0, 10.0, 15.0, 20.0, 25.0), (0.0, 0.25, 0.5, 0.75, 1.0))]
    best = min(grid, key=lambda c: layer_loss(c, ("latency",)))
    best = fit_fifo(best, fit_set)
    rows, targets = [], {"LUT": [], "FF": []}
    for d in fit_set:
        by_name = {le.name: le for le in data.est(d, best).layers}
        for name, rep in data.layers[d.name].items():
            if name not in by_name:
                continue
            feats = by_name[name].features
            # relative least squares; FF reports of 0 (combinational layers at slow clocks) are
            # weighted like 1000 so that they do not pull every coefficient to zero
            # (weights 1/sqrt(report): relative enough that small layers count, absolute enough
            # that the big layers, which make the totals, count more)
            scale = 1.0 / math.sqrt(max(rep["LUT"], 100.0)), 1.0 / math.sqrt(max(rep["FF"], 1000.0))
            rows.append((feats, scale, ff_density(d.clock), tool_of(data, d)))
            targets["LUT"].append(rep["LUT"])
            targets["FF"].append(rep["FF"])
    # one coefficient table for all tools: tables per tool (which hwflow.estimate accepts) were
    # tried and measured worse leave-one-design-out (MLP LUT median 22% -> 68%, CNN LUT 50% -> 56%):
    # too few designs per tool for 9 coefficients each
    coefs = {"lut_coef": {}, "ff_coef": {}}
    for tool in ("all",):
        sel = [i for i, r in enumerate(rows) if tool == "all" or r[3] == tool]
        for res, si in (("LUT", 0), ("FF", 1)):
            key = "lut_coef" if res == "LUT" else "ff_coef"
            if len(sel) < 2 * len(FITTED):
                coefs[key][tool] = coefs[key]["all"]
                continue
            a = np.array([[_feature(rows[i][0], k, res) * rows[i][1][si] * (rows[i][2] if res == "FF" else 1.0)
                           for k in FITTED] for i in sel])
            b = np.array([targets[res][i] * rows[i][1][si] for i in sel])
            x, _ = nnls(a, b)
            fitted = {k: round(float(v), 4) for k, v in zip(FITTED, x)}
            # the large-RF Dense input buffer (`inreg`, one design has it: pixel_2's dense1, RF 301 on 43
            # inputs): registers, priced as the input buffer's FF, no LUT (csynth: 1,364 LUT, 828 FF)
            coefs[key][tool] = {**fitted, "inreg": fitted["inbuf"] if res == "FF" else 0.0}
    coefs = {key: table["all"] for key, table in coefs.items()}
    return replace(best, **coefs)


# `inreg` is not fitted (one design has it, which leave-one-design-out cannot fit): its FF shares the
# input buffer's coefficient (fitted on inbuf + inreg), its LUT is 0
FITTED = tuple(k for k in LUT_FEATURES if k != "inreg")


def _feature(feats: dict, k: str, res: str) -> float:
    if k == "inbuf" and res == "FF":
        return feats.get("inbuf", 0.0) + feats.get("inreg", 0.0)
    return feats.get(k, 0.0)


FIFO_TOOLS = ("vivado_hls", "vitis")


FIFO_MIN_GROUPS = 2  # networks whose FIFO tables must agree before a tool's FIFO rule replaces the prior
FIFO_MIN_RIGHT = 0.95  # share of a tool's FIFOs the rule must size exactly


def fit_fifo(base, fit_set):
    """The FIFO constants per tool from the FIFO tables of the fit designs' core reports (each row:
    depth, bits, BRAM_18K as built): split per element when most of the tool's rows carry the
    per-element names, then the SRL thresholds and BRAM width that make each design's FIFO BRAM
    total closest (log error; ties: the larger SRL threshold, then the narrower BRAM). The rule
    replaces the tool's prior only when the tables of at least FIFO_MIN_GROUPS networks are there
    and it sizes FIFO_MIN_RIGHT of their FIFOs exactly: where the tool builds the same FIFOs
    differently in different designs (Vitis HLS: pixel_1 vs pixel_4, same network, other part and
    clock) no rule is supported and the prior stays."""
    from hwflow.estimate import _fifo_bram

    best = base
    for tool in FIFO_TOOLS:
        designs = [d for d in fit_set if getattr(d, "fifos", None) and getattr(d, "tool", None) == tool]
        rows = [r for d in designs for r in d.fifos]
        if len({d.group or d.name for d in designs}) < FIFO_MIN_GROUPS:
            continue
        split = sum(r.per_element for r in rows) * 2 > len(rows)

        def loss(cal):
            return sum(_log2(sum(_fifo_bram(r.depth, r.bits, cal, tool) for r in d.fifos),
                             sum(r.bram_18k for r in d.fifos)) for d in designs)

        cands = [replace(best, fifo_per_element={**best.fifo_per_element, tool: split},
                         fifo_bram_min_bits={**best.fifo_bram_min_bits, tool: b},
                         fifo_srl_depth={**best.fifo_srl_depth, tool: sd},
                         fifo_bram_width={**best.fifo_bram_width, tool: w})
                 for b, sd, w in itertools.product((8192, 4096, 2048, 1024, 512, 256), (1, 2, 16, 48), (18, 36))]
        cand = min(cands, key=loss)
        right = sum(_fifo_bram(r.depth, r.bits, cand, tool) == r.bram_18k for r in rows)
        if right >= FIFO_MIN_RIGHT * len(rows):
            best = cand
    return best


def fifo_check(cnn, cal) -> dict:
    """Per design: the FIFO BRAM of its report's FIFO table vs the estimator's rule on the same rows,
    and how many FIFOs the rule puts on the wrong side (SRL vs BRAM) or sizes wrong."""
    from hwflow.estimate import _fifo_bram

    out = {}
    for d in cnn:
        if not d.fifos:
            continue
        est = [_fifo_bram(r.depth, r.bits, cal, d.tool) for r in d.fifos]
        out[d.name] = {"tool": d.tool, "fifos": len(d.fifos), "per_element": sum(r.per_element for r in d.fifos),
                       "bram_report": sum(r.bram_18k for r in d.fifos), "bram_estimate": sum(est),
                       "fifos_wrong": sum(e != r.bram_18k for e, r in zip(est, d.fifos))}
    return out


def fifo_md(check: dict) -> list[str]:
    lines = ["| design | tool | FIFOs (split per element) | FIFO BRAM_18K report | rule | FIFOs sized wrong |",
             "|---|---|---|---|---|---|"]
    for n, c in check.items():
        lines.append(f"| {n} | {c['tool']} | {c['fifos']} ({c['per_element']}) | {c['bram_report']} | "
                     f"{c['bram_estimate']} | {c['fifos_wrong']} |")
    return lines


def layer_rows(data: Data, d: Design, cal) -> list[dict]:
    by_name = {le.name: le for le in data.est(d, cal).layers}
    out = []
    for name, rep in data.layers[d.name].items():
        le = by_name.get(name)
        if le is None:
            continue
        out.append({"design": d.name, "layer": name, "kind": le.kind,
                    "est": {"DSP": le.dsp, "LUT": le.lut, "FF": le.ff, "latency": _lat(le), "II": _ii(le)},
                    "rep": {k: rep[k] for k in ("DSP", "LUT", "FF", "latency", "II")}})
    return out


# --- output --------------------------------------------------------------------------------


def summary(names, reports, out) -> list[str]:
    lines = ["| metric | median error | worst error (design) |", "|---|---|---|"]
    for m in METRICS:
        errs = [(rel_err(out[n][m], reports[n][m]), n) for n in names]
        worst = max(errs)
        lines.append(f"| {m} | {100 * statistics.median(e for e, _ in errs):.0f}% | "
                     f"{100 * worst[0]:.0f}% ({worst[1]}) |")
    return lines


def table(designs, reports, out) -> list[str]:
    lines = ["| design | role | " + " | ".join(f"{m} est / rep (err)" for m in METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for d in designs:
        cells = []
        for m in METRICS:
            e, r = out[d.name][m], reports[d.name][m]
            cells.append(f"{e} / {r} ({100 * rel_err(e, r):.0f}%)")
        lines.append(f"| {d.name} | {d.role} | " + " | ".join(cells) + " |")
    return lines


def layer_table(rows) -> list[str]:
    keys = ("DSP", "LUT", "FF", "latency", "II")
    lines = ["| design | layer | kind | " + " | ".join(f"{k} est / rep" for k in keys) + " |",
             "|---|---|---|" + "---|" * len(keys)]
    for r in rows:
        lines.append(f"| {r['design']} | {r['layer']} | {r['kind']} | "
                     + " | ".join(f"{r['est'][k]} / {r['rep'][k]}" for k in keys) + " |")
    return lines


def layer_summary(rows) -> list[str]:
    lines = ["| metric | layers | median error | worst error (design/layer) |", "|---|---|---|---|"]
    for k in ("DSP", "LUT", "FF", "latency", "II"):
        sel = [r for r in rows if not (k == "DSP" and r["rep"]["DSP"] == 0 and r["est"]["DSP"] == 0)
               and not (k in ("latency", "II") and r["kind"] not in ("dense", "conv", "softmax"))]
        errs = [(rel_err(r["est"][k], r["rep"][k]), f"{r['design']}/{r['layer']}") for r in sel]
        worst = max(errs)
        lines.append(f"| {k} | {len(errs)} | {100 * statistics.median(e for e, _ in errs):.0f}% | "
                     f"{100 * worst[0]:.0f}% ({worst[1]}) |")
    return lines


# --- the command -----------------------------------------------------------------------------

CNN_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "hls-reports-cnn"
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


def _layer_cmp(d, est) -> list[dict]:
    by_name = {le.name: le for le in est.layers}
    out = []
    for name, rep in d.layers.items():
        le = by_name.get(name)
        if le is None:
            out.append({"layer": name, "kind": None, "estimate": None, "report": rep,
                        "note": "not in the 1.3.0 graph"})
            continue
        out.append({"layer": name, "kind": le.kind, "report": rep,
                    # a layer module's report holds no FIFO (they are in the top level)
                    "estimate": {"DSP": le.dsp, "LUT": le.lut, "FF": le.ff,
                                 "BRAM_18K": le.bram_18k - getattr(le, "fifo_bram_18k", 0),
                                 "latency": _lat(le), "II": _ii(le)}})
    return out


def design_row(d, est) -> dict:
    """Estimate vs report of one CNN design, per design and per layer."""
    m = metrics(est)
    return {"estimate": m, "report": d.report, "error": {k: rel_err(m[k], d.report[k]) for k in METRICS},
            "synthetic": d.synthetic, "model_file": d.model_file.name if d.model_file else None,
            "tool": d.tool_version, "estimator_tool": est.tool if hasattr(est, "tool") else None,
            "part": d.part, "clock_ns": d.clock, "group": d.group, "notes": list(d.notes),
            "layers": _layer_cmp(d, est)}


def error_summary(rows: dict) -> dict:
    """Median and worst absolute relative error per column over the designs in `rows`."""
    out = {}
    for m in METRICS:
        errs = sorted((rel_err(r["estimate"][m], r["report"][m]), n) for n, r in rows.items())
        if errs:
            out[m] = {"median": statistics.median(e for e, _ in errs), "worst": errs[-1][0],
                      "worst_design": errs[-1][1], "n": len(errs)}
    return out


def summary_md(summ: dict) -> list[str]:
    lines = ["| metric | median error | worst error (design) |", "|---|---|---|"]
    for m, s in summ.items():
        lines.append(f"| {m} | {100 * s['median']:.0f}% | {100 * s['worst']:.0f}% ({s['worst_design']}) |")
    return lines


def rows_md(rows: dict) -> list[str]:
    lines = ["| design | tool | " + " | ".join(f"{m} est / rep (err)" for m in METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for n, r in rows.items():
        cells = [f"{r['estimate'][m]} / {r['report'][m]} ({100 * r['error'][m]:.0f}%)" for m in METRICS]
        lines.append(f"| {n}{' (synthetic weights)' if r.get('synthetic') else ''} | {r.get('tool', '-')} | "
                     + " | ".join(cells) + " |")
    return lines


def plot(rows: dict, path: Path, title: str) -> None:
    """Estimate vs report per column (log-log, one point per design, the y = x line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 7.5))
    for ax, m in zip(axes.ravel(), METRICS):
        xs = [max(r["report"][m], 0.5) for r in rows.values()]
        ys = [max(r["estimate"][m], 0.5) for r in rows.values()]
        ax.scatter(xs, ys, s=18)
        for n, x, y in zip(rows, xs, ys):
            ax.annotate(n, (x, y), fontsize=6)
        lo, hi = min(xs + ys) / 1.5, max(xs + ys) * 1.5
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(m)
        ax.set_xlabel("report (csynth)")
        ax.set_ylabel("estimate")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _versions() -> dict:
    import hls4ml

    return {"hls4ml": hls4ml.__version__}


def evaluate(cnn, cal) -> dict:
    return {d.name: design_row(d, _estimate(d.hls_model, d.clock, cal, d.tool)) for d in cnn}


def run_no_fit(args, cnn) -> int:
    from hwflow.estimate import Calibration

    cal = Calibration.load(args.calibration)
    rows = evaluate(cnn, cal)
    summ = error_summary(rows)
    out = {"mode": "no-fit", "calibration": str(args.calibration), "fixtures": str(args.fixtures), **_versions(),
           "synthetic_designs": [n for n, r in rows.items() if r["synthetic"]], "failed_designs": args.failed,
           "summary": summ, "fifo_tables": fifo_check(cnn, cal), "designs": rows}
    if args.json:
        write_text_atomic(args.json, json.dumps(out, indent=1, default=float) + "\n")
    md = [f"# hwflow.estimate vs csynth on {args.fixtures.name} (constants of {args.calibration.name}, no fit)", "",
          *summary_md(summ), "", *rows_md(rows), "",
          "## FIFO tables of the core reports vs the estimator's FIFO rule", "", *fifo_md(out["fifo_tables"]), ""]
    if args.md:
        write_text_atomic(args.md, "\n".join(md))
    print("\n".join(summary_md(summ)))
    return 0


def run_fit(args, cnn) -> int:
    from tqdm import tqdm

    from hwflow.estimate import Calibration

    global FIXTURES
    FIXTURES = args.mlp_fixtures
    mlp = [d for d in DESIGNS if (FIXTURES / d.name).is_dir()] if not args.no_mlp else []
    data = Data(mlp, cnn)
    usable = [d for d in mlp if d.role == "usable"] + list(cnn)
    group = {d.name: (d.group or d.name) for d in usable}
    loo_est: dict = {}
    for g in tqdm(sorted(set(group.values())), desc="leave-one-design-out"):
        cal = fit(data, [d for d in usable if group[d.name] != g], Calibration())
        for d in usable:
            if group[d.name] == g:
                loo_est[d.name] = data.est(d, cal)
    final = fit(data, usable, Calibration())
    cnn_rows = {d.name: design_row(d, loo_est[d.name]) for d in cnn}
    cnn_fit = evaluate(cnn, final)
    mlp_rows = {d.name: {"estimate": metrics(loo_est[d.name]), "report": data.reports[d.name],
                         "error": {k: rel_err(metrics(loo_est[d.name])[k], data.reports[d.name][k]) for k in METRICS},
                         "tool": d.note.split(";")[0]} for d in mlp if d.role == "usable"}
    summ = {"cnn": error_summary(cnn_rows), "mlp": error_summary(mlp_rows), "cnn_in_sample": error_summary(cnn_fit)}
    write_text_atomic(args.calibration, json.dumps({
        "_comment": "written by benchmarks/calibrate_estimator.py; do not edit by hand",
        "constants": asdict(final), **_versions(),
        "usable_designs": [d.name for d in usable],
        "leave_one_out_error": summ["mlp"], "leave_one_out_error_cnn": summ["cnn"],
        "leave_one_out": {n: {"estimate": r["estimate"], "report": r["report"]} for n, r in {**mlp_rows, **cnn_rows}.items()},
    }, indent=1, default=float) + "\n")
    out = {"mode": "fit", "fixtures": str(args.fixtures), "mlp_fixtures": str(FIXTURES), **_versions(),
           "groups": group, "summary": summ, "designs": cnn_rows, "mlp_designs": mlp_rows,
           "constants": asdict(final), "fifo_tables": fifo_check(cnn, final), "synthetic_designs": [n for n, r in cnn_rows.items() if r["synthetic"]],
           "failed_designs": args.failed}
    json_path = args.json or RESULTS_DIR / "estimator_calibration.json"
    write_text_atomic(json_path, json.dumps(out, indent=1, default=float) + "\n")
    png = json_path.with_suffix(".png")
    plot(cnn_rows, png, "CNN designs, leave-one-design-out: estimate vs csynth report")
    tools = sorted({r["tool"] for r in cnn_rows.values()})
    md = ["# hwflow.estimate vs real synthesis reports", "",
          "Written by `benchmarks/calibrate_estimator.py` (reproduce: `.venv/bin/python -m benchmarks.calibrate_estimator "
          "--json benchmarks/results/estimator_calibration.json`). Reports: csynth (HLS estimates; latency worst case "
          "and II max, in cycles). CNN designs: rebuilt from their model files and design.json with hls4ml 1.3.0 "
          "(benchmarks/cnn_designs.py); MLP designs: rebuilt from SOURCES.md with seeded random weights.", "",
          f"Leave-one-design-out: each design is estimated with constants fitted on the other designs; designs "
          f"sharing one network are left out together (groups: {', '.join(sorted(set(group.values())))}).", "",
          f"## CNN designs ({len(cnn_rows)}; tools: {', '.join(tools)}), leave-one-design-out", "",
          *summary_md(summ["cnn"]), "", *rows_md(cnn_rows), "", f"![estimate vs report]({png.name})", "",
          "## MLP designs (leave-one-design-out)", "", *summary_md(summ["mlp"]), "", *rows_md(mlp_rows), "",
          "## CNN designs with the shipped constants (fit on all designs, in-sample)", "",
          *summary_md(summ["cnn_in_sample"]), "",
          "## FIFO tables of the core reports vs the fitted FIFO rule (in-sample)", "", *fifo_md(out["fifo_tables"]), "",
          "## Notes per CNN design (where hls4ml 1.3.0 differs from the written project)", ""]
    md += [f"- {n}: " + ("; ".join(r["notes"]) or "none") for n, r in cnn_rows.items()]
    md += ["", "## Per layer (CNN, leave-one-design-out)", "",
           "| design | layer | kind | " + " | ".join(f"{m} est / rep" for m in METRICS) + " |",
           "|---|---|---|" + "---|" * len(METRICS)]
    for n, r in cnn_rows.items():
        for lr in r["layers"]:
            if lr["estimate"] is None:
                continue
            md.append(f"| {n} | {lr['layer']} | {lr['kind']} | "
                      + " | ".join(f"{lr['estimate'][m]} / {lr['report'][m]}" for m in METRICS) + " |")
    md += ["", "## Fitted constants (all designs)", "", "```json", json.dumps(asdict(final), indent=1), "```", ""]
    write_text_atomic(args.md or json_path.with_suffix(".md"), "\n".join(md))
    print("CNN (leave-one-design-out)\n" + "\n".join(summary_md(summ["cnn"])))
    print("MLP (leave-one-design-out)\n" + "\n".join(summary_md(summ["mlp"])))
    return 0


def main(argv=None) -> int:
    import argparse
    import logging
    import os
    import warnings

    from hwflow.errors import ReportError
    from hwflow.estimate import CALIBRATION_PATH

    ap = argparse.ArgumentParser(description="Rebuild synthesized hls4ml designs, estimate them, compare with "
                                             "their csynth reports; fit the estimator's constants unless --no-fit.")
    ap.add_argument("--fixtures", type=Path, default=CNN_FIXTURES,
                    help="folder of designs, one sub-folder each with design.json, the model file and csynth reports")
    ap.add_argument("--mlp-fixtures", type=Path, default=FIXTURES, help="the MLP report sets (fit only)")
    ap.add_argument("--no-mlp", action="store_true", help="fit on the --fixtures designs only")
    ap.add_argument("--calibration", type=Path, default=CALIBRATION_PATH,
                    help="constants to estimate with (--no-fit) or to write (fit)")
    ap.add_argument("--no-fit", action="store_true", help="estimate with --calibration's constants, fit nothing")
    ap.add_argument("--json", type=Path, help="output JSON (per design and per layer estimate vs report, errors)")
    ap.add_argument("--md", type=Path, help="output Markdown table (fit: default beside --json)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from benchmarks import cnn_designs

    try:
        loaded = cnn_designs.load(args.fixtures)
        cnn = [d for d in loaded if not d.error]
        args.failed = {d.name: d.error for d in loaded if d.error}
        return run_no_fit(args, cnn) if args.no_fit else run_fit(args, cnn)
    except ReportError as exc:
        print(f"calibrate_estimator: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
