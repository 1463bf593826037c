"""`hwflow <command>`: the command-line edge of the flow.

Every parser and handler is here; the library takes typed objects (a FlowConfig, a Board, a
Path). Every command names its target the same way: `--config FILE | --model NAME | --hls-dir DIR`
(a command that cannot use one says so in one line). The stage commands are slices of
`hwflow.flow.STAGES`. Typed errors become one line on stderr and an exit status here and only
here. Quiet by default: TensorFlow's C++ log, Python warnings and hls4ml's chatter are off
unless --verbose (set before TensorFlow is imported: the library imports it lazily).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import warnings
from pathlib import Path

from hwflow import flow
from hwflow.boards import get_board
from hwflow.config import FIFO_MODES, FlowConfig, config_from_dict, load_config
from hwflow.errors import ConfigError, HwflowError
from hwflow.estimate import estimate
from hwflow.estimate_report import from_keras, summary_lines, write_reports
from hwflow.fit import _pct, run_fit
from hwflow.guard import cli_float, cli_int, out_dir, out_file, shown_message
from hwflow.paths import CONFIG_DIR, ModelPaths
from hwflow import sweep
from hwflow.synth import BACKENDS, DEFAULT_BITSTREAM_TIMEOUT_S, DEFAULT_SYNTH_TIMEOUT_S
from hwflow.tools import discover, doctor_text, find_tool
from hwflow.tune.run import DEFAULT_ACT_BITS, DEFAULT_SPARSITY, DEFAULT_WEIGHT_BITS, ENGINES as TUNE_ENGINES, tune

# ---------------------------------------------------------------------------------- quiet


def quiet_environment(verbose: bool) -> None:
    """No TensorFlow/hls4ml noise unless --verbose: TF's C++ log level (read when TF loads, and
    inherited by worker processes), Python warnings, and the Python loggers."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")  # Dask workers and other child processes
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "hls4ml", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)


def quiet_stdout(verbose: bool):
    """hls4ml prints while converting (layer lists, strategy overrides): off unless --verbose."""
    return contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())


# --------------------------------------------------------------------------------- targets


def _target(p: argparse.ArgumentParser, *extra: tuple[str, str]) -> None:
    """The one target group: --config | --model | --hls-dir (and a command's own, e.g. --keras)."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--config", type=Path, help="a flow config YAML (e.g. hls_configs/squeezenet.yaml)")
    g.add_argument("--model", help=f"name of a shipped config in {CONFIG_DIR.name}/ (e.g. squeezenet)")
    g.add_argument("--hls-dir", type=Path, help="an hls4ml project folder (ours or written elsewhere)")
    for flag, text in extra:
        g.add_argument(flag, help=text)
    p.add_argument("--verbose", action="store_true", help="show TensorFlow/hls4ml output")


def _config(args) -> FlowConfig | None:
    """The flow config of --config / --model; None for --hls-dir."""
    if getattr(args, "config", None):
        return load_config(args.config)
    if getattr(args, "model", None):
        return load_config(CONFIG_DIR / f"{args.model}.yaml")
    return None


def _need_config(args) -> FlowConfig:
    cfg = _config(args)
    if cfg is None:
        raise ConfigError(f"hwflow {args.command}: needs --config or --model (a flow config); --hls-dir is a project "
                          "folder without the model it came from")
    return cfg


def _board(args):
    return get_board(args.board, where="--board") if getattr(args, "board", None) else None


# -------------------------------------------------------------------------------- handlers


def _cmd_hls(args) -> int:
    written = None
    if args.keras:  # the shorthand: the config it runs, validated in memory, then the same flow
        from hwflow.usermodel import shorthand_config

        board = _board(args)
        cfg, written = shorthand_config(Path(args.keras), data=args.data, board=board.name if board else None)
    elif args.data:
        raise ConfigError("hwflow hls: --data goes with --keras (a config names its own data:)")
    else:
        cfg = _need_config(args)
    if args.fifo:  # validated like the file's own key (io_parallel accepts only full)
        cfg = config_from_dict({**cfg.raw, "hls": {**(cfg.raw.get("hls") or {}), "fifo_depth": args.fifo}}, cfg.path)
    # --board with a config: fold it for that board (hls.reuse_factor: auto; the plan stage says otherwise)
    opts = flow.Options(images=args.images, engine=args.engine, command="hls",
                        board=_board(args) if args.board and not args.keras else None)
    try:
        flow.run(cfg, stop="estimate" if args.no_csim else "parity", options=opts)
    except HwflowError as exc:  # bad input (exit 2, 3): nothing written; a C-sim/parity failure: kept to edit
        if written is not None and exc.exit_code not in (2, 3):
            print(f"hwflow hls --keras: config {written()}")
        raise
    if written is not None:
        print(f"hwflow hls --keras: config {written()}")
    return 0


def _cmd_check(args) -> int:
    cfg = _need_config(args)
    b = flow.run(cfg, stop="check", options=flow.Options(models="untrained", command="check"))
    print(f"{cfg.name}: {len(b.findings)} finding(s), none fatal")
    return 0


def _cmd_csim(args) -> int:
    opts = flow.Options(images=args.images, workers=args.workers, trace=args.trace, engine=args.engine,
                        command="csim")
    flow.run(_need_config(args), start="parity", stop="parity", options=opts)
    return 0


def _cmd_estimate(args) -> int:
    out_dir(args.out)
    board = _board(args)
    if args.keras:
        with quiet_stdout(args.verbose):
            hls_model = from_keras(Path(args.keras), board or get_board("zcu102"), backend=args.backend,
                                   io_type=args.io_type, reuse_factor=args.reuse_factor, strategy=args.strategy)
        name = Path(args.keras).stem
        est = estimate(hls_model, board=board or None, tool=args.tool, basis=args.basis)
        if est.unknown_layers:  # refused before anything is written: a partial estimate is no estimate
            raise ConfigError(f"--keras: {args.keras}: layer(s) {', '.join(est.unknown_layers)} cannot be estimated "
                              f"(layer types hwflow.estimate does not know); remove or replace them")
        paths = write_reports(est, Path(args.out) if args.out else ModelPaths.for_model(name).reports, name)
        source = None
    else:
        cfg = _need_config(args)
        opts = flow.Options(models="cached", write_project=False, board=board, tool=args.tool, command="estimate",
                            basis=args.basis,
                            estimate_dir=Path(args.out) if args.out else None)
        with quiet_stdout(args.verbose):
            b = flow.run(cfg, stop="estimate", options=opts)
        est, paths, source, name = b.estimate, b.estimate_files, b.model_source, cfg.name
    print("\n".join(summary_lines(est, name)))
    print(f"  -> {paths['md']}" + (f" (model {source})" if source else ""))
    if est.unknown_layers:
        print(f"{name}: not estimated (unknown layer types): {', '.join(est.unknown_layers)}")
    return 0


def _fraction(text: str) -> float:
    """argparse type of --max-util / --max-dsp-util: a fraction in (0, 1.5], or a percent (argparse names the flag)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if v > 1.5:  # given in percent
        v /= 100.0
    if not (0 < v <= 1.5):  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r} is not valid; valid: a fraction in (0, 1.5] or a percent")
    return v


def _cmd_fit(args) -> int:
    cfg = _need_config(args)
    board = get_board(args.board, where="--board")
    if args.target_fps is not None and args.target_fps <= 0:
        raise ConfigError(f"--target-fps: must be > 0, got {args.target_fps:g}")
    out = out_file(args.out, "--out") if args.out else CONFIG_DIR / f"{cfg.name}_{board.name}.yaml"
    report_dir = out_dir(args.report_dir, "--report-dir")  # both checked before any work
    cmd = f"hwflow fit --config {args.config or cfg.path} --board {board.name}" + (
        f" --target-fps {args.target_fps:g}" if args.target_fps else "") + (
        f" --max-util {args.max_util:g}" if args.max_util is not None else "") + (
        f" --basis {args.basis}" if args.basis != "vivado" else "")
    with quiet_stdout(args.verbose):
        res, path, reports = run_fit(cfg, board, out, target_fps=args.target_fps, max_util=args.max_util,
                                     max_dsp_util=args.max_dsp_util, command=cmd, report_dir=report_dir,
                                     basis=args.basis)
    a, u = res.after, res.after["utilisation"]
    print(f"{cfg.name} on {board.name}: {a['images_per_s']:,.1f} images/s, latency {a['latency_us']:,.1f} us, "
          f"DSP {_pct(u['DSP'])} LUT {_pct(u['LUT'])} FF {_pct(u['FF'])} BRAM_18K {_pct(u['BRAM_18K'])}, "
          f"binding {a['binding']}, DSP roofline {100 * (a['roofline_share'] or 0):.1f}% (estimated; was "
          f"{res.before['images_per_s']:,.1f} images/s at {_pct(res.before['utilisation'][res.before['binding']])} "
          f"{res.before['binding']}) in {res.search['seconds']} s -> {path}, {reports['md']}")
    return 0


def _print_dry_run(res) -> int:
    print(res.text, end="")
    missing = [t for t in res.plan.tools if find_tool(t) is None]
    if missing:
        print(f"# not installed here: {', '.join(missing)} (see `hwflow doctor`)")
    return 0


def _project_options(args, **kw) -> flow.Options:
    return flow.Options(hls_dir=args.hls_dir, reports_dir=args.reports_dir, dry_run=args.dry_run,
                        command=args.command, **kw)


def _cmd_synth(args) -> int:
    synth = dict(csim=args.csim, synth=not args.no_synth, cosim=args.cosim, export=args.export, vsynth=args.vsynth,
                 reset=args.reset, timeout_s=args.timeout)
    b = flow.run(_config(args), start="synth", stop="synth",
                 options=_project_options(args, backend=args.backend, synth=synth))
    res = b.synthesis
    if res.dry_run:
        return _print_dry_run(res)
    print(f"synthesized {res.hls_dir} ({res.backend}) in {res.elapsed_s:.1f} s; logs in {res.hls_dir / 'hwflow_logs'}")
    for name, path in res.reports.items():
        print(f"  {name}: {path}")
    return 0


def _cmd_bitstream(args) -> int:
    opts = _project_options(args, board=_board(args), deploy_dir=args.deploy_dir,
                            bitstream=dict(platform=args.platform, timeout_s=args.timeout))
    res = flow.run(_config(args), start="bitstream", stop="bitstream", options=opts).deploy
    if res.dry_run:
        return _print_dry_run(res)
    print(f"{res.plan.kind} for {res.board.name} in {res.elapsed_s:.1f} s -> {res.deploy_dir}")
    for fname in res.files:
        print(f"  {fname}")
    return 0


def _cmd_report(args) -> int:
    cfg = _config(args)
    if cfg is None and args.out is None:
        raise ConfigError("--out: required with --hls-dir (the folder to write report.md, report.json, resources.png)")
    opts = flow.Options(hls_dir=args.hls_dir, reports_dir=args.out, board=_board(args), command="report")
    b = flow.run(cfg, start="report", stop="report", options=opts)
    report = b.report
    top = report.top
    if top is not None:
        print(f"{top.module}: latency {top.latency_worst_cycles} cycles, II {top.interval_max_cycles}, "
              f"LUT {top.resources.lut}, DSP {top.resources.dsp}")
    for n in report.notes:
        if n.startswith("warning:"):
            print(f"hwflow report: {n}", file=sys.stderr)
    for f in report.fits[:1]:
        bf = f.binding
        if bf is not None:
            verdict = {True: "fits", False: "DOES NOT FIT", None: f"unknown ({', '.join(f.unknown) or '?'} not read)"}
            print(f"fit vs {f.against}: {verdict[f.fits]}; binding {bf.resource} {bf.percent:.1f} %")
    for path in b.report_files.values():
        print(f"wrote {path}")
    return 0


def _cmd_doctor(args) -> int:
    print(doctor_text(discover(versions=not args.no_versions)), end="")
    return 0


def _bits(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 6,5,4,3, got {text!r}") from None


def _shares(text: str) -> list[float]:
    """--sparsity values: floats, space- or comma-separated."""
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected shares of zero weights like 0.5 0.75, got {text!r}") from None


def _cmd_tune(args) -> int:
    cfg = _need_config(args)
    sparsity = [v for group in args.sparsity for v in group]  # nargs="*" of comma lists; [] or 0: off
    r = tune(cfg, args.budget, slice_images=args.slice, weight_bits=args.weight_bits, act_bits=args.act_bits,
             slack=args.slack, out=args.out, qat=not args.no_qat, hls=args.hls, engine=args.engine,
             sparsity=sparsity)

    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    for row in r.rows:
        print(f"  {row['label']}: mean weight bits {row['mean_weight_bits']:.2f}, "
              f"zero weights {100 * row.get('sparsity', 0.0):.1f}%, cost {row['cost']:.1f}, "
              f"top-1 float {pct(r.float_acc)} QKeras {pct(row['qkeras'])} C-sim {pct(row.get('csim'))}")
    print(f"  tuned config: {r.yaml_path}\n  report: {r.report_md}")
    if r.within_budget is False:
        print(f"  note: after QAT the drop exceeds the budget of {r.budget:g} points; try --slack 0 or a "
              f"smaller budget")
    return 0


def _cmd_sweep(args) -> int:
    cfg = _need_config(args)
    spec = sweep.load_spec(args.space)
    if args.dry_run:
        points = spec.points()
        print(f"{spec.path}: {len(points)} points ({spec.sampling}, grid of {spec.grid_size}), depth {spec.depth}")
        for p in points[:10]:
            print(f"  {sweep.point_key(p)}  {p}")
        if len(points) > 10:
            print(f"  ... {len(points) - 10} more")
        return 0
    out_dir(args.out)
    res = sweep.run_sweep(cfg, spec, out_dir=args.out, scheduler=args.scheduler, workers=args.workers,
                    retry_failed=args.retry_failed)
    print(f"{res.total} points: {res.ran} run now, {res.skipped} from earlier runs, {res.failed} failed"
          + (f"; {res.points_per_s:.2f} points/s on {res.workers} workers" if res.ran else ""))
    for name in ("csv", "parquet", "pareto_png", "best_config", "summary_md"):
        path = getattr(res, name)
        if path is not None:
            print(f"  {name}: {path}")
    if res.failed:  # the other points are kept; the run still says it was not clean
        errs = list(res.errors.values())
        first = errs[0].splitlines()[0][:300] if errs else "see the summary"
        bad_input = errs and all(e.startswith("ConfigError") for e in errs)
        raise (ConfigError if bad_input else HwflowError)(
            f"{res.failed} of {res.total} points failed (first: {first}); the others are in {res.csv}")
    return 0


# --------------------------------------------------------------------------------- parsers


def _engine_arg(p) -> None:
    p.add_argument("--engine", choices=("auto", "csim"), default="auto",
                   help="auto: bit-exact emulator on all images, checked against C-sim on a sample (default); "
                        "csim: C-simulation of the generated C++ for every image")


def _project_args(p) -> None:
    p.add_argument("--dry-run", action="store_true", help="print the exact commands and scripts; touch nothing")
    p.add_argument("--reports-dir", type=Path, help="where report.md/json go (default: <hls-dir>/../reports)")


def _add_flow_commands(sub) -> None:
    p = sub.add_parser("hls", help="models -> check -> plan -> convert -> estimate -> C-sim parity")
    _target(p, ("--keras", "a saved Keras/QKeras model (.h5/.keras): writes build/<name>/<name>.yaml and runs it"))
    p.add_argument("--data", help="with --keras: image folder or .npz for parity (and accuracy); default: digits")
    p.add_argument("--board", help="a board of the board table: with --config, fold the design for it (the "
                                   "config's hls.reuse_factor must be auto); with --keras, default pynq-z2")
    p.add_argument("--no-csim", action="store_true", help="stop after writing the HLS project (and its estimate)")
    p.add_argument("--images", type=cli_int(1), help="C-sim this many test images (default: parity.images)")
    p.add_argument("--fifo", choices=FIFO_MODES, help="FIFO depths (overrides hls.fifo_depth): auto = hwflow's token "
                   "model, full = hls4ml's H*W, cosim = hls4ml's co-simulation (needs Vivado/Vitis HLS)")
    _engine_arg(p)
    p.set_defaults(func=_cmd_hls)

    p = sub.add_parser("check", help="pre-flight check for constructs hls4ml 1.3.0 mishandles")
    _target(p)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("csim", help="C-simulation parity of the generated project vs QKeras and float")
    _target(p)
    p.add_argument("--images", type=cli_int(1), help="number of test images (default: parity.images)")
    p.add_argument("--workers", type=cli_int(1, 256), help="C-sim processes (default: one per core)")
    p.add_argument("--trace", action="store_true", help="always compare per-layer outputs")
    _engine_arg(p)
    p.set_defaults(func=_cmd_csim)


def _add_synth_commands(sub) -> None:
    p = sub.add_parser("synth", help="C synthesis with vitis_hls / vivado_hls (when installed)")
    _target(p)
    _project_args(p)
    p.add_argument("--backend", choices=BACKENDS, help="must match the project's backend (default: the project's)")
    p.add_argument("--csim", action="store_true", help="also run the tool's C simulation")
    p.add_argument("--cosim", action="store_true", help="also run C/RTL co-simulation")
    p.add_argument("--export", action="store_true", help="also export the IP (export_design)")
    p.add_argument("--vsynth", action="store_true", help="also run Vivado logic synthesis (needs vivado)")
    p.add_argument("--no-synth", action="store_true", help="skip csynth (e.g. --csim alone)")
    p.add_argument("--reset", action="store_true", help="reset the HLS project/solution first")
    p.add_argument("--timeout", type=cli_float(0), default=DEFAULT_SYNTH_TIMEOUT_S, metavar="S", help="time limit (s)")
    p.set_defaults(func=_cmd_synth)

    b = sub.add_parser("bitstream", help="bitstream / xclbin / IP for --board (when Vivado is installed)")
    _target(b)
    _project_args(b)
    b.add_argument("--board", help="a board of the board table (default: the config's hls.board)")
    b.add_argument("--deploy-dir", type=Path, help="where the deliverables go (default: <hls-dir>/../deploy)")
    b.add_argument("--platform", help="Alveo platform for v++ (default: the project's AcceleratorConfig.Platform)")
    b.add_argument("--timeout", type=cli_float(0), default=DEFAULT_BITSTREAM_TIMEOUT_S, metavar="S",
                   help="time limit (s)")
    b.set_defaults(func=_cmd_bitstream)

    p = sub.add_parser("doctor", help="which Xilinx tools are installed and what each missing one blocks")
    p.add_argument("--no-versions", action="store_true", help="do not run `<tool> -version` (faster)")
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser(
        "report", help="parse synthesis reports (csynth, Vivado, timing, cosim) into report.md/json/png",
        description="Read the C-synthesis, Vivado utilization/timing and co-simulation reports of an "
        "hls4ml project and write report.md, report.json and resources.png.")
    _target(p)
    p.add_argument("--out", type=Path, help="output folder (required with --hls-dir)")
    p.add_argument("--board", help="board name from the board table (default: the board of the config or of the report's part)")
    p.set_defaults(func=_cmd_report)


def _add_estimate_commands(sub) -> None:
    p = sub.add_parser("estimate", help="resources and latency per layer without synthesis")
    _target(p, ("--keras", "a saved Keras/QKeras model (.h5/.keras), converted with defaults"))
    p.add_argument("--board", help="board from hwflow.boards (default: the config's board)")
    p.add_argument("--out", help="output folder (default build/<name>/reports/)")
    p.add_argument("--io-type", default="io_stream", choices=("io_stream", "io_parallel"), help="with --keras")
    p.add_argument("--backend", default="Vitis", choices=("Vitis", "Vivado"), help="with --keras")
    p.add_argument("--reuse-factor", type=cli_int(1), default=1, help="with --keras (>= 1)")
    p.add_argument("--strategy", default="Latency", choices=("Latency", "Resource"), help="with --keras")
    p.add_argument("--tool", help="HLS tool that will synthesize it, e.g. 'Vivado HLS 2020.1' or 'Vitis HLS 2023.1' "
                                  "(io_stream schedules differ; default: the backend's tool)")
    p.add_argument("--basis", default="vivado", choices=("vivado", "hls"),
                   help="judge the fit on the Vivado-level projection (default) or on the csynth-level estimate")
    p.set_defaults(func=_cmd_estimate)

    p = sub.add_parser("fit", help="per-layer reuse factors and strategies that fit a board (balanced folding)")
    _target(p)
    p.add_argument("--board", required=True, help="board from hwflow.boards")
    p.add_argument("--target-fps", type=cli_float(0.0), help="meet this many images/s with the least resources "
                   "(default: the most images/s that fit)")
    p.add_argument("--max-util", type=_fraction, default=None,
                   help="LUT/FF/BRAM/URAM budget, fraction of the board (default: the Vivado-level budget, LUT/FF "
                        "0.85, BRAM/URAM 0.96; 0.8 with --basis hls)")
    p.add_argument("--max-dsp-util", type=_fraction, default=None, help="DSP budget, fraction of the board (default 1.0)")
    p.add_argument("--basis", default="vivado", choices=("vivado", "hls"),
                   help="fit the Vivado-level projection (default) or the csynth-level estimate")
    p.add_argument("--out", help="the fitted config (default hls_configs/<name>_<board>.yaml)")
    p.add_argument("--report-dir", help="where fit.md/json/png go (default build/<out name>/reports/)")
    p.set_defaults(func=_cmd_fit)


def _add_search_commands(sub) -> None:
    p = sub.add_parser("tune", help="per-layer quantization widths within an accuracy budget -> <model>_tuned.yaml")
    _target(p)
    p.add_argument("--budget", type=cli_float(-1e-9, 100), default=1.0, help="max top-1 drop vs float, in points (default 1.0)")
    p.add_argument("--slice", type=cli_int(1), default=1000,
                   help="images the search evaluates on: a seeded random subset of the data.validation split "
                        "(of the test split when the config holds none out)")
    p.add_argument("--engine", choices=TUNE_ENGINES, default="auto",
                   help="what evaluates each point: auto (QKeras, with the firmware emulator confirming the "
                        "baseline and the chosen point image for image; redone on the emulator if they differ), "
                        "emulate (the firmware for every point: an hls4ml conversion each), qkeras (no check)")
    p.add_argument("--weight-bits", type=_bits, default=list(DEFAULT_WEIGHT_BITS),
                   help="candidate weight widths (default %(default)s)")
    p.add_argument("--act-bits", type=_bits, default=list(DEFAULT_ACT_BITS),
                   help="candidate activation widths (default %(default)s)")
    p.add_argument("--sparsity", type=_shares, nargs="*", default=[list(DEFAULT_SPARSITY)],
                   help="candidate per-layer sparsities (shares of zero weights, magnitude-pruned; depthwise "
                        "and prune.exclude layers are never pruned), searched beside the widths and written as "
                        f"prune.layers (default {' '.join(f'{v:g}' for v in DEFAULT_SPARSITY)}; "
                        "--sparsity alone or --sparsity 0: widths only)")
    p.add_argument("--slack", type=cli_float(-1e-9, 100), default=0.0,
                   help="extra points the no-retraining search may lose, for QAT to recover (default 0)")
    p.add_argument("--out", type=Path, help="tuned YAML (default: hls_configs/<model>_tuned.yaml beside the config)")
    p.add_argument("--no-qat", action="store_true", help="skip the QAT fine-tuning of the final choice")
    p.add_argument("--hls", action="store_true", help="also run the tuned config through convert + C-sim parity")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("sweep", help="design-space sweep (reuse factor, strategy, io_type, bits, board) on Dask")
    _target(p)
    p.add_argument("--space", type=Path, required=True,
                   help="sweep spec YAML (e.g. hls_configs/sweeps/squeezenet.yaml)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
                                       "(default: $HWFLOW_DASK_SCHEDULER, else a LocalCluster)")
    p.add_argument("--workers", type=cli_int(1, 256), help="LocalCluster worker processes (default: one per core)")
    p.add_argument("--out", type=Path, help="sweep folder (default: build/<model>/sweep/<spec name>/)")
    p.add_argument("--retry-failed", action="store_true", help="run failed points of an earlier run again")
    p.add_argument("--dry-run", action="store_true", help="list the points and stop")
    p.set_defaults(func=_cmd_sweep)


class _Parser(argparse.ArgumentParser):
    """argparse, with the value it echoes in an error shortened and invisible characters shown."""

    def error(self, message):
        super().error(shown_message(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hwflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_flow_commands(sub)
    _add_synth_commands(sub)
    _add_estimate_commands(sub)
    _add_search_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_environment(getattr(args, "verbose", False))
    try:
        return int(args.func(args) or 0)
    except HwflowError as exc:
        print(f"hwflow {args.command}: error: {shown_message(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"hwflow {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused (read-only build folder, disk full, ...): one line, exit 2
        where = exc.filename or "a file"
        print(f"hwflow {args.command}: error: " + shown_message(f"{where}: {exc.strerror or exc}; check that it is "
              f"writable/readable (or set HWFLOW_BUILD_DIR)"), file=sys.stderr)
        return 2
    except MemoryError:
        print(f"hwflow {args.command}: error: out of memory; reduce the input size, images or points", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
