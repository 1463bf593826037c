"""One sweep point on a Dask worker: (base config dict, overrides, model) -> one result row.

`run_point(task, model)` is a pure function of its arguments: the merged config is built with
`hwflow.config.config_from_dict`, the QKeras model from the `ModelBlob` the driver prepared
(plan + trained weights + the test images and reference logits for csim), so a worker needs
only the package: no training, no dataset, no shared build/ folder. Its outputs go to
`task.out_dir` (one folder per point); the row comes back to the driver. Any failure becomes a
row with status "failed" and the error's one-line message; the traceback is kept in the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwflow.project import read_layer_table
from hwflow.sweep.spec import apply_overrides

OK, FAILED = "ok", "failed"
# result columns after the parameter columns (fixed, so the CSV header never changes mid-sweep)
METRICS = ("est_dsp", "est_lut", "est_ff", "est_bram_18k", "est_uram", "latency_cycles", "ii_cycles", "latency_us",
           "util_max", "binding", "fits", "rf_adjusted", "float_accuracy", "qkeras_accuracy", "csim_accuracy",
           "argmax_agreement", "max_diff_lsb", "bit_exact_share", "parity_passed", "engine", "synth_dsp", "synth_lut",
           "synth_ff", "synth_bram_18k", "synth_latency_cycles", "synth_ii_cycles", "out_dir")
META = ("key", "status", "depth", "error", "wall_s", "worker", "finished")


@dataclass(frozen=True)
class ModelBlob:
    """A resolved QKeras model in picklable form, plus what csim needs (prepared once per quantization)."""

    key: str  # cfg.fingerprint of the quantization it was built for
    plan: Any  # zoo.quant.QuantPlan (resolved)
    weights: list  # qmodel.get_weights()
    float_accuracy: float | None = None
    qkeras_accuracy: float | None = None
    x: np.ndarray | None = None  # csim: test images
    y: np.ndarray | None = None  # labels (None when the model is untrained)
    qkeras_logits: np.ndarray | None = None
    float_logits: np.ndarray | None = None


@dataclass(frozen=True)
class PointTask:
    key: str
    point: dict[str, Any]  # parameter id -> value
    base_raw: dict  # the base flow config as read from YAML
    base_path: str  # its path (name of the flow, relative data paths)
    depth: str
    out_dir: str  # this point's own folder


_MODELS: dict[str, Any] = {}  # per worker process: blob key -> QKeras model (the last few)


def _qmodel(cfg, blob: ModelBlob):
    """The QKeras model of `blob`, built once per worker process."""
    from hwflow import zoo

    key = f"{blob.key}:{json.dumps(cfg.model.params, sort_keys=True, default=str)}"
    if key not in _MODELS:
        if len(_MODELS) >= 4:
            _MODELS.pop(next(iter(_MODELS)))
        if cfg.model.file is not None:  # a user's model file: its twin (hwflow.usermodel)
            from hwflow.train import build_models

            model = build_models(cfg, blob.plan)[1]
        else:
            model = zoo.build(cfg.model.arch, quant=blob.plan, **cfg.model.params)
        model.set_weights(blob.weights)
        _MODELS[key] = model
    return _MODELS[key]


def _estimate_columns(est) -> dict:
    t = est.totals
    util = est.utilisation or {}
    finite = [v for v in util.values() if v != float("inf")]
    return {"est_dsp": t["DSP"], "est_lut": t["LUT"], "est_ff": t["FF"], "est_bram_18k": t["BRAM_18K"],
            "est_uram": t["URAM"], "latency_cycles": est.latency_cycles, "ii_cycles": est.ii_cycles,
            "latency_us": round(est.latency_us, 4), "util_max": round(max(finite), 3) if finite else None,
            "binding": est.binding_resource, "fits": est.fits}


def _estimate(est, out: Path) -> dict:
    (out / "estimate.json").write_text(json.dumps(est.to_dict(), indent=1, default=str))
    return _estimate_columns(est)


def _csim(cfg, conv, blob: ModelBlob, out: Path) -> dict:
    from hwflow.sim import csim, parity

    if blob.x is None:
        raise ValueError("csim depth needs test images in the model blob (driver bug)")
    info = read_layer_table(conv.hls_dir)
    lib = csim.compile_project(conv.hls_dir, out / "csim")
    # the bit-exact emulator for every image, confirmed by C-sim of the generated C++ on a few
    outputs, stats = csim.firmware_outputs(conv.hls_dir, lib, blob.x, hls_model=conv.hls_model, reference=8,
                                           workers=1, progress=False)
    res = parity.compare(outputs, blob.qkeras_logits, blob.float_logits, blob.y,
                         info["layers"][-1]["result"], cfg.parity)
    res.csim = stats
    (out / "parity.json").write_text(json.dumps(res.to_dict(), indent=1, default=str))
    return {"engine": stats["engine"], "csim_accuracy": res.csim_accuracy, "argmax_agreement": res.argmax_agreement,
            "max_diff_lsb": res.max_diff_lsb, "bit_exact_share": res.bit_exact_share, "parity_passed": res.passed}


def _synth(build) -> dict:
    from hwflow import flow
    from hwflow.reports import parse_project

    flow.run(build.cfg, start="synth", stop="synth", build=build)  # reports in <point>/reports
    top = parse_project(build.project.hls_dir).top
    if top is None:
        return {}
    r = top.resources
    return {"synth_dsp": r.dsp, "synth_lut": r.lut, "synth_ff": r.ff, "synth_bram_18k": r.bram_18k,
            "synth_latency_cycles": top.latency_worst_cycles, "synth_ii_cycles": top.interval_max_cycles}


def _evaluate(task: PointTask, blob: ModelBlob, out: Path, row: dict) -> None:
    """Fill `row` stage by stage through hwflow.flow.run (models -> check -> convert -> estimate, then
    C-sim or synth); a later stage's failure keeps the earlier numbers, e.g. synth's estimate."""
    from hwflow import flow
    from hwflow.config import config_from_dict
    from hwflow.paths import ModelPaths
    from hwflow.train import TrainedModels

    cfg = config_from_dict(apply_overrides(task.base_raw, task.point), Path(task.base_path))
    qmodel = _qmodel(cfg, blob)  # the driver's trained model: the models stage only validates and plans
    models = TrainedModels(None, qmodel, blob.plan, blob.float_accuracy, blob.qkeras_accuracy, Path(), True)
    opts = flow.Options(write_project=task.depth != "estimate", write_reports=False, lock=False)
    build = flow.run(cfg, stop="estimate", options=opts, paths=ModelPaths(out), models=models)
    row.update(float_accuracy=blob.float_accuracy, qkeras_accuracy=blob.qkeras_accuracy,
               rf_adjusted=len(build.reuse.notes))
    row.update(_estimate(build.estimate, out))
    if task.depth == "estimate":
        return
    row.update(_csim(cfg, build.project, blob, out) if task.depth == "csim" else _synth(build))


def _one_line(exc: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:600]


def failed_row(task: PointTask, error: str, wall_s: float = 0.0, worker: str = "") -> dict:
    return {"key": task.key, "status": FAILED, "depth": task.depth, "error": error, "wall_s": round(wall_s, 3),
            "worker": worker, "finished": round(time.time(), 3), **task.point, "out_dir": task.out_dir}


def run_point(task: PointTask, blob: ModelBlob) -> dict:
    """Evaluate one point to the task's depth; never raises for a point's own failure."""
    t0 = time.perf_counter()
    out = Path(task.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    (out / "point.json").write_text(json.dumps({"key": task.key, "depth": task.depth, "point": task.point}, indent=1))
    row: dict[str, Any] = {}
    try:
        # hls4ml prints the whole model while converting: keep it with the point, off the driver's console
        with open(out / "flow.log", "w") as log, contextlib.redirect_stdout(log):
            _evaluate(task, blob, out, row)
    except Exception as exc:  # a failing point is a result, not the end of the sweep
        (out / "error.txt").write_text(traceback.format_exc())
        return {**row, **failed_row(task, _one_line(exc), time.perf_counter() - t0, worker)}
    row.update({"key": task.key, "status": OK, "depth": task.depth, "error": "",
                "wall_s": round(time.perf_counter() - t0, 3), "worker": worker, "finished": round(time.time(), 3),
                "out_dir": task.out_dir, **task.point})
    return row
