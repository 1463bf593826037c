"""The flow, top to bottom: config -> data -> model (train/QAT) -> check -> convert -> C-sim parity.

    cfg = load_config("hls_configs/squeezenet.yaml")
    result = run_hls(cfg)

Each stage is a plain function of the previous stages' typed outputs; the stage list below is
the README's pipeline picture. Stage times go to build/<model>/reports/time_per_stage.json.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwflow.check import Finding, check_model
from hwflow.config import FIFO_MODES, FlowConfig, load_config, validate_layers
from hwflow.errors import CheckError, ParityError
from hwflow.guard import build_lock, clean_orphans, cli_int
from hwflow.paths import CONFIG_DIR, ModelPaths


@dataclass
class FlowResult:
    cfg: FlowConfig
    paths: ModelPaths
    findings: list[Finding] = field(default_factory=list)
    convert: object | None = None  # hwflow.convert.ConvertResult
    parity: object | None = None  # hwflow.sim.parity.ParityResult
    times: dict[str, float] = field(default_factory=dict)


@contextmanager
def _stage(times: dict, name: str):
    t0 = time.perf_counter()
    print(f"== {name}", flush=True)
    yield
    times[name] = round(time.perf_counter() - t0, 2)


def stage_models(cfg: FlowConfig):
    """data -> trained float + QKeras models (cached)."""
    from hwflow.data import load_dataset
    from hwflow.train import train

    validate_model(cfg)
    ds = load_dataset(cfg.data, cfg.model.input_shape, cfg.train.seed,
                      classes=model_classes(cfg))
    return ds, train(cfg, ds)


def model_classes(cfg: FlowConfig) -> int:
    """The model's output count: the config's model.classes or the entry point's default."""
    from hwflow import zoo

    return int(cfg.model.params.get("classes", zoo.params_of(cfg.model.arch)["classes"].default))


def validate_model(cfg: FlowConfig) -> None:
    """Config checks that need the network's layers, done on the untrained model before any work."""
    from hwflow.convert import resolve_reuse_factors
    from hwflow.train import build_models
    from hwflow.zoo.layers import BN_SUFFIX, kernel_layer_names

    float_model, _ = build_models(cfg)
    names = [l.name for l in float_model.layers if not l.name.endswith(BN_SUFFIX)]
    validate_layers(cfg, names, kernel_layer_names(float_model))
    resolve_reuse_factors(cfg, float_model)  # raises on a per-layer reuse factor hls4ml would change


def stage_check(cfg: FlowConfig, qmodel) -> list[Finding]:
    findings = check_model(qmodel, cfg.hls)
    for f in findings:
        print("  " + f.line())
    fatal = [f for f in findings if f.fatal]
    if fatal:
        raise CheckError(f"{cfg.path}: {len(fatal)} fatal finding(s); first: {fatal[0].layer}: {fatal[0].problem} "
                         f"Fix: {fatal[0].fix}")
    return findings


def stage_parity(cfg: FlowConfig, paths: ModelPaths, ds, tm, *, images: int | None = None, workers: int | None = None,
                 trace: bool = False, engine: str = "auto", hls_model=None, reference: int = 32):
    """Firmware outputs on the test images vs QKeras and float; writes reports/parity.*

    engine "auto": the bit-exact emulator (hwflow.sim.emulate) computes all images, and C-sim of the
    generated C++ checks it on the first `reference` images; any difference, or a layer the
    emulator does not support, and C-sim computes everything. engine "csim": C-sim only.
    """
    from hwflow.sim import csim, parity

    info = csim.project_info(paths.hls)
    n = min(images or cfg.parity.images, len(ds.x_test))
    x, y = ds.x_test[:n], ds.y_test[:n]
    lib = csim.compile_project(paths.hls, paths.csim)
    if engine == "auto" and hls_model is None:
        from hwflow.convert import to_hls_model

        hls_model = to_hls_model(cfg, tm.qmodel)
    outputs, stats = csim.firmware_outputs(paths.hls, lib, x, hls_model=hls_model if engine == "auto" else None,
                                           reference=reference, workers=workers, desc=cfg.name)
    q = tm.qmodel.predict(x, batch_size=128, verbose=0)
    f = tm.float_model.predict(x, batch_size=128, verbose=0)
    out_prec = info["layers"][-1]["result"]
    res = parity.compare(outputs, q, f, y if cfg.train.epochs > 0 or cfg.data.source != "default" else None,
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


def run_hls(cfg: FlowConfig, *, parity: bool = True, images: int | None = None, engine: str = "auto") -> FlowResult:
    """data -> train -> check -> convert -> C-sim parity (the `make hls` job)."""

    if cfg.hls.fifo_depth == "cosim":  # hls4ml's co-simulated FIFO depths need the HLS tool: fail before any work
        from hwflow.fifo import require_cosim_tools

        require_cosim_tools(cfg.hls.backend)
    paths = ModelPaths.for_model(cfg.name)
    with build_lock(paths.root, "hls"):
        # a run killed mid-conversion / mid-save leaves its temporary folders; nobody else holds the lock
        clean_orphans(paths.root, ".hls-")
        clean_orphans(paths.model, ".")
        return _run_hls(cfg, paths, parity=parity, images=images, engine=engine)


def _run_hls(cfg: FlowConfig, paths: ModelPaths, *, parity: bool, images: int | None, engine: str) -> FlowResult:
    from hwflow.convert import convert, summary

    result = FlowResult(cfg, paths)
    t = result.times
    with _stage(t, "data + model"):
        ds, tm = stage_models(cfg)
        acc = "" if tm.float_accuracy is None else f" (top-1 float {tm.float_accuracy:.4f}, QKeras {tm.qkeras_accuracy:.4f})"
        print(f"  {'cached weights' if tm.from_cache else 'trained'}: {tm.weights_dir}{acc}")
    with _stage(t, "check"):
        result.findings = stage_check(cfg, tm.qmodel)
    with _stage(t, "convert"):
        result.convert = convert(cfg, tm.qmodel, paths.hls)
        print(summary(cfg, result.convert))
        if result.convert.fifo is not None:
            result.convert.fifo.write(paths.reports, cfg.name)
    if parity:
        with _stage(t, "csim parity"):
            result.parity = stage_parity(cfg, paths, ds, tm, images=images, engine=engine,
                                         hls_model=result.convert.hls_model)
            _print_parity(result.parity)
    paths.reports.mkdir(parents=True, exist_ok=True)
    (paths.reports / "time_per_stage.json").write_text(json.dumps(t, indent=1))
    if result.parity is not None:
        _fail_on_parity(cfg, result.parity)
    return result


def run_csim(cfg: FlowConfig, *, images: int | None = None, workers: int | None = None, trace: bool = False,
             engine: str = "auto"):
    """C-sim parity of an existing project (`make csim`)."""
    paths = ModelPaths.for_model(cfg.name)
    if not paths.hls.exists():
        from hwflow.errors import CsimError

        raise CsimError(f"{paths.hls}: no HLS project; run `make hls MODEL={cfg.name}` first")
    with build_lock(paths.root, "csim"):
        ds, tm = stage_models(cfg)
        res = stage_parity(cfg, paths, ds, tm, images=images, workers=workers, trace=trace, engine=engine)
    _print_parity(res)
    _fail_on_parity(cfg, res)
    return res


# ------------------------------------------------------------------------------------------ CLI


def config_arg(parser) -> None:
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--config", type=Path, help="a flow config YAML (e.g. hls_configs/squeezenet.yaml)")
    g.add_argument("--model", help=f"name of a shipped config in {CONFIG_DIR.name}/")


def resolve_config(args) -> FlowConfig:
    path = args.config if args.config else CONFIG_DIR / f"{args.model}.yaml"
    return load_config(path)


def _cmd_hls(args) -> int:
    cfg = resolve_config(args)
    if args.fifo:  # validated like the file's own key (io_parallel accepts only full)
        from hwflow.config import config_from_dict

        cfg = config_from_dict({**cfg.raw, "hls": {**(cfg.raw.get("hls") or {}), "fifo_depth": args.fifo}}, cfg.path)
    run_hls(cfg, parity=not args.no_csim, images=args.images, engine=args.engine)
    return 0


def _cmd_check(args) -> int:
    from hwflow.train import untrained_models

    cfg = resolve_config(args)
    validate_model(cfg)
    _, qmodel, _ = untrained_models(cfg)  # the check looks at structure and settings, not trained values
    findings = stage_check(cfg, qmodel)
    print(f"{cfg.name}: {len(findings)} finding(s), none fatal")
    return 0


def _cmd_csim(args) -> int:
    run_csim(resolve_config(args), images=args.images, workers=args.workers, trace=args.trace, engine=args.engine)
    return 0


def _engine_arg(p) -> None:
    p.add_argument("--engine", choices=("auto", "csim"), default="auto",
                   help="auto: bit-exact emulator on all images, checked against C-sim on a sample (default); "
                        "csim: C-simulation of the generated C++ for every image")


def add_parser(sub) -> None:
    p = sub.add_parser("hls", help="data -> train -> check -> convert -> C-sim parity")
    config_arg(p)
    p.add_argument("--no-csim", action="store_true", help="stop after writing the HLS project")
    p.add_argument("--images", type=cli_int(1), help="C-sim this many test images (default: parity.images)")
    p.add_argument("--fifo", choices=FIFO_MODES, help="FIFO depths (overrides hls.fifo_depth): auto = hwflow's token "
                   "model, full = hls4ml's H*W, cosim = hls4ml's co-simulation (needs Vivado/Vitis HLS)")
    _engine_arg(p)
    p.set_defaults(func=_cmd_hls)

    p = sub.add_parser("check", help="pre-flight check for constructs hls4ml 1.3.0 mishandles")
    config_arg(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("csim", help="C-simulation parity of the generated project vs QKeras and float")
    config_arg(p)
    p.add_argument("--images", type=cli_int(1), help="number of test images (default: parity.images)")
    p.add_argument("--workers", type=cli_int(1, 256), help="C-sim processes (default: one per core)")
    p.add_argument("--trace", action="store_true", help="always compare per-layer outputs")
    _engine_arg(p)
    p.set_defaults(func=_cmd_csim)
