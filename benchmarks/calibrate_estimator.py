"""Calibrate hwflow.estimate against real synthesized hls4ml designs and measure its error.

The designs are the (config, csynth report) pairs in ../shared/fixtures/hls-reports/ (see
SOURCES.md there). Their Keras models were not copied, so each is rebuilt here from the
layer sizes in SOURCES.md, the configs and the per-module report names, with seeded random
weights (Glorot init; the trained weights are unknown, which matters for RF=1 designs where
HLS folds constant weights into LUTs). Each is converted with hls4ml 1.3.0 using the config's
settings and the report's part/clock, estimated, and compared with the report's totals.

The free constants are fitted on the FIT designs only; the error is reported on the HELD-OUT
ones. Writes hwflow/estimate_calibration.json and benchmarks/results/estimator_calibration.md.

    .venv/bin/python benchmarks/calibrate_estimator.py
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "hls-reports"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "estimator_calibration.md"
METRICS = ("DSP", "LUT", "FF", "BRAM_18K", "latency", "II")


@dataclass
class Design:
    name: str
    role: str  # fit | holdout | flagged
    build: str  # builder key
    backend: str
    io_type: str
    part: str
    clock: float
    rf: int
    precision: str = "fixed<16,6>"
    strategy: str = "Latency"
    report: str = "myproject_prj/solution1/syn/report/myproject_csynth.xml"
    prune: float = 0.0
    layer_precision: dict | None = None
    note: str = ""


MLP8 = {"weight": "fixed<8,1>", "bias": "fixed<8,1>"}
DESIGNS = [
    Design("hlstutorial_1", "fit", "jet_mlp", "Vivado", "io_parallel", "xcu250-figd2104-2L-e", 5, 1,
           note="Vivado HLS 2019.2"),
    Design("nrp6_1", "fit", "jet_mlp", "Vitis", "io_parallel", "xcu250-figd2104-2L-e", 5, 1, note="Vitis HLS 2022.2"),
    Design("dnnonsilicon_3", "fit", "mnist_cnn", "Vivado", "io_stream", "xcu50-fsvh2104-2-e", 25, 16),
    Design("lhc_anomaly_1", "fit", "lhc_ae", "Vitis", "io_parallel", "xc7a50t-csg324-1", 5, 4,
           note="hls4ml 1.0 Vivado backend run through Vitis HLS 2023.2"),
    Design("hlstutorial_2", "holdout", "jet_mlp", "Vivado", "io_parallel", "xcu250-figd2104-2L-e", 5, 2),
    Design("dnnonsilicon_1", "holdout", "dummy_mlp", "Vivado", "io_parallel", "xc7z020clg400-1", 25, 1),
    Design("dnnonsilicon_2", "holdout", "dummy_mlp", "Vivado", "io_parallel", "xc7z020clg400-1", 25, 16, prune=0.75,
           note="75% pruned (random mask here)"),
    Design("dnnonsilicon_4", "holdout", "small_cnn", "Vivado", "io_stream", "xcu280-fsvh2892-2L-e", 10, 3),
    Design("ece226_1", "holdout", "har_cnn1d", "Vitis", "io_stream", "xcu250-figd2104-2L-e", 5, 1),
    Design("mlpestimator_1", "flagged", "jet_mlp", "Vitis", "io_parallel", "xc7z007s-clg225-2", 3.33, 1,
           layer_precision=MLP8, note="stale config; mul forced to DSP (config_op)"),
    Design("mlpestimator_2", "flagged", "jet_mlp", "Vitis", "io_parallel", "xc7z007s-clg225-2", 3.33, 100,
           layer_precision=MLP8, note="stale config (RF=100 from parameters.h); mul forced to DSP"),
]
EXCLUDED = {
    "hls4mlearly_1": "no hls4ml config (2017 keras-to-hls)",
    "dndhls4ml_1": "no config, text report only",
    "l1jettagger_1": "config part differs from the synthesized part (SOURCES.md caveat)",
    "lfads_1": "GRU model, synthesis report only",
    "kv260vu_1": "Distributed Arithmetic strategy (not modelled)",
    "hlstutorial_3": "pruned QKeras model, pruning mask unknown",
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
        inp = L.Input((4,))
        x = L.Activation("relu")(L.Dense(128)(inp))
        out = L.Softmax()(L.Dense(3)(x))
    elif key == "lhc_ae":
        inp = L.Input((8,), name="input_layer")
        x = L.Dense(6, activation="relu", name="encoder_1")(inp)
        x = L.Dense(3, activation="relu", name="bottleneck")(x)
        x = L.Dense(6, activation="relu", name="decoder_1")(x)
        out = L.Dense(8, name="output_layer")(x)
    elif key == "mnist_cnn":
        inp = L.Input((28, 28, 1))
        x = L.MaxPooling2D(4)(L.Activation("relu")(L.Conv2D(4, 3)(inp)))
        x = L.MaxPooling2D(2)(L.Activation("relu")(L.Conv2D(8, 3)(x)))
        out = L.Softmax()(L.Dense(10)(L.Flatten()(x)))
    elif key == "small_cnn":
        inp = L.Input((28, 28, 1))
        x = L.MaxPooling2D(2)(L.Activation("relu")(L.Conv2D(4, 4)(inp)))
        out = L.Softmax()(L.Dense(12)(L.Flatten()(x)))
    elif key == "har_cnn1d":
        inp = L.Input((128, 9))
        x = L.Activation("relu")(L.Conv1D(16, 3)(L.ZeroPadding1D(1)(inp)))
        out = L.Softmax()(L.Dense(6)(L.GlobalAveragePooling1D()(x)))
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


def read_report(d: Design) -> dict:
    root = ET.parse(FIXTURES / d.name / d.report).getroot()
    res = {c.tag: int(c.text) for c in root.find("AreaEstimates/Resources")}
    lat = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    return {"DSP": res.get("DSP48E", res.get("DSP", 0)), "LUT": res["LUT"], "FF": res["FF"],
            "BRAM_18K": res["BRAM_18K"], "latency": int(lat.find("Worst-caseLatency").text),
            "II": int(lat.find("Interval-max").text)}


def metrics(est) -> dict:
    return {"DSP": est.totals["DSP"], "LUT": est.totals["LUT"], "FF": est.totals["FF"],
            "BRAM_18K": est.totals["BRAM_18K"], "latency": est.latency_cycles, "II": est.ii_cycles}


def rel_err(est: float, rep: float) -> float:
    return abs(est - rep) / max(abs(rep), 1.0)


def run(models, reports, designs, cal):
    from hwflow.estimate import estimate

    return {d.name: metrics(estimate(models[d.name], board=None, clock_period_ns=d.clock, calibration=cal))
            for d in designs}


def fit(models, reports, fit_set, cal):
    """Grid search for the discrete constants, NNLS for the LUT/FF coefficients."""
    from hwflow.estimate import Calibration, estimate

    def loss(c, keys):
        out = run(models, reports, fit_set, c)
        return sum(math.log((out[d.name][k] + 1) / (reports[d.name][k] + 1)) ** 2 for d in fit_set for k in keys)

    best = min((replace(cal, lut_mult_max_bits=m, const_lut_max_bits={"vivado_hls": a, "vitis": b})
                for m, a, b in itertools.product(range(4, 11), range(0, 11), range(0, 11))),
               key=lambda c: loss(c, ("DSP",)))
    best = min((replace(best, dense_depth_ns=dd, parallel_call_overhead=po, stream_fill_per_layer=sf,
                        softmax_depth_ns=sm)
                for dd, po, sf, sm in itertools.product((2.0, 4.0, 5.0, 8.0), (0.5, 0.75, 1.0, 1.25),
                                                        (1.0, 3.0, 5.0, 7.0), (10.0, 15.0, 20.0, 25.0))),
               key=lambda c: loss(c, ("latency", "II")))
    best = min((replace(best, fifo_bram_min_bits=b) for b in (1024, 2048, 4096, 8192, 16384)),
               key=lambda c: loss(c, ("BRAM_18K",)))
    # LUT/FF: the relative weights of the features are physical priors (Calibration defaults);
    # with a handful of designs only one scale per resource and io_type is fitted (median
    # ratio), which cannot overfit the way a free least-squares fit of six coefficients does.
    coefs = {}
    for res, attr in (("LUT", "lut_scale"), ("FF", "ff_scale")):
        scales = {}
        for io in ("io_parallel", "io_stream"):
            ratios = []
            for d in (d for d in fit_set if d.io_type == io):
                est = estimate(models[d.name], clock_period_ns=d.clock, calibration=best)
                ratios.append(reports[d.name][res] / max(1, est.totals[res]))
            scales[io] = round(statistics.median(ratios), 4) if ratios else 1.0
        coefs[attr] = scales
    return replace(best, **coefs)


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


def summary(designs, reports, out) -> list[str]:
    lines = ["| metric | median error | worst error (design) |", "|---|---|---|"]
    for m in METRICS:
        errs = [(rel_err(out[d.name][m], reports[d.name][m]), d.name) for d in designs]
        worst = max(errs)
        lines.append(f"| {m} | {100 * statistics.median(e for e, _ in errs):.0f}% | "
                     f"{100 * worst[0]:.0f}% ({worst[1]}) |")
    return lines


def main() -> int:
    from dataclasses import asdict

    from hwflow.estimate import CALIBRATION_PATH, Calibration

    reports = {d.name: read_report(d) for d in DESIGNS}
    models = {d.name: convert(d) for d in DESIGNS}
    fit_set = [d for d in DESIGNS if d.role == "fit"]
    held = [d for d in DESIGNS if d.role == "holdout"]
    cal = fit(models, reports, fit_set, Calibration())
    out = run(models, reports, DESIGNS, cal)
    held_err = {m: {"median": statistics.median(rel_err(out[d.name][m], reports[d.name][m]) for d in held),
                    "worst": max(rel_err(out[d.name][m], reports[d.name][m]) for d in held)} for m in METRICS}
    CALIBRATION_PATH.write_text(json.dumps({
        "_comment": "written by benchmarks/calibrate_estimator.py; do not edit by hand",
        "constants": asdict(cal),
        "fit_designs": [d.name for d in fit_set], "holdout_designs": [d.name for d in held],
        "holdout_error": held_err,
        "per_design": {d.name: {"role": d.role, "estimate": out[d.name], "report": reports[d.name]} for d in DESIGNS},
    }, indent=1) + "\n")
    md = ["# hwflow.estimate vs real synthesis reports", "",
          "Written by `benchmarks/calibrate_estimator.py` (reproduce: `.venv/bin/python benchmarks/calibrate_estimator.py`).",
          "Reports: `../shared/fixtures/hls-reports/` (HLS estimates from csynth; latency/II in cycles).",
          "Models rebuilt from SOURCES.md with seeded random weights and converted with hls4ml 1.3.0; the",
          "reports were made by older hls4ml versions and several HLS tools (see notes), so part of the error is",
          "the template/tool drift, not the estimator.", "",
          "## Held-out designs (constants not fitted on these)", ""] + summary(held, reports, out) + [
          "", "## Fit designs", ""] + summary(fit_set, reports, out) + [
          "", "## Per design", ""] + table(DESIGNS, reports, out) + [
          "", "Roles: `fit` = used to fit the constants; `holdout` = measured only; `flagged` = config does not",
          "match the report (SOURCES.md caveats), shown for information, in no statistic.", "",
          "## Notes per design", ""] + [f"- {d.name}: {d.note or '-'} ({d.backend}, {d.io_type}, RF {d.rf}, "
                                         f"{d.part}, {d.clock} ns)" for d in DESIGNS] + [
          "", "## Excluded report sets", ""] + [f"- {k}: {v}" for k, v in EXCLUDED.items()] + [
          "", "## Fitted constants", "", "```json", json.dumps(asdict(cal), indent=1), "```", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(md))
    print("\n".join(summary(held, reports, out)))
    print("\n".join(table(DESIGNS, reports, out)))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
