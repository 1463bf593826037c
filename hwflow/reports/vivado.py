"""Vivado text reports: report_utilization (flat and -hierarchical), report_timing_summary,
and the HLS C/RTL co-simulation report.

Utilization wording differs by family: 7-series `Slice LUTs` / `Slice Registers` /
`Block RAM Tile`, UltraScale(+) `CLB LUTs` / `CLB Registers` / `Block RAM Tile`; Vivado
2022.2+ adds a `Prohibited` column. Columns are found by their header name. "Block RAM Tile"
counts 36 Kb tiles (0.5 = one RAMB18), so it is kept as a float and never read as BRAM_18K.
"""

from __future__ import annotations

import re
from pathlib import Path

from hwflow.errors import ReportError
from hwflow.reports.model import (
    ClockTiming,
    CosimReport,
    CosimResult,
    Resources,
    TimingSummary,
    UtilSource,
    VivadoUtilization,
)
from hwflow.reports.textutil import ascii_tables, number, report_parser, read_head, read_text, split_row

_SITE = {
    "Slice LUTs": "lut",
    "CLB LUTs": "lut",
    "Slice Registers": "ff",
    "CLB Registers": "ff",
    "Block RAM Tile": "bram_tiles_36k",
    "URAM": "uram",
    "DSPs": "dsp",
    "Bonded IOB": "iob",
}


def _header_field(text: str, name: str) -> str | None:
    m = re.search(rf"^\|\s*{name}\s*:\s*(.+?)\s*$", text, re.M)
    return m.group(1) if m else None


@report_parser
def is_utilization_report(path: Path) -> bool:
    return "report_utilization" in read_head(path)


@report_parser
def parse_utilization(path: Path) -> VivadoUtilization:
    path = Path(path)
    text = read_text(path)
    command = _header_field(text, "Command") or ""
    if "report_utilization" not in command and "Utilization Design Information" not in text:
        raise ReportError(f"{path}: not a Vivado report_utilization report (no 'Command : report_utilization' header)")
    common = dict(
        file=path,
        device=_header_field(text, "Device"),
        design_state=_header_field(text, "Design State"),
        tool_version=(_header_field(text, "Tool Version") or "").split(" (")[0].replace("Vivado v.", "") or None,
    )
    lines = text.splitlines()
    if "-hierarchical" in command:
        return _parse_hierarchical(lines, path, common)

    vals: dict[str, float | None] = {}
    for _, blocks in ascii_tables(lines):
        header = blocks[0][0]
        if "Site Type" not in header or "Used" not in header or "Available" not in header:
            continue
        iu, ia = header.index("Used"), header.index("Available")
        for row in (r for b in blocks[1:] for r in b):
            key = _SITE.get(row[0].rstrip("*").strip())
            if key and key not in vals and len(row) > ia:  # first table wins (SLR tables come later)
                if len(row) <= iu:
                    continue
                kind = float if key == "bram_tiles_36k" else int
                vals[key] = number(row[iu], file=path, key=row[0], kind=kind)
                vals[key + "_available"] = number(row[ia], file=path, key=f"{row[0]} Available")
    if "lut" not in vals:
        raise ReportError(f"{path}: no 'Slice LUTs' or 'CLB LUTs' row found; expected a report_utilization table")
    return VivadoUtilization(kind=UtilSource.FLAT, **common, **vals)


def _abs_value(cell: str, path: Path, key: str) -> float | None:
    """'19879(37.37%)' -> 19879."""
    return number(cell.split("(")[0], file=path, key=key, kind=float)


def _parse_hierarchical(lines: list[str], path: Path, common: dict) -> VivadoUtilization:
    for _, blocks in ascii_tables(lines):
        header = blocks[0][0]
        if "Instance" not in header or "Total LUTs" not in header:
            continue
        top = blocks[1][0]
        col = {h: i for i, h in enumerate(header)}

        def res(row) -> Resources:
            def get(name: str):
                return _abs_value(row[col[name]], path, name) if name in col and col[name] < len(row) else None

            ramb36, ramb18 = get("RAMB36"), get("RAMB18")
            bram = None if ramb36 is None else 2 * ramb36 + (ramb18 or 0)
            lut, ff, uram = get("Total LUTs"), get("FFs"), get("URAM")
            dsp = get("DSP48 Blocks") if "DSP48 Blocks" in col else get("DSP Blocks")
            return Resources(*(None if v is None else int(v) for v in (lut, ff, dsp, bram, uram)))

        r = res(top)
        # every instance row (name, module, resources), top-down: the hls4ml IP and its core are rows of
        # a routed block design (e.g. myproject_axi_0 and its myproject_U0)
        rows = tuple((row[0].strip(), row[col["Module"]].strip() if "Module" in col else "", res(row))
                     for row in blocks[1] if row and row[0].strip() and not row[0].strip().startswith("("))
        return VivadoUtilization(
            kind=UtilSource.HIERARCHICAL, **common, lut=r.lut, ff=r.ff, dsp=r.dsp,
            bram_tiles_36k=None if r.bram_18k is None else r.bram_18k / 2, uram=r.uram, instances=rows,
        )
    raise ReportError(f"{path}: hierarchical utilization report without a 'Total LUTs' table")


@report_parser
def parse_timing_summary(path: Path) -> TimingSummary:
    """`report_timing_summary`: the Design Timing Summary line and the Clock Summary."""
    path = Path(path)
    lines = read_text(path).splitlines()
    idx = next((i for i, l in enumerate(lines) if "Design Timing Summary" in l), None)
    if idx is None:
        raise ReportError(f"{path}: no 'Design Timing Summary' section; expected a Vivado report_timing_summary")
    hdr = next((i for i in range(idx, min(idx + 20, len(lines))) if "WNS(ns)" in lines[i]), None)
    if hdr is None or hdr + 2 >= len(lines):
        raise ReportError(f"{path}: truncated Design Timing Summary (no WNS(ns) header and values)")
    names = re.split(r"\s{2,}", lines[hdr].strip())
    values = lines[hdr + 2].split()
    if len(values) != len(names):
        raise ReportError(f"{path}: Design Timing Summary has {len(values)} values for {len(names)} columns")
    v = dict(zip(names, values))

    def f(key: str, kind=float):  # slack (WNS, TNS, WHS, ...) is negative when timing fails
        return number(v.get(key), file=path, key=key, kind=kind, signed=True)

    text = "\n".join(lines)
    met = True if "All user specified timing constraints are met" in text else (
        False if "Timing constraints are not met" in text else None)
    name = path.name.lower()
    state = next((s for s in ("routed", "placed", "opted", "synth") if s in name), None)
    return TimingSummary(
        file=path, design_state=state, wns_ns=f("WNS(ns)"), tns_ns=f("TNS(ns)"),
        tns_failing_endpoints=f("TNS Failing Endpoints", int), whs_ns=f("WHS(ns)"), ths_ns=f("THS(ns)"),
        wpws_ns=f("WPWS(ns)"), constraints_met=met, clocks=_clocks(lines, path),
    )


def _clocks(lines: list[str], path: Path) -> tuple[ClockTiming, ...]:
    """Clock Summary (period, frequency) joined with the Intra Clock Table (WNS, TNS per clock)."""
    def table_after(title: str) -> list[list[str]]:
        i = next((k for k, l in enumerate(lines) if l.startswith("| " + title)), None)
        if i is None:
            return []
        rows, k = [], i + 3
        while k < len(lines) and not lines[k].strip():
            k += 1
        k += 2  # header + dashes
        while k < len(lines) and lines[k].strip():
            rows.append(lines[k].split())
            k += 1
        return rows

    slack = {r[0]: r for r in table_after("Intra Clock Table")}
    out = []
    for r in table_after("Clock Summary"):
        # name  {0.000 5.000}  period  freq
        m = re.match(r"(\S+)\s+\{[^}]*\}\s+(\S+)\s+(\S+)", " ".join(r))
        if not m:
            continue
        s = slack.get(m.group(1))
        out.append(ClockTiming(
            name=m.group(1),
            period_ns=number(m.group(2), file=path, key="Period(ns)", kind=float),
            frequency_mhz=number(m.group(3), file=path, key="Frequency(MHz)", kind=float),
            wns_ns=number(s[1], file=path, key="WNS(ns)", kind=float, signed=True) if s else None,
            tns_ns=number(s[2], file=path, key="TNS(ns)", kind=float, signed=True) if s else None,
        ))
    return tuple(out)


@report_parser
def parse_cosim(path: Path) -> CosimReport:
    """`<top>_cosim.rpt`: status and measured latency / interval per simulated RTL language."""
    path = Path(path)
    text = read_text(path)
    rows = [split_row(l) for l in text.splitlines() if re.match(r"\s*\|\s*(Verilog|VHDL)\s*\|", l)]
    if not rows:
        raise ReportError(f"{path}: no Verilog/VHDL result rows; expected a C/RTL co-simulation report")
    results = []
    for r in rows:
        if len(r) < 8:
            raise ReportError(f"{path}: {r[0]} row has {len(r)} columns, expected 8 (RTL, Status, latency x3, interval x3)")
        if r[1].upper() == "NA":
            continue  # that language was not simulated

        def n(i, kind=int):
            return number(r[i], file=path, key=f"{r[0]} column {i}", kind=kind) if i < len(r) else None

        results.append(CosimResult(
            rtl=r[0], status=r[1], latency_min_cycles=n(2), latency_avg_cycles=n(3, float),
            latency_max_cycles=n(4), interval_min_cycles=n(5), interval_avg_cycles=n(6, float),
            interval_max_cycles=n(7), total_execution_cycles=n(8),
        ))
    return CosimReport(file=path, results=tuple(results))
