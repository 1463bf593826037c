"""Synthesis reports parsed back into Python: typed, per layer, with the board fit.

    from hwflow.reports import parse_project, render_report
    report = parse_project(Path("build/squeezenet/hls"))      # ProjectReport
    report.top.latency_worst_cycles, report.top.images_per_s_worst, report.fits[0].binding
    render_report(report, Path("build/squeezenet/reports"))   # report.md, report.json, resources.png

`hwflow report` (hwflow.reports.command) is the command-line front end.
"""

from hwflow.reports.csynth import parse_csynth, parse_csynth_rpt, parse_csynth_xml
from hwflow.reports.model import (
    BoardFit,
    CosimReport,
    CosimResult,
    CsynthReport,
    FitRow,
    LayerRow,
    ProjectReport,
    Resources,
    TimingSummary,
    VivadoUtilization,
)
from hwflow.reports.project import board_for_device, compute_fits, parse_project
from hwflow.reports.render import render_report
from hwflow.reports.vivado import parse_cosim, parse_timing_summary, parse_utilization

__all__ = [
    "BoardFit", "CosimReport", "CosimResult", "CsynthReport", "FitRow", "LayerRow", "ProjectReport",
    "Resources", "TimingSummary", "VivadoUtilization", "board_for_device", "compute_fits",
    "parse_cosim", "parse_csynth", "parse_csynth_rpt", "parse_csynth_xml", "parse_project", "parse_timing_summary",
    "parse_utilization", "render_report",
]
