"""`hwflow report`: parse a project's synthesis reports and write report.md / .json / .png."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from hwflow.errors import ConfigError, ReportError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="parse synthesis reports (csynth, Vivado, timing, cosim) into report.md/json/png",
        description="Read the C-synthesis, Vivado utilization/timing and co-simulation reports of an "
        "hls4ml project and write report.md, report.json and resources.png.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", type=Path, help="hls_configs/<model>.yaml: reads build/<model>/hls, writes build/<model>/reports")
    src.add_argument("--hls-dir", type=Path, help="any hls4ml project folder (ours or synthesized elsewhere)")
    p.add_argument("--out", type=Path, help="output folder (required with --hls-dir)")
    p.add_argument("--board", help="board name from the board table (default: the board of the config or of the report's part)")
    p.set_defaults(func=run)


def _from_config(path: Path) -> tuple[Path, Path, str | None]:
    """(hls dir, reports dir, board name) of a model config, via hwflow.config when it exists."""
    if importlib.util.find_spec("hwflow.config") is None:
        raise ConfigError(f"{path}: hwflow.config is not available in this checkout; use --hls-dir <project> --out <folder>")
    from hwflow.config import load_config
    from hwflow.paths import ModelPaths

    cfg = load_config(path)
    paths = ModelPaths.for_model(cfg.name)
    board = getattr(getattr(cfg.hls, "board", None), "name", None)
    return paths.hls, paths.reports, board


def run(args: argparse.Namespace) -> int:
    from hwflow.reports.project import parse_project
    from hwflow.reports.render import render_report

    if args.config is not None:
        hls_dir, out, board = _from_config(args.config)
        out = args.out or out
        if not hls_dir.is_dir():
            raise ReportError(f"{hls_dir}: no hls4ml project yet; run `make hls MODEL={args.config.stem}` then `make synth`")
    else:
        hls_dir, board = args.hls_dir, None
        if args.out is None:
            raise ConfigError("--out: required with --hls-dir (the folder to write report.md, report.json, resources.png)")
        out = args.out
    from hwflow.guard import out_dir

    out_dir(out)
    board = args.board or board
    report = parse_project(hls_dir, board=board)
    if not report.has_results:
        hint = "`make synth`" if args.config is not None else "synthesis (vitis_hls / vivado_hls -f build_prj.tcl)"
        raise ReportError(f"{hls_dir}: no synthesis results yet (no *_csynth.xml/.rpt, no Vivado report); run {hint} "
                          "first, or point `hwflow report --hls-dir` at a synthesized project")
    written = render_report(report, out)
    top = report.top
    if top is not None:
        print(f"{top.module}: latency {top.latency_worst_cycles} cycles, II {top.interval_max_cycles}, "
              f"LUT {top.resources.lut}, DSP {top.resources.dsp}")
    import sys

    for n in report.notes:
        if n.startswith("warning:"):
            print(f"hwflow report: {n}", file=sys.stderr)
    for f in report.fits[:1]:
        b = f.binding
        if b is not None:
            verdict = {True: "fits", False: "DOES NOT FIT", None: f"unknown ({', '.join(f.unknown) or '?'} not read)"}
            print(f"fit vs {f.against}: {verdict[f.fits]}; binding {b.resource} {b.percent:.1f} %")
    for path in written.values():
        print(f"wrote {path}")
    return 0
