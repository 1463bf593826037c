"""ProjectReport -> report.md (for a person), report.json (for scripts), resources.png.

Files are written into a temporary folder inside `out_dir` and moved into place, so a
crash never leaves a half-written report next to an old, complete one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hwflow.boards import Board
from hwflow.reports.model import BoardFit, LayerRow, ProjectReport, to_jsonable
from hwflow.reports.project import compute_fits

OWN_FILES = ("report.md", "report.json", "resources.png")
_PLOT_KEYS = ("LUT", "FF", "DSP", "BRAM_18K")


def _n(v, digits: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.{digits or 1}f}"
    return f"{int(v):,}"


def _time(s: float | None) -> str:
    if s is None:
        return "–"
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _rate(r: float | None) -> str:
    if r is None:
        return "–"
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if r >= f:
            return f"{r / f:.3g} {unit} images/s"
    return f"{r:.3g} images/s"


def _range(lo, hi) -> str:
    return _n(lo) if lo == hi else f"{_n(lo)}–{_n(hi)}"


def _pct(p: float | None) -> str:
    if p is None:
        return "–"
    return f"**{p:.1f} %** ⚠" if p > 100 else f"{p:.1f} %"


def _fit_line(f: BoardFit) -> str:
    b = f.binding
    verdict = {True: "fits", False: "**does NOT fit**", None: "–"}[f.fits]
    if f.fits is None and f.unknown:
        verdict = f"unknown ({', '.join(f.unknown)} not read)"
    return f"{verdict}; binding resource {b.resource} at {_pct(b.percent)}" if b else verdict


def _summary(report: ProjectReport, fits: Sequence[BoardFit]) -> list[str]:
    top = report.top
    rows: list[tuple[str, str]] = []
    if top is not None:
        est, tgt = top.clock_estimated_ns, top.clock_target_ns
        clock = f"{_n(tgt, 2)} ns target, {_n(est, 3)} ns estimated"
        if top.fmax_estimated_mhz:
            clock += f" (f_max ≈ {top.fmax_estimated_mhz:.0f} MHz)"
        if est and tgt and est > tgt:
            clock += " ⚠ **the estimate misses the target clock**"
        lat = f"{_range(top.latency_best_cycles, top.latency_worst_cycles)} cycles = " + (
            _time(top.latency_best_s) if top.latency_best_s == top.latency_worst_s
            else f"{_time(top.latency_best_s)}–{_time(top.latency_worst_s)}") + " at the estimated clock"
        if top.reported_latency_worst_s is not None:
            # the tool converts cycles at the slower of target and estimated clock
            at = "estimated" if est and tgt and est > tgt else "target"
            lat += f" ({_time(top.reported_latency_worst_s)} at the {at} clock, as the tool reports it)"
        ii = f"{_range(top.interval_min_cycles, top.interval_max_cycles)} cycles → "
        ii += _rate(top.images_per_s_best) if top.images_per_s_best == top.images_per_s_worst else (
            f"{_rate(top.images_per_s_worst)} (worst) to {_rate(top.images_per_s_best)} (best)")
        ii += " at the estimated clock"
        if tgt and top.interval_max_cycles:
            ii += f" ({_rate(1e9 / (top.interval_max_cycles * tgt))} at the target clock)"
        rows += [
            ("Tool", f"{top.tool or '?'} {top.tool_version or ''}".strip()),
            ("Part", top.part or "–"),
            ("Clock", clock),
            ("Latency", lat),
            ("Initiation interval", ii),
            ("Pipeline type", top.pipeline_type or "–"),
        ]
    # The HLS estimate and the most advanced Vivado result (report.vivado is sorted routed-first).
    shown = [f for f in fits if f.stage == "HLS estimate"][:1] + [f for f in fits if f.stage != "HLS estimate"][:1]
    for f in shown:
        rows.append((f"Board fit, {f.stage}", f"{_fit_line(f)} (against {f.against})"))
    for t in report.timing[:1]:
        met = {True: "met", False: "**NOT met**", None: "–"}[t.constraints_met]
        rows.append((f"Timing ({t.design_state or t.file.name})", f"WNS {_n(t.wns_ns, 3)} ns, TNS {_n(t.tns_ns, 3)} ns: constraints {met}"))
    if report.cosim is not None:
        rows.append(("C/RTL co-simulation", {True: "passed", False: "**FAILED**", None: "not run"}[report.cosim.passed]))
    return ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]


def _fit_tables(fits: Sequence[BoardFit]) -> list[str]:
    """One table per device the numbers were compared with; one column per stage."""
    out: list[str] = []
    groups: dict[str, list[BoardFit]] = {}
    for f in fits:
        groups.setdefault(f.against, []).append(f)
    for against, fs in groups.items():
        keys = [r.resource for r in fs[0].rows]
        for f in fs[1:]:
            keys += [r.resource for r in f.rows if r.resource not in keys]
        out += ["", f"Against {against}; cells are used (utilisation), ⚠ over 100 %.", "",
                "| Resource | Available | " + " | ".join(f.stage for f in fs) + " |",
                "|---|--:|" + "--:|" * len(fs)]
        for k in keys:
            cells, avail = [], None
            for f in fs:
                r = next((r for r in f.rows if r.resource == k), None)
                if r is None or r.used is None:
                    cells.append("–")
                    continue
                avail = r.available if avail is None else avail
                mark = " ← binding" if f.binding is r else ""
                cells.append(f"{_n(r.used)} ({_pct(r.percent)}){mark}")
            out.append(f"| {k} | {_n(avail)} | " + " | ".join(cells) + " |")
        for f in fs:
            if f.fits is False:
                over = ", ".join(r.resource for r in f.rows if r.over)
                out += ["", f"⚠ {f.stage}: over capacity in {over}. Raise the reuse factor, lower the "
                        "precision, or pick a larger board (`--board`)."
                        + (" IOB: the top's ports are on device pins; synthesize out of context or put an AXI "
                           "interface around it." if any(r.over and r.resource == "IOB" for r in f.rows) else "")]
    return out


def _label(r: LayerRow) -> str:
    """The model's layer name, else hls4ml's own name for layer N (layerN_out), else the function."""
    if r.layer_name:
        return r.layer_name
    return f"layer{r.config_index}" if r.config_index is not None else r.kind


def _layer_table(report: ProjectReport) -> list[str]:
    rows = [r for r in report.layers if r.is_layer]
    subs = len(report.layers) - len(rows)
    out = ["| Layer | hls4ml function | Index | RF | Latency (cycles) | II (cycles) | LUT | FF | DSP | BRAM_18K | URAM |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        res = r.resources
        out.append(
            f"| {_label(r)} | {r.kind} | {_n(r.config_index)} | {_n(r.reuse_factor)} | "
            f"{_range(r.latency_best_cycles, r.latency_worst_cycles)} | {_range(r.interval_min_cycles, r.interval_max_cycles)} | "
            f"{_n(res.lut)} | {_n(res.ff)} | {_n(res.dsp)} | {_n(res.bram_18k)} | {_n(res.uram)} |")
    top = report.top
    if top is not None and rows:
        tot = {k: sum((r.resources.as_dict()[k] or 0) for r in rows) for k in ("LUT", "FF", "DSP", "BRAM_18K", "URAM")}
        out.append(f"| **sum of layers** | | | | | | {_n(tot['LUT'])} | {_n(tot['FF'])} | {_n(tot['DSP'])} | "
                   f"{_n(tot['BRAM_18K'])} | {_n(tot['URAM'])} |")
        t = top.resources
        out.append(f"| **top ({top.module})** | | | | | | {_n(t.lut)} | {_n(t.ff)} | {_n(t.dsp)} | {_n(t.bram_18k)} | {_n(t.uram)} |")
    out.append("")
    notes = ["The top also counts FIFOs, registers and glue logic outside the layer modules."]
    if any(r.config_index is None and r.is_layer for r in rows):
        notes.append("Modules without a `configN` in their name (older hls4ml/HLS name mangling) are shown by function only.")
    if subs:
        notes.append(f"{subs} sub-module(s) (line buffers, multiplier blocks, pipelined loops) are inside these rows "
                     "and listed in report.json with their parent.")
    if report.layer_names_from:
        notes.append(f"Layer names from `{report.layer_names_from.name}`.")
    else:
        notes.append("Layer names are hls4ml's layer indices (`layerN` = `configN`): the project has no "
                     "`firmware/<project>.cpp` to map them to the model's names.")
    return out + [" ".join(notes)]


def _vivado(report: ProjectReport) -> list[str]:
    out = ["| File | Design state | Device | LUT | FF | DSP | BRAM (36K tiles) | URAM |", "|---|---|---|--:|--:|--:|--:|--:|"]
    for v in report.vivado:
        out.append(f"| `{v.file.name}` | {v.design_state or '–'} | {v.device or '–'} | {_n(v.lut)} | {_n(v.ff)} | "
                   f"{_n(v.dsp)} | {_n(v.bram_tiles_36k)} | {_n(v.uram)} |")
    return out + ["", "Vivado counts block RAM in 36 Kb tiles (0.5 = one 18 Kb block); the fit tables convert to BRAM_18K."]


def _timing(report: ProjectReport) -> list[str]:
    out = ["| File | WNS (ns) | TNS (ns) | Failing endpoints | WHS (ns) | Constraints met | Clocks |",
           "|---|--:|--:|--:|--:|---|---|"]
    for t in report.timing:
        clocks = ", ".join(f"{c.name} {_n(c.period_ns, 3)} ns ({_n(c.frequency_mhz, 1)} MHz)" for c in t.clocks) or "–"
        met = {True: "yes", False: "**no**", None: "–"}[t.constraints_met]
        out.append(f"| `{t.file.name}` | {_n(t.wns_ns, 3)} | {_n(t.tns_ns, 3)} | {_n(t.tns_failing_endpoints)} | "
                   f"{_n(t.whs_ns, 3)} | {met} | {clocks} |")
    return out


def _cosim(report: ProjectReport) -> list[str]:
    c = report.cosim
    out = [f"`{c.file.name}`: " + {True: "**passed**", False: "**FAILED**", None: "no language simulated"}[c.passed], ""]
    if c.results:
        out += ["| RTL | Status | Latency min/avg/max (cycles) | Interval min/avg/max (cycles) |", "|---|---|---|---|"]
        for r in c.results:
            out.append(f"| {r.rtl} | {r.status} | {_n(r.latency_min_cycles)} / {_n(r.latency_avg_cycles)} / "
                       f"{_n(r.latency_max_cycles)} | {_n(r.interval_min_cycles)} / {_n(r.interval_avg_cycles)} / "
                       f"{_n(r.interval_max_cycles)} |")
    return out


def render_markdown(report: ProjectReport, fits: Sequence[BoardFit], extra: Sequence[str] = ()) -> str:
    top = report.top
    title = top.module if top else report.hls_dir.name
    md = [f"# Synthesis report: {title}", "", f"Project: `{report.hls_dir}`"]
    if report.report_dir is not None:
        md.append(f"Reports: `{report.report_dir}`")
    md.append("")
    if top is None:
        md += ["No C-synthesis report in this project (only the sections below).", ""]
    md += ["## Summary", ""] + _summary(report, fits) + [""]
    if fits:
        md += ["## Resources vs board"] + _fit_tables(fits) + [""]
    if report.layers:
        md += ["## Per layer", "", "![resources per layer](resources.png)", ""] + _layer_table(report) + [""]
    if report.vivado:
        md += ["## Vivado utilization", ""] + _vivado(report) + [""]
    if report.timing:
        md += ["## Timing", ""] + _timing(report) + [""]
    if report.cosim is not None:
        md += ["## C/RTL co-simulation", ""] + _cosim(report) + [""]
    if report.notes:
        md += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    for section in extra:
        md += [section.strip(), ""]
    return "\n".join(md)


def plot_resources(report: ProjectReport, fits: Sequence[BoardFit], path: Path) -> None:
    """Horizontal bars per layer: % of the available LUT/FF/DSP/BRAM (counts if no capacity known)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = [r for r in report.layers if r.is_layer]
    labels = [_label(r) if r.layer_name or r.config_index is None else f"{_label(r)} ({r.kind})" for r in rows]
    values = [r.resources for r in rows]
    if not rows and report.top is not None:
        labels, values = [report.top.module], [report.top.resources]
    fit = next((f for f in fits if f.stage == "HLS estimate"), None)
    avail = {r.resource: r.available for r in fit.rows} if fit else {}
    as_pct = all(avail.get(k) for k in _PLOT_KEYS)

    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.55 * max(len(labels), 1)))
    y = np.arange(len(labels))
    h = 0.8 / len(_PLOT_KEYS)
    peak = 0.0
    for j, k in enumerate(_PLOT_KEYS):
        v = np.array([float(res.as_dict()[k] or 0) for res in values])
        if as_pct:
            v = 100.0 * v / avail[k]
        peak = max(peak, float(v.max(initial=0)))
        ax.barh(y + (j - 1.5) * h, v, height=h, label=k)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    if as_pct:
        ax.set_xlabel(f"% of the available resource ({fit.against})")
        if peak >= 50:  # only then is the board limit in the picture's range
            ax.axvline(100, color="red", lw=1, ls="--", label="board limit")
    else:
        ax.set_xlabel("count")
        ax.set_xscale("symlog")
    name = report.top.module if report.top else report.hls_dir.name
    ax.set_title(f"{name}: resources per layer (HLS estimate)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_report(
    project_report: ProjectReport,
    out_dir: Path,
    board: str | Board | None = None,
    extra_sections: Sequence[str | Path] = (),
) -> dict[str, Path]:
    """Write report.md, report.json and resources.png into `out_dir`; return their paths.

    Markdown files already in `out_dir` (parity.md, estimate.md from other stages) and
    `extra_sections` (Markdown text, or paths to .md files) are appended after our sections.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fits = compute_fits(project_report, board) if board is not None else project_report.fits
    extra = [Path(s).read_text() if isinstance(s, Path) else s for s in extra_sections]
    extra += [p.read_text() for p in sorted(out_dir.glob("*.md")) if p.name not in OWN_FILES]

    data = project_report.to_dict()
    data["fits"] = [to_jsonable(f) for f in fits]
    tmp = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir))
    try:
        (tmp / "report.md").write_text(render_markdown(project_report, fits, extra))
        (tmp / "report.json").write_text(json.dumps(data, indent=2) + "\n")
        plot_resources(project_report, fits, tmp / "resources.png")
        for name in OWN_FILES:
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"md": out_dir / "report.md", "json": out_dir / "report.json", "png": out_dir / "resources.png"}
