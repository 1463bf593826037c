"""C-synthesis reports: `<module>_csynth.xml`, the text `<module>_csynth.rpt`, and the RTL
hierarchy (Vitis aggregate `csynth.xml`, or the Instance tables of the `.rpt` files).

Vivado HLS 2016-2020 and Vitis HLS 2020.2-2025 differ in small ways (DSP48E vs DSP, element
order, scalar or range DataflowPipelineThroughput, RealTimeLatency present or not); every
value is looked up by tag name, never by position.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from hwflow.errors import ReportError
from hwflow.reports.model import CsynthReport, Resources
from hwflow.reports.textutil import ascii_tables, number, report_parser, read_text, seconds

_RES_TAGS = {"LUT": "LUT", "FF": "FF", "DSP": "DSP", "DSP48E": "DSP", "BRAM_18K": "BRAM_18K", "URAM": "URAM"}


MAX_XML_DEPTH = 200  # real csynth.xml files nest about 10 levels; a 3,000-deep one is not a report


def _load_xml(path: Path) -> ET.Element:
    """The parsed XML, refused (ReportError) when malformed or nested deeper than MAX_XML_DEPTH
    (counted while parsing: nothing later walks a deep tree)."""
    text = read_text(path)
    try:
        parser = ET.XMLPullParser(events=("start", "end"))
        parser.feed(text)
        parser.close()
        depth, root = 0, None
        for event, elem in parser.read_events():
            if event == "start":
                depth += 1
                root = elem if root is None else root
                if depth > MAX_XML_DEPTH:
                    raise ReportError(f"{path}: XML nested deeper than {MAX_XML_DEPTH} levels; not a C-synthesis "
                                      f"report")
            else:
                depth -= 1
        if root is None:
            raise ET.ParseError("no element found")
    except ET.ParseError as exc:
        what = "truncated XML" if "no element found" in str(exc) or "unclosed" in str(exc) else "not valid XML"
        raise ReportError(f"{path}: {what} ({exc}); expected a C-synthesis report (<profile>...</profile>)") from None
    if root.tag != "profile":
        raise ReportError(f"{path}: root element is <{root.tag}>, expected <profile> of a C-synthesis report")
    return root


def _resources(node: ET.Element | None, path: Path, where: str) -> Resources | None:
    if node is None:
        return None
    vals: dict[str, float | None] = {}
    for child in node:
        key = _RES_TAGS.get(child.tag)
        if key:
            vals[key] = number(child.text, file=path, key=f"{where}/{child.tag}")
    return Resources.from_dict(vals)


def _tool(root: ET.Element, version: str | None) -> str | None:
    """Vivado HLS writes DSP48E, Vitis HLS writes DSP (checked on every fixture, 2016.4-2025.2)."""
    res = root.find("AreaEstimates/Resources")
    if res is not None and res.find("DSP48E") is not None:
        return "Vivado HLS"
    if res is not None and res.find("DSP") is not None:
        return "Vitis HLS"
    m = re.search(r"(\d{4})\.(\d+)", version or "")  # "2020.1", "v2020.1-beta", "2019.2.1"
    if m:
        return "Vitis HLS" if (int(m.group(1)), int(m.group(2))) >= (2020, 2) else "Vivado HLS"
    return None


@report_parser
def parse_csynth_xml(path: Path) -> CsynthReport:
    """One `<module>_csynth.xml` (or the Vivado HLS `csynth.xml` copy / Vitis aggregate top part)."""
    path = Path(path)
    root = _load_xml(path)
    ua = root.find("UserAssignments")
    perf = root.find("PerformanceEstimates")
    lat = perf.find("SummaryOfOverallLatency") if perf is not None else None
    area = root.find("AreaEstimates/Resources")
    missing = [n for n, e in (("UserAssignments", ua), ("PerformanceEstimates/SummaryOfOverallLatency", lat),
                              ("AreaEstimates/Resources", area)) if e is None]
    if missing:
        raise ReportError(f"{path}: missing element {missing[0]} expected in a C-synthesis report")
    top = ua.findtext("TopModelName")
    if not top:
        raise ReportError(f"{path}: missing UserAssignments/TopModelName expected in a C-synthesis report")

    def num(node, tag, kind=int):
        return number(node.findtext(tag), file=path, key=tag, kind=kind)

    # Interval: Interval-min/max everywhere; DataflowPipelineThroughput (scalar or <range>) as backup.
    imin, imax = num(lat, "Interval-min"), num(lat, "Interval-max")
    dpt = lat.find("DataflowPipelineThroughput")
    if dpt is not None and imin is None and imax is None:
        if dpt.find("range") is not None:
            imin, imax = num(dpt, "range/min"), num(dpt, "range/max")
        else:
            imin = imax = number(dpt.text, file=path, key="DataflowPipelineThroughput")
    version = root.findtext("ReportVersion/Version")
    return CsynthReport(
        file=path,
        module=top,
        tool=_tool(root, version),
        tool_version=version,
        part=ua.findtext("Part"),
        clock_target_ns=num(ua, "TargetClockPeriod", float),
        clock_uncertainty_ns=num(ua, "ClockUncertainty", float),
        clock_estimated_ns=num(perf, "SummaryOfTimingAnalysis/EstimatedClockPeriod", float),
        latency_best_cycles=num(lat, "Best-caseLatency"),
        latency_average_cycles=num(lat, "Average-caseLatency"),
        latency_worst_cycles=num(lat, "Worst-caseLatency"),
        interval_min_cycles=imin,
        interval_max_cycles=imax,
        pipeline_type=perf.findtext("PipelineType") or lat.findtext("PipelineType"),
        resources=_resources(area, path, "Resources"),
        available=_resources(root.find("AreaEstimates/AvailableResources"), path, "AvailableResources"),
        reported_latency_best_s=seconds(lat.findtext("Best-caseRealTimeLatency"), file=path, key="Best-caseRealTimeLatency"),
        reported_latency_worst_s=seconds(lat.findtext("Worst-caseRealTimeLatency"), file=path, key="Worst-caseRealTimeLatency"),
    )


@report_parser
def top_name_of(path: Path) -> str | None:
    """TopModelName of a csynth.xml without parsing the (possibly > 1 MB) rest strictly."""
    return _load_xml(Path(path)).findtext("UserAssignments/TopModelName")


# --------------------------------------------------------------------------------------------
# Text reports (.rpt)


@dataclass(frozen=True)
class InstanceRow:
    """One row of an .rpt Instance table: a child module with its own numbers."""

    module: str
    resources: Resources | None = None
    latency_best_cycles: int | None = None
    latency_worst_cycles: int | None = None
    interval_min_cycles: int | None = None
    interval_max_cycles: int | None = None
    pipeline_type: str | None = None


@dataclass(frozen=True)
class RptReport:
    report: CsynthReport
    instances: tuple[InstanceRow, ...]  # direct children, in the order of the latency table


def _section(lines: list[str], title: str) -> int:
    for i, line in enumerate(lines):
        if line.startswith("== ") and title in line:
            return i
    return -1


def _latency_cells(cells: list[str], header_text: str, path: Path, key: str) -> tuple:
    """[min, max, (abs min, abs max,) imin, imax, type] -> cycles and interval (None if unknown)."""
    has_abs = "absolute" in header_text
    need = 7 if has_abs else 5
    if len(cells) < need:
        raise ReportError(f"{path}: {key} row has {len(cells)} columns, expected {need}")
    lo, hi = number(cells[0], file=path, key=key), number(cells[1], file=path, key=key)
    k = 4 if has_abs else 2
    imin, imax = number(cells[k], file=path, key=key), number(cells[k + 1], file=path, key=key)
    return lo, hi, imin, imax, (cells[k + 2] or None)


def _res_from_cells(header: list[str], cells: list[str], path: Path, key: str) -> Resources:
    vals = {}
    for h, c in zip(header, cells):
        k = _RES_TAGS.get(h.strip())
        if k:
            vals[k] = number(c, file=path, key=f"{key}/{h}")
    return Resources.from_dict(vals)


@report_parser
def parse_csynth_rpt(path: Path) -> RptReport:
    """The text `<module>_csynth.rpt`: the top numbers plus the Instance tables (children)."""
    path = Path(path)
    lines = read_text(path).splitlines()
    head = "\n".join(lines[:20])
    m = re.search(r"== (Vivado|Vitis) HLS Report for '([^']+)'", head)
    if not m:
        raise ReportError(f"{path}: no \"== Vivado/Vitis HLS Report for '<module>'\" header; not a csynth .rpt")
    tool, module = f"{m.group(1)} HLS", m.group(2)
    version = re.search(r"\* Version:\s*(\S+)", head)
    part = re.search(r"\* Target device:\s*(\S+)", head)

    perf, util = _section(lines, "Performance Estimates"), _section(lines, "Utilization Estimates")
    if perf < 0 or util < 0:
        raise ReportError(f"{path}: missing '== Performance Estimates' or '== Utilization Estimates' section")
    perf_tables = ascii_tables(lines[perf:util])
    util_tables = ascii_tables(lines[util:])
    if len(perf_tables) < 2 or not util_tables:
        raise ReportError(f"{path}: truncated report, expected timing, latency and utilization tables")

    def clock(cell: str, key: str) -> float | None:
        return number(cell.replace("ns", ""), file=path, key=key, kind=float)

    if len(perf_tables[0][1]) < 2 or len(perf_tables[1][1]) < 2:
        raise ReportError(f"{path}: truncated report, the timing or latency table has no data rows")
    clk = perf_tables[0][1][1][0]
    if len(clk) < 4:
        raise ReportError(f"{path}: Timing row has {len(clk)} columns, expected 4 (clock, target, estimated, "
                          f"uncertainty); truncated report?")
    lat_header = " ".join(" ".join(r) for r in perf_tables[1][1][0])
    lo, hi, imin, imax, ptype = _latency_cells(perf_tables[1][1][1][0], lat_header, path, "Latency summary")

    util_blocks = util_tables[0][1]
    uheader = util_blocks[0][0]
    used = avail = None
    for block in util_blocks[1:]:
        for row in block:
            if row[0] == "Total":
                used = _res_from_cells(uheader, row, path, "Utilization Total")
            elif row[0] == "Available" and avail is None:
                avail = _res_from_cells(uheader, row, path, "Utilization Available")
    if used is None:
        raise ReportError(f"{path}: utilization summary has no Total row")

    report = CsynthReport(
        file=path, module=module, tool=tool, tool_version=version.group(1) if version else None,
        part=part.group(1) if part else None,
        clock_target_ns=clock(clk[1], "Timing Target"), clock_uncertainty_ns=clock(clk[3], "Timing Uncertainty"),
        clock_estimated_ns=clock(clk[2], "Timing Estimated"),
        latency_best_cycles=lo, latency_average_cycles=None, latency_worst_cycles=hi,
        interval_min_cycles=imin, interval_max_cycles=imax, pipeline_type=ptype,
        resources=used, available=avail,
    )
    return RptReport(report, _instances(lines, perf, util, path))


def _instances(lines: list[str], perf: int, util: int, path: Path) -> tuple[InstanceRow, ...]:
    """Merge the latency and the utilization Instance tables by module name."""
    lat: dict[str, tuple] = {}
    order: list[str] = []
    res: dict[str, Resources] = {}
    for i in range(perf, len(lines)):
        if lines[i].strip() != "* Instance:":
            continue
        tables = ascii_tables(lines, i + 1)
        if not tables or tables[0][0] > i + 2:
            continue
        blocks = tables[0][1]
        header_rows = blocks[0]
        names = header_rows[-1]
        if "Module" not in names:
            continue
        mi = names.index("Module")
        for row in (r for b in blocks[1:] for r in b):
            if row[0] == "Total" or len(row) <= mi or not row[mi]:
                continue
            mod = row[mi]
            if i < util:  # latency table
                header_text = " ".join(" ".join(r) for r in header_rows)
                lat[mod] = _latency_cells(row[mi + 1:], header_text, path, f"Instance {mod}")
                if mod not in order:
                    order.append(mod)
            else:
                res[mod] = _res_from_cells(names, row, path, f"Instance {mod}")
    # Modules only in the utilization table are operator cores (mul, mux, fpext), not functions.
    out = []
    for mod in order:
        lo, hi, imin, imax, ptype = lat.get(mod, (None,) * 5)
        out.append(InstanceRow(mod, res.get(mod), lo, hi, imin, imax, ptype))
    return tuple(out)


@report_parser
def aggregate_hierarchy(path: Path) -> tuple[str, dict[str, list[str]]] | None:
    """(top, parent -> children) from a Vitis aggregate csynth.xml's RTLDesignHierarchy, if any."""
    root = _load_xml(Path(path))
    topm = root.find("RTLDesignHierarchy/TopModule")
    if topm is None:
        return None
    children: dict[str, list[str]] = {}

    top = topm.findtext("ModuleName") or ""
    stack = [(topm, top)]  # depth first, children in document order (iterative: no recursion limit)
    while stack:
        node, name = stack.pop()
        todo = []
        for inst in node.findall("InstancesList/Instance"):
            child = inst.findtext("ModuleName")
            if child:
                kids = children.setdefault(name, [])
                if child not in kids:
                    kids.append(child)
                todo.append((inst, child))
        stack.extend(reversed(todo))
    return top, children


def parse_csynth(path: Path) -> CsynthReport:
    """One module's csynth numbers from `<module>_csynth.xml`, or from the text `<module>_csynth.rpt`
    beside it when there is no XML (older projects and some copied designs keep only the text report).
    `path` may name either file; neither readable: ReportError naming both."""
    path = Path(path)
    xml = path.with_suffix(".xml")
    rpt = path.with_suffix(".rpt")
    if xml.is_file():
        return parse_csynth_xml(xml)
    if rpt.is_file():
        return parse_csynth_rpt(rpt).report
    raise ReportError(f"{xml}: no csynth report (neither {xml.name} nor {rpt.name} exists)")
