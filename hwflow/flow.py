"""The flow, top to bottom: one ordered stage list, FINN-builder style.

    cfg = load_config("hls_configs/squeezenet.yaml")
    build = run(cfg, stop="parity")          # what `hwflow hls` runs
    build.parity.passed, build.project.hls_dir, build.estimate.totals, build.times

`STAGES` is the README's pipeline picture. Each stage is `stage(build) -> build`: it reads what
earlier stages put into the `Build` and adds its own result. `run(cfg, start=, stop=)` runs a
slice of the list; a stage whose input a skipped stage would have made reads it from disk (the
trained-weights cache, the project folder) or stops with a one-line error. The commands are
slices: hls = models..parity, csim = parity, estimate = models..estimate (no training),
synth, report and bitstream = that stage alone; a sweep point runs check..synth on its own
model, the tuner's confirmation runs models..parity. Stage times go to
<reports>/time_per_stage.json (merged with the stages of earlier runs).
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwflow.boards import Board
from hwflow.check import Finding, check_model
from hwflow.config import FlowConfig, validate_layers
from hwflow.errors import CheckError, ConfigError, CsimError, ParityError, ReportError
from hwflow.guard import build_lock, clean_orphans
from hwflow.paths import ModelPaths
from hwflow.project import read_layer_table
from hwflow.reuse import ReusePlan, plan_reuse

MODELS_MODES = ("train", "cached", "untrained")  # train on a cache miss | cached weights else untrained | untrained


@dataclass
class Options:
    """How a run does its stages (the command-line flags, typed)."""

    models: str = "train"  # MODELS_MODES
    write_project: bool = True  # convert: write the project (False: the hls4ml model only, e.g. for estimate)
    images: int | None = None  # parity: test images (default: the config's parity.images)
    workers: int | None = None
    trace: bool = False
    engine: str = "auto"  # parity: "auto" (emulator, checked by C-sim) | "csim"
    reference: int = 32  # parity: images C-sim computes to check the emulator
    fail_on_parity: bool = True
    board: Board | None = None  # estimate / report / bitstream: instead of the config's board
    tool: str | None = None  # estimate: the HLS tool that will synthesize it
    basis: str = "vivado"  # estimate: judge the fit on the Vivado-level projection, or "hls" (csynth level)
    write_reports: bool = True  # estimate: estimate.md/json/png
    estimate_dir: Path | None = None  # estimate: where its reports go (default: the reports folder)
    backend: str | None = None  # synth: must match the project's backend
    synth: dict = field(default_factory=dict)  # synth: csim/synth/cosim/export/vsynth/reset/timeout_s
    bitstream: dict = field(default_factory=dict)  # bitstream: platform/timeout_s
    dry_run: bool = False  # synth / bitstream: plan only
    hls_dir: Path | None = None  # a project folder written elsewhere (instead of build/<name>/hls)
    reports_dir: Path | None = None
    deploy_dir: Path | None = None
    lock: bool = True  # hold build/<name>/.lock while writing it
    command: str = ""  # the `hwflow` command (named in a "busy" message)


@dataclass
class Build:
    """Everything one run knows, stage by stage (None until a stage, or disk, provides it)."""

    cfg: FlowConfig | None  # None: a project folder without a flow config (--hls-dir)
    paths: ModelPaths | None
    options: Options = field(default_factory=Options)
    data: object | None = None  # hwflow.data.Dataset
    models: object | None = None  # hwflow.train.TrainedModels (train) or a QKeras model's twin record
    model_source: str = ""  # where the QKeras model came from (estimate's note)
    findings: list[Finding] = field(default_factory=list)
    reuse: ReusePlan | None = None  # every layer's reuse factor, planned once (models stage; plan stage: folded)
    fit: object | None = None  # hwflow.reuse.FitResult of the plan stage (reuse_factor: auto)
    hls_model: object | None = None  # hls4ml ModelGraph
    project: object | None = None  # hwflow.convert.ConvertResult (written project)
    estimate: object | None = None  # hwflow.estimate.Estimate
    estimate_files: dict = field(default_factory=dict)
    parity: object | None = None  # hwflow.sim.parity.ParityResult
    synthesis: object | None = None  # hwflow.synth.SynthResult
    report: object | None = None  # hwflow.reports.ProjectReport
    report_files: dict = field(default_factory=dict)
    deploy: object | None = None  # hwflow.synth.BitstreamResult
    times: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.cfg.name if self.cfg else self.hls_dir.name

    @property
    def hls_dir(self) -> Path:
        return Path(self.options.hls_dir) if self.options.hls_dir else self.paths.hls

    @property
    def reports_dir(self) -> Path:
        if self.options.reports_dir:
            return Path(self.options.reports_dir)
        return self.paths.reports if self.paths else self.hls_dir.resolve().parent / "reports"

    @property
    def board(self) -> Board | None:
        return self.options.board or (self.cfg.hls.board if self.cfg else None)

    @property
    def qmodel(self):
        return self.models.qmodel


# ------------------------------------------------------------------------------------ stages


def models(b: Build) -> Build:
    """data -> trained float + QKeras models (cached); the reuse plan, on the network's layers."""
    cfg = _need_cfg(b, "models")
    if b.models is not None:  # a model made elsewhere (a sweep point's): validate the config on it and plan;
        b.reuse = validate_model(cfg, b.qmodel, strict=False)  # an invalid per-layer value: check's fatal finding
        return b
    b.reuse = validate_model(cfg)
    mode = b.options.models
    if mode == "train":
        b.data, b.models = stage_models(cfg, validated=True)
        tm = b.models
        acc = "" if tm.float_accuracy is None else f" (top-1 float {tm.float_accuracy:.4f}, QKeras {tm.qkeras_accuracy:.4f})"
        if cfg.model.file is not None:
            from hwflow.usermodel import describe

            print(describe(cfg) + acc)
        else:
            print(f"  {'cached weights' if tm.from_cache else 'trained'}: {tm.weights_dir}{acc}")
            if not b.options.dry_run:
                _write_training(b, tm.weights_dir)
        b.model_source = "trained (training cache)" if tm.from_cache else "trained"
    else:
        from hwflow.train import TrainedModels, untrained_models

        if mode == "cached":  # never trains: the estimate must stay instant
            from hwflow.estimate_report import config_qmodel

            qmodel, b.model_source = config_qmodel(cfg)
            float_model = plan = None
        else:
            float_model, qmodel, plan = untrained_models(cfg)  # the check looks at structure, not values
            b.model_source = "untrained"
        b.models = TrainedModels(float_model, qmodel, plan, None, None, Path(), False)
    return b


def check(b: Build) -> Build:
    """Pre-flight check of constructs hls4ml 1.3.0 mishandles (fatal findings stop the run)."""
    cfg = _need_cfg(b, "check")
    _need_models(b)
    b.findings = stage_check(cfg, b.qmodel, b.reuse)
    return b


def plan(b: Build) -> Build:
    """`hls.reuse_factor: auto`: fold every layer the config leaves open for the board (hwflow.fit.fold:
    hwflow.reuse's balanced-folding search on the Vivado-level projection, on the QKeras model of this
    run), before any project is written; the folded config replaces the run's config, its plan the
    build's, and reports/fit.{md,json,png} + fit.yaml (the plan frozen as a config) record it. Nothing
    fits: FitError (exit 9), one line with the remedy. A config with its own reuse factors: nothing to do."""
    cfg = _need_cfg(b, "plan")
    board = b.options.board or cfg.hls.board
    if not cfg.hls.fold:
        if b.options.board is not None and b.options.board.name != cfg.hls.board.name and b.options.command == "hls":
            raise ConfigError(f"{cfg.path}: hls.reuse_factor is {cfg.hls.reuse_factor}, so --board {board.name} cannot "
                              f"refold it; valid: hls.reuse_factor: auto (the flow folds for --board), or "
                              f"`hwflow fit --board {board.name}` to write a config for it")
        return b
    _need_models(b)
    import yaml

    from hwflow.config import config_from_dict
    from hwflow.fit import fold, header, model_note, write_reports
    from hwflow.paths import write_text_atomic

    res, raw = fold(cfg, board, b.qmodel)
    folded = config_from_dict(raw, cfg.path)
    b.cfg, b.fit = folded, res
    b.reuse = plan_reuse(folded.hls, b.qmodel)
    a = res.after
    if b.options.write_reports:
        files = write_reports(res, b.reports_dir, cfg.name, model_note(b.qmodel, b.model_source or ""))
        write_text_atomic(b.reports_dir / "fit.yaml", header(res, cfg.path, "hwflow hls (reuse_factor: auto)",
                                                             files["md"])
                          + yaml.safe_dump(raw, sort_keys=False, width=120, default_flow_style=None))
    u = a["utilisation"]
    print(f"  folded for {board.name} (Vivado level, estimated): {a['images_per_s']:,.0f} images/s, DSP {u['DSP']:.0f}% "
          f"LUT {u['LUT']:.0f}% FF {u['FF']:.0f}% BRAM_18K {u['BRAM_18K']:.0f}%, binding {a['binding']} "
          f"({res.search['tunable_layers']} layers, {res.search['seconds']} s)")
    return b


def convert(b: Build) -> Build:
    """hls4ml config from the YAML and the reuse plan -> HLS project (+ FIFO depth report)."""
    from hwflow import convert as _convert

    cfg = _need_cfg(b, "convert")
    _need_models(b)
    if not b.options.write_project:
        b.hls_model = _convert.to_hls_model(cfg, b.qmodel, plan=b.reuse)
        return b
    b.project = _convert.convert(cfg, b.qmodel, b.hls_dir, b.reuse)
    b.hls_model = b.project.hls_model
    print(_convert.summary(cfg, b.project))
    if b.project.fifo is not None:
        b.project.fifo.write(b.reports_dir, cfg.name)
    return b


def estimate(b: Build) -> Build:
    """Resources and latency per layer from the converted model, without synthesis."""
    from hwflow.estimate import estimate as _estimate
    from hwflow.estimate_report import write_reports

    cfg = _need_cfg(b, "estimate")
    if b.hls_model is None:
        _need_models(b)
        from hwflow.convert import to_hls_model

        b.hls_model = to_hls_model(cfg, b.qmodel, plan=b.reuse)
    b.estimate = _estimate(b.hls_model, board=b.board, clock_period_ns=cfg.hls.clock_period_ns, tool=b.options.tool,
                           basis=b.options.basis)
    if b.options.write_reports:
        note = f"Model: {b.model_source}." if b.model_source else ""
        b.estimate_files = write_reports(b.estimate, b.options.estimate_dir or b.reports_dir, cfg.name, note)
    print(estimate_line(b.estimate))
    return b


def estimate_line(e) -> str:
    """The one line a run prints about its estimate: Vivado-level figures (or csynth level with
    --basis hls), images/s and the verdict on the board."""
    u = e.used()
    level = "Vivado level" if e.basis == "vivado" else "csynth level"
    ips = 1e9 / e.clock_period_ns / max(e.ii_cycles, 1)
    fit = ""
    if e.board:
        r = e.binding_resource
        fit = (f"; {'fits' if e.fits else 'does NOT fit'} {e.board} (binding {r} {e.utilisation[r]:.1f}%"
               + (f" of a {100 * e.budget[r]:.0f}% budget" if e.basis == "vivado" else "") + ")")
    return (f"  estimated ({level}): DSP {u['DSP']}, LUT {u['LUT']}, FF {u['FF']}, BRAM_18K {u['BRAM_18K']}, "
            f"{ips:,.0f} images/s (II {e.ii_cycles} cycles, latency {e.latency_us:,.1f} us){fit}")


def parity(b: Build) -> Build:
    """Firmware outputs on the test images vs QKeras and float (bit-exact emulator + C-sim)."""
    cfg = _need_cfg(b, "parity")
    if not b.hls_dir.exists():
        raise CsimError(f"{b.hls_dir}: no HLS project; run `make hls MODEL={cfg.name}` first")
    _need_models(b, train=True)
    o = b.options
    b.parity = stage_parity(cfg, b.paths, b.data, b.models, images=o.images, workers=o.workers, trace=o.trace,
                            engine=o.engine, hls_model=b.hls_model, reference=o.reference, reuse=b.reuse)
    _print_parity(b.parity)
    if o.fail_on_parity:
        _fail_on_parity(cfg, b.parity)
    return b


def synth(b: Build) -> Build:
    """C synthesis (vitis_hls / vivado_hls) in a copy of the project; reports parsed after."""
    from hwflow.synth import synth_project

    _need_project(b, ConfigError, "run `make hls MODEL={name}` first")
    o = b.options
    b.synthesis = synth_project(b.hls_dir, o.backend or (b.cfg.hls.backend if b.cfg else None), **o.synth,
                                dry_run=o.dry_run, reports_dir=b.reports_dir, board=b.cfg.hls.board if b.cfg else None)
    if b.synthesis.reports:
        b.report_files = b.synthesis.reports  # synth_project rendered report.md/json/png already
    return b


def report(b: Build) -> Build:
    """Synthesis reports (csynth, Vivado, timing, co-sim) -> report.md / .json / .png."""
    if b.report_files or (b.synthesis is not None and b.synthesis.dry_run):
        return b  # synth just wrote them / nothing was synthesized
    from hwflow.guard import out_dir
    from hwflow.reports.project import parse_project
    from hwflow.reports.render import render_report

    _need_project(b, ReportError, "run `make hls MODEL={name}` then `make synth`")
    out_dir(b.reports_dir)
    b.report = parse_project(b.hls_dir, board=b.board)
    if not b.report.has_results:
        hint = "`make synth`" if b.cfg is not None else "synthesis (vitis_hls / vivado_hls -f build_prj.tcl)"
        raise ReportError(f"{b.hls_dir}: no synthesis results yet (no *_csynth.xml/.rpt, no Vivado report); run {hint} "
                          "first, or point `hwflow report --hls-dir` at a synthesized project")
    b.report_files = render_report(b.report, b.reports_dir)
    return b


def bitstream(b: Build) -> Build:
    """Bitstream / xclbin / exported IP for the board, plus a driver example, into deploy/."""
    from hwflow.synth import bitstream as _bitstream

    _need_project(b, ConfigError, "run `make hls MODEL={name}` first")
    if b.board is None:
        raise ConfigError("bitstream: --board is required with --hls-dir (e.g. --board pynq-z2)")
    o = b.options
    b.deploy = _bitstream(b.hls_dir, b.board, deploy_dir=o.deploy_dir or (b.paths.deploy if b.paths else None),
                          deploy_name=b.cfg.name if b.cfg else None, dry_run=o.dry_run,
                          reports_dir=o.reports_dir or (b.paths.reports if b.paths else None), **o.bitstream)
    return b


STAGES = [models, check, plan, convert, estimate, parity, synth, report, bitstream]
STAGE_NAMES = [s.__name__ for s in STAGES]


def stage_index(name: str, where: str = "stage") -> int:
    if name not in STAGE_NAMES:
        raise ConfigError(f"{where}: unknown stage {name!r}; valid: {', '.join(STAGE_NAMES)}")
    return STAGE_NAMES.index(name)


def run(cfg: FlowConfig | None, *, start: str = "models", stop: str = "bitstream", options: Options | None = None,
        build: Build | None = None, paths: ModelPaths | None = None, models=None) -> Build:
    """Run STAGES[start..stop] (both included) and return the Build.

    `build`: continue an earlier run's Build; `paths`: another build folder (a sweep point's);
    `models`: a QKeras model's record (hwflow.train.TrainedModels) made elsewhere (a sweep point's).
    """
    lo, hi = stage_index(start, "start"), stage_index(stop, "stop")
    if lo > hi:
        raise ConfigError(f"stop: {stop!r} comes before start {start!r}; order: {' -> '.join(STAGE_NAMES)}")
    if build is None:
        build = Build(cfg, paths or (ModelPaths.for_model(cfg.name) if cfg else None), options or Options())
    elif options is not None:
        build.options = options
    if models is not None:
        build.models = models
    steps = STAGES[lo:hi + 1]
    if cfg is not None and cfg.hls.fifo_depth == "cosim" and convert in steps:
        from hwflow.fifo import require_cosim_tools  # co-simulated FIFO depths need the HLS tool: fail first

        require_cosim_tools(cfg.hls.backend)
    if parity in steps:  # C-sim's time limits from the environment: a bad value fails now, not after convert
        from hwflow.guard import env_seconds

        for var in ("HWFLOW_CSIM_TIMEOUT_S", "HWFLOW_CSIM_COMPILE_TIMEOUT_S"):
            env_seconds(var, 1.0)
    o = build.options
    # the stages that write build/<name>/ hold its lock (synth and bitstream work in a copy and swap it in)
    writes = convert in steps or parity in steps or (models in steps and o.models == "train")
    locked = o.lock and writes and build.paths is not None and not o.hls_dir
    with build_lock(build.paths.root, o.command or stop) if locked else nullcontext():
        if locked and convert in steps:
            # a run killed mid-conversion / mid-save leaves its temporary folders; nobody else holds the lock
            clean_orphans(build.paths.root, ".hls-")
            clean_orphans(build.paths.model, ".")
        try:
            for step in steps:
                t0 = time.perf_counter()
                print(f"== {step.__name__}", flush=True)
                try:
                    step(build)
                finally:
                    build.times[step.__name__] = round(time.perf_counter() - t0, 2)
        except ParityError:  # the parity reports are written: so are the times
            _write_times(build)
            raise
        # the times go beside what the run wrote (a check alone, or a sweep's estimate point, writes nothing)
        if (convert in steps and o.write_project) or (estimate in steps and o.write_reports) or \
                any(s in steps for s in (parity, synth, report, bitstream)):
            _write_times(build)
    return build


def _write_training(b: Build, weights_dir: Path) -> None:
    """<reports>/training.json: the training cache entry's metrics (top-1, the epochs its run trained and
    their wall-clock seconds, or where the shipped weights came from) beside this build's other reports."""
    from hwflow.paths import write_text_atomic

    metrics = json.loads((weights_dir / "metrics.json").read_text())
    write_text_atomic(b.reports_dir / "training.json", json.dumps({**metrics, "weights_dir": str(weights_dir)}, indent=1))


def _write_times(b: Build) -> None:
    """<reports>/time_per_stage.json: this run's stage times over those of earlier runs."""
    from hwflow.paths import write_text_atomic

    if b.cfg is None or not b.times or b.options.dry_run:
        return
    times = b.times
    path = b.reports_dir / "time_per_stage.json"
    try:
        old = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:  # a half-written file of another version: this run's times replace it
        old = {}
    merged = {n: t for n, t in {**(old if isinstance(old, dict) else {}), **times}.items() if n in STAGE_NAMES}
    write_text_atomic(path, json.dumps({n: merged[n] for n in STAGE_NAMES if n in merged}, indent=1))


# --------------------------------------------------------------------- what a stage needs


def _need_cfg(b: Build, stage: str) -> FlowConfig:
    if b.cfg is None:
        raise ConfigError(f"{stage}: needs a flow config (--config or --model), not only a project folder (--hls-dir)")
    return b.cfg


def _need_models(b: Build, train: bool = False) -> None:
    """The models stage's output, made now when that stage was skipped (cache: no retraining)."""
    if b.models is None or (train and b.data is None):
        if b.models is not None and b.options.models == "train":  # a caller's model (a sweep point's), no data
            raise ConfigError(f"{b.name}: parity needs the test images; start the run at the models stage")
        if train:
            b.options.models = "train"
        models(b)
    if b.reuse is None:
        b.reuse = plan_reuse(b.cfg.hls, b.qmodel)


def _need_project(b: Build, error: type, hint: str) -> None:
    if b.cfg is not None and not b.hls_dir.is_dir():
        raise error(f"{b.cfg.path}: no hls4ml project at {b.hls_dir}; {hint.format(name=b.cfg.name)}")


# ------------------------------------------------------------------- the stages' library


def stage_models(cfg: FlowConfig, validated: bool = False):
    """data -> trained float + QKeras models (cached); returns (dataset, TrainedModels)."""
    from hwflow.data import load_dataset
    from hwflow.train import train

    if not validated:
        validate_model(cfg)
    ds = load_dataset(cfg.data, cfg.model.input_shape, cfg.train.seed,
                      classes=model_classes(cfg))
    return ds, train(cfg, ds)


def model_classes(cfg: FlowConfig) -> int:
    """The model's output count: the config's model.classes or the entry point's default."""
    from hwflow import zoo

    if cfg.model.file is not None:
        from hwflow.usermodel import float_model_of

        return int(float_model_of(cfg).output_shape[-1])
    return int(cfg.model.params.get("classes", zoo.params_of(cfg.model.arch)["classes"].default))


def validate_model(cfg: FlowConfig, model=None, strict: bool = True) -> ReusePlan:
    """Config checks that need the network's layers, on `model` or the untrained float model, before
    any work; returns the build's reuse plan (`strict`: raises on a per-layer reuse factor hls4ml
    would change)."""
    from hwflow.zoo.layers import BN_SUFFIX, kernel_layer_names

    if model is None:
        from hwflow.train import build_models

        model, _ = build_models(cfg)
    names = [l.name for l in model.layers if not l.name.endswith(BN_SUFFIX)]
    kernels = kernel_layer_names(model)
    validate_layers(cfg, names, kernels)
    for name, lh in cfg.hls.layers.items():  # the QKeras twin's quantizers type these: hls4ml drops the entry
        key = next((k for k in ("weight", "bias") if k in lh.precision and name in kernels), None)
        if key:
            raise ConfigError(f"{cfg.path}: hls.layers.{name}.precision.{key}: {lh.precision[key]!r} does not reach "
                              f"the project (a QKeras layer's {key}s take its quantizer's type); set "
                              f"quantization.layers.{name}.{key} instead")
    plan = plan_reuse(cfg.hls, model)  # kernel shapes are the same in the float model and its BN-folded QKeras twin
    if strict:
        plan.raise_invalid(cfg.path)
    return plan


def stage_check(cfg: FlowConfig, qmodel, reuse: ReusePlan | None = None) -> list[Finding]:
    findings = check_model(qmodel, cfg.hls, reuse)
    for f in findings:
        print("  " + f.line())
    fatal = [f for f in findings if f.fatal]
    if fatal:
        raise CheckError(f"{cfg.path}: {len(fatal)} fatal finding(s); first: {fatal[0].layer}: {fatal[0].problem} "
                         f"Fix: {fatal[0].fix}")
    return findings


def stage_parity(cfg: FlowConfig, paths: ModelPaths, ds, tm, *, images: int | None = None, workers: int | None = None,
                 trace: bool = False, engine: str = "auto", hls_model=None, reference: int = 32,
                 reuse: ReusePlan | None = None):
    """Firmware outputs on the test images vs QKeras and float; writes reports/parity.*

    engine "auto": the bit-exact emulator (hwflow.sim.emulate) computes all images, and C-sim of the
    generated C++ checks it on the first `reference` images; any difference, or a layer the
    emulator does not support, and C-sim computes everything. engine "csim": C-sim only.
    """
    from hwflow.sim import csim, parity

    info = read_layer_table(paths.hls)
    n = min(images or cfg.parity.images, len(ds.x_test))
    x, y = ds.x_test[:n], ds.y_test[:n]
    lib = csim.compile_project(paths.hls, paths.csim)
    if engine == "auto" and hls_model is None:
        from hwflow.convert import to_hls_model

        hls_model = to_hls_model(cfg, tm.qmodel, plan=reuse)
    outputs, stats = csim.firmware_outputs(paths.hls, lib, x, hls_model=hls_model if engine == "auto" else None,
                                           reference=reference, workers=workers, desc=cfg.name)
    q = tm.qmodel.predict(x, batch_size=128, verbose=0)
    f = tm.float_model.predict(x, batch_size=128, verbose=0)
    out_prec = info["layers"][-1]["result"]
    labelled = cfg.data.source != "default" or (cfg.train.epochs > 0 and cfg.model.file is None)
    res = parity.compare(outputs, q, f, y if labelled else None,
                         out_prec, cfg.parity)
    lsb = parity.lsb_of(out_prec) or 1.0
    res.csim = {**stats, "compile_s": round(lib.compile_s, 2), "compile_cached": lib.cached,
                "errors_lsb": (np.abs(outputs - q.reshape(outputs.shape)) / lsb).ravel().tolist()}
    if trace or not res.passed:
        k = min(len(x), 32)
        tr = csim.run(paths.hls, lib, x[:k], trace=True, workers=workers, desc=f"{cfg.name}: C-sim trace")
        outs = parity.layer_outputs(tm.qmodel, x[:k], [l["name"] for l in info["layers"]])
        res.layer_diffs = parity.layer_diffs(tr.trace, outs, info["layers"])
        res.first_divergence = parity.first_divergence(res.layer_diffs)
    parity.write_tb_data(paths.hls, x[: min(n, 20)], q[: min(n, 20)])
    parity.render(res, paths.reports, cfg.name)
    res.csim.pop("errors_lsb")
    return res


def _print_parity(res) -> None:
    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    print(f"  parity on {res.n_images} images: argmax agreement {pct(res.argmax_agreement)}, bit-exact "
          f"{pct(res.bit_exact_share)}, max logit error {res.max_abs_diff:.4g} "
          f"({'-' if res.max_diff_lsb is None else f'{res.max_diff_lsb:.2f}'} LSB of {res.output_precision})")
    print(f"  top-1: float {pct(res.float_accuracy)}, QKeras {pct(res.qkeras_accuracy)}, C-sim {pct(res.csim_accuracy)}"
          f"; {res.csim['engine']} {res.csim['images_per_s']:.3g} images/s")
    if res.first_divergence:
        fd = res.first_divergence
        print(f"  first diverging layer: {fd.layer} ({fd.class_name}, {fd.precision}): max error {fd.max_abs_diff:.4g}"
              f" = {fd.max_diff_lsb} LSB")


def _fail_on_parity(cfg: FlowConfig, res) -> None:
    if not res.passed:
        where = ""
        if res.first_divergence:
            fd = res.first_divergence
            where = f"; first diverging layer {fd.layer} ({fd.precision}, {fd.max_diff_lsb} LSB)"
        raise ParityError(f"{cfg.name}: parity failed: {'; '.join(res.failures)}{where}")


# ------------------------------------------------------------ the `make hls` / `make csim` slices


def run_hls(cfg: FlowConfig, *, parity: bool = True, images: int | None = None, engine: str = "auto") -> Build:
    """models -> check -> convert -> estimate [-> parity] (the `make hls` job)."""
    return run(cfg, stop="parity" if parity else "estimate", options=Options(images=images, engine=engine, command="hls"))


def run_csim(cfg: FlowConfig, *, images: int | None = None, workers: int | None = None, trace: bool = False,
             engine: str = "auto"):
    """C-sim parity of an existing project (`make csim`)."""
    opts = Options(images=images, workers=workers, trace=trace, engine=engine, command="csim")
    return run(cfg, start="parity", stop="parity", options=opts).parity
