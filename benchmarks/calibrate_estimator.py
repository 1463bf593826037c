"""Calibrate hwflow.estimate against real synthesized hls4ml designs and measure its error.

The designs are the (config, csynth report) pairs in ../shared/fixtures/hls-reports/ (see
SOURCES.md there). Their Keras models were not copied, so each is rebuilt here from the
layer sizes in SOURCES.md, the configs and the per-module report names, with seeded random
weights (the estimator does not use weight values except exact zeros: it models the share of
DSP-mapped constant products statistically, see hwflow/estimate.py). Each is converted with
hls4ml 1.3.0 using the config's settings and the report's part/clock.

Calibration data are per layer: every layer function of a design has its own csynth report
(DSP, LUT, FF, latency, interval), matched to the rebuilt model's layer by an explicit table
(`Design.modules`). The few free constants are fitted on per-layer numbers (and design
totals for the latency overheads); the error is measured leave-one-design-out: for each
design, the constants are fitted on the other designs only (hlstutorial_1/_2 are the same
trained model at two reuse factors, so they are left out together), then that design's
totals are estimated and compared with its report. The shipped constants are the fit on all
usable designs. Writes hwflow/estimate_calibration.json and
benchmarks/results/estimator_calibration.md.

    .venv/bin/python benchmarks/calibrate_estimator.py
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

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
    return {"DSP": est.totals["DSP"], "LUT": est.totals["LUT"], "FF": est.totals["FF"],
            "BRAM_18K": est.totals["BRAM_18K"], "latency": est.latency_cycles, "II": est.ii_cycles}


def rel_err(est: float, rep: float) -> float:
    return abs(est - rep) / max(abs(rep), 1.0)


def _log2(a: float, b: float) -> float:
    return math.log((a + 1.0) / (b + 1.0)) ** 2


# --- fitting -------------------------------------------------------------------------------


class Data:
    """Converted models and reports of the usable designs (converted once, estimated often)."""

    def __init__(self, designs):
        self.designs = designs
        self.models = {d.name: convert(d) for d in designs}
        self.reports = {d.name: read_report(d) for d in designs}
        self.layers = {d.name: read_layers(d) for d in designs}

    def est(self, d: Design, cal):
        from hwflow.estimate import estimate

        return estimate(self.models[d.name], board=None, clock_period_ns=d.clock, calibration=cal)


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
                le = by_name[name]
                for k in keys:
                    if k in ("latency", "II") and le.kind not in ("dense", "conv", "depthwise", "separable", "softmax"):
                        continue
                    loss += _log2({"DSP": le.dsp, "latency": le.latency, "II": le.ii}[k], rep[k])
            tot = metrics(est)
            for k in keys:
                loss += 2.0 * _log2(tot[k], data.reports[d.name][k])
        return loss

    grid = [replace(base, weight_sigma=s, dsp_min_sig_bits={"vivado_hls": tv, "vitis": tt})
            for s, tv, tt in itertools.product((0.2, 0.3, 0.4, 0.5, 0.7, 1.0), range(3, 9), range(3, 9))]
    best = min(grid, key=lambda c: layer_loss(c, ("DSP",)))
    grid = [replace(best, dense_depth_ns=dd, reuse_extra_cycles=re_, vivado_ii_from_dsp=vi, stream_pixel_extra=px,
                    stream_pixel_min=pm)
            for dd, re_, vi, px, pm in itertools.product((2.5, 5.0, 10.0), (0, 1, 2), (False, True), (0, 1, 2),
                                                         (1, 2, 3))]
    best = min(grid, key=lambda c: layer_loss(c, ("latency", "II")))
    grid = [replace(best, softmax_depth_ns=sm, parallel_call_overhead=po)
            for sm, po in itertools.product((5.0, 10.0, 15.0, 20.0, 25.0), (0.0, 0.25, 0.5, 0.75, 1.0))]
    best = min(grid, key=lambda c: layer_loss(c, ("latency",)))
    best = min((replace(best, fifo_bram_min_bits=b) for b in (1024, 2048, 4096, 8192, 16384)),
               key=lambda c: sum(_log2(metrics(data.est(d, c))["BRAM_18K"], data.reports[d.name]["BRAM_18K"])
                                 for d in fit_set))
    rows, targets = [], {"LUT": [], "FF": []}
    for d in fit_set:
        by_name = {le.name: le for le in data.est(d, best).layers}
        for name, rep in data.layers[d.name].items():
            feats = by_name[name].features
            # relative least squares; FF reports of 0 (combinational layers at slow clocks) are
            # weighted like 1000 so that they do not pull every coefficient to zero
            scale = 1.0 / max(rep["LUT"], 100.0), 1.0 / max(rep["FF"], 1000.0)
            rows.append(([feats.get(k, 0.0) for k in LUT_FEATURES], scale, ff_density(d.clock)))
            targets["LUT"].append(rep["LUT"])
            targets["FF"].append(rep["FF"])
    coefs = {}
    for res, si in (("LUT", 0), ("FF", 1)):
        a = np.array([[v * s[si] * (dens if res == "FF" else 1.0) for v in r] for r, s, dens in rows])
        b = np.array([t * s[si] for t, (_, s, _) in zip(targets[res], rows)])
        x, _ = nnls(a, b)
        coefs["lut_coef" if res == "LUT" else "ff_coef"] = {k: round(float(v), 4) for k, v in zip(LUT_FEATURES, x)}
    return replace(best, **coefs)


def layer_rows(data: Data, d: Design, cal) -> list[dict]:
    by_name = {le.name: le for le in data.est(d, cal).layers}
    out = []
    for name, rep in data.layers[d.name].items():
        le = by_name[name]
        out.append({"design": d.name, "layer": name, "kind": le.kind,
                    "est": {"DSP": le.dsp, "LUT": le.lut, "FF": le.ff, "latency": le.latency, "II": le.ii},
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


def main() -> int:
    from tqdm import tqdm

    from hwflow.estimate import CALIBRATION_PATH, Calibration

    usable = [d for d in DESIGNS if d.role == "usable"]
    flagged = [d for d in DESIGNS if d.role == "flagged"]
    data = Data(DESIGNS)
    groups = sorted({d.group or d.name for d in usable})
    loo: dict[str, dict] = {}
    loo_rows: list[dict] = []
    for g in tqdm(groups, desc="leave-one-design-out"):
        held = [d for d in usable if (d.group or d.name) == g]
        cal = fit(data, [d for d in usable if (d.group or d.name) != g], Calibration())
        for d in held:
            loo[d.name] = metrics(data.est(d, cal))
            loo_rows += layer_rows(data, d, cal)
    final = fit(data, usable, Calibration())
    all_fit = {d.name: metrics(data.est(d, final)) for d in DESIGNS}
    reports = data.reports
    names = [d.name for d in usable]
    loo_err = {m: {"median": statistics.median(rel_err(loo[n][m], reports[n][m]) for n in names),
                   "worst": max(rel_err(loo[n][m], reports[n][m]) for n in names)} for m in METRICS}
    CALIBRATION_PATH.write_text(json.dumps({
        "_comment": "written by benchmarks/calibrate_estimator.py; do not edit by hand",
        "constants": asdict(final),
        "usable_designs": names,
        "leave_one_out_error": loo_err,
        "leave_one_out": {n: {"estimate": loo[n], "report": reports[n]} for n in names},
        "all_fit": {d.name: {"role": d.role, "estimate": all_fit[d.name], "report": reports[d.name]} for d in DESIGNS},
    }, indent=1) + "\n")
    md = ["# hwflow.estimate vs real synthesis reports", "",
          "Written by `benchmarks/calibrate_estimator.py` (reproduce: `.venv/bin/python benchmarks/calibrate_estimator.py`).",
          "Reports: `../shared/fixtures/hls-reports/` (HLS estimates from csynth; latency/II in cycles).",
          "Models rebuilt from SOURCES.md with seeded random weights and converted with hls4ml 1.3.0; the",
          "reports were made by older hls4ml versions and several HLS tools (see notes), so part of the error is",
          "the template/tool drift, not the estimator. The trained weights are unknown: the share of",
          "DSP-mapped constant products (Latency strategy) is modelled statistically from the weight",
          "precision and fan-in (see hwflow/estimate.py), which is the main source of the DSP error at RF=1.", "",
          "## Leave-one-design-out (each design estimated with constants fitted on the others)", "",
          f"{len(names)} usable designs ({', '.join(names)}); hlstutorial_1/_2 share one trained model and are",
          "left out together.", ""] + summary(names, reports, loo) + [
          "", "### Per design (leave-one-design-out)", ""] + table(usable, reports, loo) + [
          "", "### Per layer (leave-one-design-out; each layer function's own csynth report)", "",
          "Latency/II rows: kernel layers and softmax only (elementwise layers are 0-1 cycles in io_parallel).",
          ""] + layer_summary(loo_rows) + [""] + layer_table(loo_rows) + [
          "", "## Shipped constants: fit on all usable designs (in-sample, for reference)", ""] + summary(
          names, reports, all_fit) + ["", ""] + table(DESIGNS, reports, all_fit) + [
          "", "`flagged` = config does not match the report (SOURCES.md caveats), shown for information, in no",
          "statistic.", "",
          "## Notes per design", ""] + [f"- {d.name}: {d.note or '-'} ({d.backend}, {d.io_type}, RF {d.rf}, "
                                         f"{d.part}, {d.clock} ns)" for d in DESIGNS] + [
          "", "## Excluded report sets", ""] + [f"- {k}: {v}" for k, v in EXCLUDED.items()] + [
          "", "## Fitted constants (all usable designs)", "", "```json", json.dumps(asdict(final), indent=1), "```", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(md))
    print("\n".join(summary(names, reports, loo)))
    print("\n".join(layer_summary(loo_rows)))
    print("\n".join(table(usable, reports, loo)))
    _ = flagged
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
