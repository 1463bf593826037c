"""Validate (and fit) hwflow's Vivado-level projection on real designs with both csynth and Vivado reports.

    python -m benchmarks.vivado_projection --pairs ../shared/fixtures/vivado-pairs --json OUT.json
        [--fit hwflow/estimate/vivado.json] [--no-rebuild]

Input: a folder of the vivado-pairs layout: one sub-folder per design with `pair.json` (which csynth
report is the core / the AXI wrapper, and per Vivado utilization table its file, stage, `scope` and
`hls_counterpart`) and the copied files (csynth reports, Vivado reports, hls4ml_config.yml, model file).

Per design:
- csynth numbers of the core and the AXI wrapper through hwflow.reports.parse_csynth (XML, or the text
  .rpt when there is no XML); pair.json's quoted numbers only when no report file was copied;
- the Vivado figure compared like for like: the Vivado table whose `hls_counterpart` is the core
  (`myproject`/`Encoder`: a top synthesis, an IP run or the core's instance row of a routed report) or
  the AXI wrapper (`myproject_axi`), preferring routed > placed > synth; whole block designs (PS, DMA
  and interconnect inside) are not like for like and are reported, not scored. Files are read with
  hwflow.reports.parse_utilization (instance rows of hierarchical reports included);
- two projections of that figure, each leave-one-network-out (the constants refitted without every
  design of the held-out network):
  `report`: hwflow.estimate.vivado.project_totals on the csynth report's totals (the csynth -> Vivado
  step alone); `estimate`: the design rebuilt from its model file (hwflow.modelfile.load_model_file, the
  loader `hwflow estimate --keras` uses) and hls4ml_config.yml, estimated by hwflow.estimate
  (csynth level, per layer) and projected per layer (hwflow.estimate.vivado.project) - the path a
  user's design takes. Designs without a model file have only the `report` projection.
- the fit verdict: whether Vivado's figure fits the part, and whether each projection is judged to fit
  under the budget (a design Vivado placed that the projection refuses is a false rejection).

A design folder whose pair.json or reports cannot be read is a warning naming it and is left out.
`--fit FILE` writes the constants fitted on all usable designs, with the measured error band.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from hwflow.errors import HwflowError, ReportError

RES = ("LUT", "FF", "DSP", "BRAM_18K")
STAGE_ORDER = {"routed": 0, "placed": 1, "synth": 2}
MEM_DEPTHS = (0, 16, 32, 64, 128, 256, 512, 1024)  # candidate ROM / FIFO depths Vivado moves out of BRAM
MODEL_SUFFIXES = (".keras", ".h5")


@dataclass
class Pair:
    name: str
    folder: Path
    info: dict
    group: str
    part: str
    tool: str  # estimator tool key: vivado_hls | vitis
    core: dict | None = None  # csynth totals of the core (RES)
    axi: dict | None = None  # csynth totals of the AXI wrapper
    csynth_from: str = ""  # "report files" | "pair.json (quoted)"
    vivado: dict | None = None  # the like-for-like Vivado figure (RES)
    vivado_entry: dict = field(default_factory=dict)  # stage, scope, counterpart, file, read_from
    counterpart: str | None = None  # "core" | "axi" | None (no like-for-like table)
    dsp_available: int | None = None
    estimate_layers: list | None = None  # csynth-level LayerEstimates of the rebuilt design
    rebuild_note: str = ""
    warnings: list = field(default_factory=list)


def _warn(msg: str) -> None:
    print(f"vivado_projection: warning: {msg}", file=sys.stderr)


def _res(r) -> dict:
    """hwflow.reports Resources -> {RES: number}."""
    return {"LUT": r.lut or 0, "FF": r.ff or 0, "DSP": r.dsp or 0, "BRAM_18K": r.bram_18k or 0}


def _quoted(d: dict | None) -> dict | None:
    if not d or any(d.get(k) is None for k in RES):
        return None
    return {k: d[k] for k in RES}


def _group(info: dict) -> str:
    """One network = same repository and the same layer list (its variants are held out together)."""
    net = info.get("network") or {}
    return f"{(info.get('source') or {}).get('repository', info.get('design'))}|{net.get('layers', '')}"


def _csynth(folder: Path, block: dict | None, pair: Pair) -> dict | None:
    from hwflow.reports import parse_csynth

    if not block:
        return None
    for key in ("report", "text_report"):
        if block.get(key) and (folder / block[key]).is_file():
            return _res(parse_csynth(folder / block[key]).resources)
    q = _quoted(block)
    if q is not None:
        pair.csynth_from = "pair.json (quoted: no report file copied)"
    return q


def _vivado_value(folder: Path, entry: dict, pair: Pair) -> tuple[dict | None, str]:
    from hwflow.reports import parse_utilization

    f = folder / entry.get("file", "")
    if entry.get("file") and f.is_file():
        u = parse_utilization(f)
        if entry.get("instance") and entry.get("module") != "(top)":
            r = u.instance(entry["instance"])
            if r is None:
                raise ReportError(f"{f}: no instance row {entry['instance']!r} (named by pair.json)")
            return _res(r), "report file (instance row)"
        return _res(u.resources), "report file"
    return _quoted(entry), "pair.json (quoted: no report file copied)"


def read_pair(pj: Path) -> Pair:
    from hwflow.estimate import _tool

    info = json.loads(pj.read_text())
    folder = pj.parent
    hls = info.get("hls") or {}
    core_block, axi_block = hls.get("core"), hls.get("axi_wrapper")
    ref = core_block or axi_block or {}
    part = (info.get("part") or {}).get("hls_report") or ref.get("part") or ""
    tool = _tool("Vivado", f"{ref.get('tool') or 'Vivado HLS'}") if ref.get("tool") else "vivado_hls"
    p = Pair(folder.name, folder, info, _group(info), part, tool, csynth_from="report files")  # the folder names it
    p.core = _csynth(folder, core_block, p)
    p.axi = _csynth(folder, axi_block, p)
    avail = (ref.get("available") or {})
    p.dsp_available = avail.get("DSP48E", avail.get("DSP"))
    # the like-for-like Vivado table: counterpart core or AXI wrapper, latest stage first; a table
    # whose file cannot be read is a warning and the next one is taken
    cands = []
    for i, e in enumerate(info.get("vivado") or []):
        cp = str(e.get("hls_counterpart") or "")
        top = (core_block or {}).get("top", "myproject")
        kind = "core" if cp == top else "axi" if cp == (axi_block or {}).get("top", "myproject_axi") else None
        if kind is None or e.get("scope") == "block_design":
            continue
        if kind == "core" and p.core is None or kind == "axi" and p.axi is None:
            continue
        cands.append(((STAGE_ORDER.get(e.get("stage"), 9), 0 if kind == "core" else 1, i), kind, e))
    for _, kind, e in sorted(cands, key=lambda c: c[0]):
        try:
            value, read_from = _vivado_value(folder, e, p)
        except ReportError as exc:
            p.warnings.append(f"{e.get('file')}: not used ({exc})")
            continue
        if value is None:
            continue
        p.vivado, p.counterpart = value, kind
        p.vivado_entry = {k: e.get(k) for k in ("file", "stage", "scope", "hls_counterpart", "instance")}
        p.vivado_entry["read_from"] = read_from
        quoted = _quoted(e)
        if quoted and read_from.startswith("report file") and quoted != value:
            p.warnings.append(f"{e.get('file')}: numbers differ from pair.json's ({value} vs {quoted})")
        break
    return p


# --- rebuild from the model file ---------------------------------------------------------------


def _model_file(p: Pair) -> Path | None:
    names = (p.info.get("network") or {}).get("model_files") or []
    for n in names:
        hits = [f for f in p.folder.rglob(Path(n).name) if f.suffix in MODEL_SUFFIXES]
        if hits:
            return hits[0]
    return None


def rebuild(p: Pair) -> None:
    """Convert the design with hls4ml 1.3.0 from its model file and hls4ml_config.yml (HLSConfig as the
    user wrote it) and keep hwflow.estimate's csynth-level layers; what fails is noted, not fatal."""
    import warnings

    import hls4ml

    from hwflow.estimate import estimate
    from hwflow.modelfile import load_model_file
    from hwflow.project import load_hls4ml_yaml

    model_file = _model_file(p)
    ymls = sorted(p.folder.rglob("hls4ml_config.yml"))
    if model_file is None or not ymls:
        p.rebuild_note = "no model file" if model_file is None else "no hls4ml_config.yml"
        return
    try:
        yml = load_hls4ml_yaml(ymls[0])
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = load_model_file(model_file, one_input=False)  # a design's own network, as hls4ml took it
            hcfg = hls4ml.utils.config_from_keras_model(model, granularity="model", backend="Vivado")
            user = yml.get("HLSConfig") or {}
            hcfg["Model"].update(user.get("Model") or {})
            if isinstance(hcfg["Model"].get("Precision"), dict):  # newer hls4ml: {default: ...}
                hcfg["Model"]["Precision"] = hcfg["Model"]["Precision"].get("default", "fixed<16,6>")
            if user.get("LayerName"):
                # keys an older hls4ml wrote that 1.3.0 reads differently (ConvImplementation "encoded"
                # etc.) are dropped: 1.3.0's default implementation is the one hwflow estimates
                hcfg["LayerName"] = {n: {k: v for k, v in (c or {}).items() if k != "ConvImplementation"}
                                     for n, c in user["LayerName"].items()}
            backend = "Vitis" if p.tool == "vitis" else "Vivado"
            hm = hls4ml.converters.convert_from_keras_model(
                model, hls_config=hcfg, io_type=str(yml.get("IOType") or "io_parallel"), backend=backend,
                part=p.part, clock_period=float(yml.get("ClockPeriod") or 5),
                output_dir=f"/tmp/hwflow-vivado-projection/{p.name}")
            est = estimate(hm, tool=p.tool)
        p.estimate_layers = est.layers
        p.rebuild_note = f"rebuilt from {model_file.name} + {ymls[0].name}"
    except Exception as exc:  # noqa: BLE001 (Keras/hls4ml raise anything; reported per design)
        p.rebuild_note = f"not rebuilt ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"


# --- fitting -----------------------------------------------------------------------------------


def _hls_of(p: Pair) -> dict | None:
    return p.core if p.counterpart == "core" else p.axi


def _gmedian(values: list[float], default: float) -> float:
    vals = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(statistics.median(math.log(v) for v in vals)) if vals else default


def fit_constants(pairs: list[Pair], base):
    """Ratios (median Vivado / csynth over like-for-like pairs, designs whose csynth DSP exceeds the
    part left out of the LUT ratio: their LUTs carry the DSP fallback) and the ROM depth (the one
    whose per-layer projection of the rebuilt designs gives the least median BRAM error)."""
    from hwflow.estimate.vivado import project

    scored = [p for p in pairs if p.vivado is not None]
    no_fallback = [p for p in scored if p.dsp_available is None or _hls_of(p)["DSP"] <= p.dsp_available]
    lut = _gmedian([p.vivado["LUT"] / _hls_of(p)["LUT"] for p in no_fallback if _hls_of(p)["LUT"]], base.lut_ratio)
    ff = _gmedian([p.vivado["FF"] / _hls_of(p)["FF"] for p in scored if _hls_of(p)["FF"]], base.ff_ratio)
    bram = _gmedian([p.vivado["BRAM_18K"] / _hls_of(p)["BRAM_18K"] for p in scored
                     if _hls_of(p)["BRAM_18K"] and p.vivado["BRAM_18K"]], base.bram_ratio_design)
    cal = replace(base, lut_ratio=round(lut, 4), ff_ratio=round(ff, 4), bram_ratio_design=round(bram, 4))
    rebuilt = [p for p in scored if p.estimate_layers is not None]
    if rebuilt:
        def err(rom, fifo):
            c = replace(cal, rom_lut_max_depth=rom, fifo_srl_max_depth=fifo)
            return statistics.median(abs(project(p.estimate_layers, p.dsp_available, c).totals["BRAM_18K"]
                                         + _wrapper(p, c)["BRAM_18K"] - p.vivado["BRAM_18K"])
                                     / max(p.vivado["BRAM_18K"], 1) for p in rebuilt)
        # least median error; ties: the shallower depths (closest to csynth's own choice)
        rom, fifo = min(((r, f) for r in MEM_DEPTHS for f in MEM_DEPTHS), key=lambda rf: (round(err(*rf), 6), rf))
        cal = replace(cal, rom_lut_max_depth=rom, fifo_srl_max_depth=fifo)
    return cal


def _wrapper(p: Pair, cal) -> dict:
    """The AXI wrapper's share (csynth axi - core, projected by the design ratios) when the Vivado figure
    is the wrapper's: the rebuilt estimate covers the core only."""
    from hwflow.estimate.vivado import project_totals

    if p.counterpart != "axi" or p.core is None or p.axi is None:
        return dict.fromkeys(RES, 0)
    delta = {r: max(p.axi[r] - p.core[r], 0) for r in RES}
    return {r: v for r, v in project_totals(delta, None, cal).totals.items() if r in RES}


def projections(p: Pair, cal) -> dict[str, dict]:
    from hwflow.estimate.vivado import project, project_totals

    out = {"report": {r: v for r, v in project_totals(_hls_of(p), p.dsp_available, cal).totals.items() if r in RES}}
    if p.estimate_layers is not None:
        core = project(p.estimate_layers, p.dsp_available, cal).totals
        w = _wrapper(p, cal)
        out["estimate"] = {r: core[r] + w[r] for r in RES}
    return out


def rel_err(proj: float, viv: float) -> float:
    return abs(proj - viv) / max(viv, 1)


def fits(values: dict, avail: dict | None, budget: dict) -> bool | None:
    if not avail:
        return None
    return all(values[r] <= budget.get(r, 1.0) * avail[r] + 1e-9 for r in RES if avail.get(r))


def _available(p: Pair) -> dict | None:
    hls = p.info.get("hls") or {}
    a = (hls.get("core") or hls.get("axi_wrapper") or {}).get("available") or {}
    if not a:
        return None
    return {"LUT": a.get("LUT"), "FF": a.get("FF"), "DSP": a.get("DSP48E", a.get("DSP")), "BRAM_18K": a.get("BRAM_18K")}


def evaluate(pairs: list[Pair], base) -> dict:
    """Leave-one-network-out: per held-out network, constants fitted on the others."""
    scored = [p for p in pairs if p.vivado is not None]
    rows = {}
    for g in sorted({p.group for p in scored}):
        train = [p for p in scored if p.group != g]
        cal = fit_constants(train, base) if train else base
        for p in (q for q in scored if q.group == g):
            proj = projections(p, cal)
            avail = _available(p)
            rows[p.name] = {
                "group": g.split("|")[0], "part": p.part, "counterpart": p.counterpart,
                "vivado_entry": p.vivado_entry, "csynth": _hls_of(p), "vivado": p.vivado, "csynth_from": p.csynth_from,
                "rebuild": p.rebuild_note,
                "projection": proj,
                "error": {m: {r: round(rel_err(v[r], p.vivado[r]), 4) for r in RES} for m, v in proj.items()},
                "csynth_error": {r: round(rel_err(_hls_of(p)[r], p.vivado[r]), 4) for r in RES},
                "dsp_fits_part": bool(avail and _hls_of(p)["DSP"] <= (avail.get("DSP") or 0)),
                "vivado_fits_part": fits(p.vivado, avail, dict.fromkeys(RES, 1.0)),
                "vivado_stage": p.vivado_entry.get("stage"),
                "judged_fits": {m: fits(v, avail, cal.budget) for m, v in proj.items()},
                "csynth_judged_fits": fits(_hls_of(p), avail, dict.fromkeys(RES, 1.0)),
                "constants_used": {"lut_ratio": cal.lut_ratio, "ff_ratio": cal.ff_ratio,
                                   "rom_lut_max_depth": cal.rom_lut_max_depth,
                                   "fifo_srl_max_depth": cal.fifo_srl_max_depth,
                                   "bram_ratio_design": cal.bram_ratio_design},
            }
    return rows


def summarise(rows: dict) -> dict:
    out = {}
    for mode in ("report", "estimate"):
        have = [r for r in rows.values() if mode in r["error"]]
        med = {res: round(statistics.median(r["error"][mode][res] for r in have), 4) if have else None for res in RES}
        # DSP exact where csynth's DSP fits the part (the aim), counted
        dsp_rows = [r for r in have if r["dsp_fits_part"]]
        false_rej = [n for n, r in rows.items() if mode in r["judged_fits"] and r["vivado_fits_part"]
                     and r["judged_fits"][mode] is False]
        out[mode] = {"designs": len(have), "median_error": med,
                     "dsp_exact": f"{sum(r['projection'][mode]['DSP'] == r['vivado']['DSP'] for r in dsp_rows)}"
                                  f" of {len(dsp_rows)}",
                     "false_rejections": false_rej}
    have = list(rows.values())
    out["csynth"] = {"designs": len(have), "median_error": {
        res: round(statistics.median(r["csynth_error"][res] for r in have), 4) if have else None for res in RES}}
    out["median_error"] = out["estimate"]["median_error"] if out["estimate"]["designs"] else out["report"]["median_error"]
    return out


def render(rows: dict, summ: dict, skipped: dict, cal, pairs_dir: Path) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.0f}%"  # noqa: E731
    L = [f"# Vivado-level projection vs Vivado ({pairs_dir.name})", "",
         "Written by `benchmarks/vivado_projection.py`. Every projected figure is *estimated* (Vivado level); "
         "the Vivado and csynth figures are *parsed reports* of the same design. Errors are |projected - Vivado| / "
         "Vivado, leave-one-network-out (constants refitted without the held-out network).", "",
         "| median error | designs | LUT | FF | DSP | BRAM_18K | DSP exact (csynth DSP fits the part) | false rejections |",
         "|---|---|---|---|---|---|---|---|"]
    for mode, label in (("estimate", "projection of hwflow's estimate (model rebuilt)"),
                        ("report", "projection of the csynth report's totals"), ("csynth", "csynth itself (no projection)")):
        s = summ[mode]
        L.append(f"| {label} | {s['designs']} | " + " | ".join(pct(s["median_error"][r]) for r in RES)
                 + f" | {s.get('dsp_exact', '-')} | {', '.join(s.get('false_rejections', [])) or ('none' if mode != 'csynth' else '-')} |")
    L += ["", "## Per design", "",
          "| design | Vivado table | csynth LUT / FF / DSP / BRAM | Vivado | projected (report) | projected (estimate) | "
          "Vivado fits the part | judged fits (report / estimate) |", "|---|---|---|---|---|---|---|---|"]
    f4 = lambda d: " / ".join(f"{int(round(d[r])):,}" for r in RES) if d else "-"  # noqa: E731
    for n, r in rows.items():
        e = r["vivado_entry"]
        jf = r["judged_fits"]
        L.append(f"| {n} | {e.get('stage')} {e.get('scope')} vs {r['counterpart']} | {f4(r['csynth'])} | {f4(r['vivado'])} | "
                 f"{f4(r['projection']['report'])} | {f4(r['projection'].get('estimate'))} | {r['vivado_fits_part']} | "
                 f"{jf.get('report')} / {jf.get('estimate', '-')} |")
    if skipped:
        L += ["", "## Left out", ""] + [f"- {n}: {why}" for n, why in skipped.items()]
    L += ["", "## Rebuilds", ""] + [f"- {n}: {r['rebuild']}" for n, r in rows.items()]
    L += ["", f"Constants fitted on all scored designs: LUT ratio {cal.lut_ratio}, FF ratio {cal.ff_ratio}, ROMs of "
              f"at most {cal.rom_lut_max_depth} words in LUTs, FIFOs of at most {cal.fifo_srl_max_depth} words in SRLs, design-level BRAM ratio {cal.bram_ratio_design}, "
              f"{cal.lut_per_fallback_dsp:g} LUT per DSP over the part (prior)."]
    return "\n".join(L) + "\n"


def plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 4))
    for ax, res in zip(axes, RES):
        for key, label, marker in (("csynth", "csynth report", "x"), ("report", "projected (report)", "o"),
                                   ("estimate", "projected (estimate)", "s")):
            pts = [((r["csynth"] if key == "csynth" else r["projection"].get(key) or {}).get(res), r["vivado"][res])
                   for r in rows.values()]
            pts = [(a, b) for a, b in pts if a is not None and a > 0 and b > 0]
            if pts:
                ax.scatter([b for _, b in pts], [a for a, _ in pts], marker=marker, label=label, alpha=0.7)
        lims = ax.get_xlim()
        ax.plot([1, max(lims[1], 10)], [1, max(lims[1], 10)], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"Vivado {res} (parsed report)")
        ax.set_ylabel(f"{res}: csynth / projected")
        ax.set_title(res)
    axes[0].legend(fontsize=7)
    fig.suptitle("Vivado-level projection vs Vivado (leave-one-network-out; projected = estimated)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_pairs(pairs_dir: Path, rebuild_models: bool = True) -> tuple[list[Pair], dict]:
    from tqdm import tqdm

    if not pairs_dir.is_dir():
        raise ReportError(f"--pairs {pairs_dir}: not a folder (expected one sub-folder per design with pair.json)")
    pairs, skipped = [], {}
    for pj in tqdm(sorted(pairs_dir.glob("*/pair.json")), desc="pairs", disable=None):
        try:
            p = read_pair(pj)
        except (HwflowError, OSError, ValueError, KeyError, TypeError) as exc:
            skipped[pj.parent.name] = f"cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            _warn(f"{pj.parent}: left out: {skipped[pj.parent.name]}")
            continue
        for w in p.warnings:
            _warn(f"{p.name}: {w}")
        if p.vivado is None:
            skipped[p.name] = ("no like-for-like Vivado table (only whole block designs, or the counterpart's "
                               "csynth numbers are missing)")
            _warn(f"{pj.parent}: left out: {skipped[p.name]}")
            continue
        if rebuild_models:
            rebuild(p)
        pairs.append(p)
    if not pairs:
        raise ReportError(f"--pairs {pairs_dir}: no usable design (each needs pair.json, a csynth report and a "
                          f"like-for-like Vivado table)")
    return pairs, skipped


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, required=True, help="folder of the vivado-pairs layout")
    ap.add_argument("--json", type=Path, required=True, help="OUT.json (OUT.md and OUT.png beside it)")
    ap.add_argument("--fit", type=Path, default=None, help="write the constants fitted on all designs here")
    ap.add_argument("--no-rebuild", action="store_true", help="report-level projection only (no hls4ml)")
    args = ap.parse_args(argv)
    from hwflow.estimate.vivado import VivadoCalibration
    from hwflow.paths import write_report_files, write_text_atomic

    try:
        base = VivadoCalibration.load()
        pairs, skipped = load_pairs(args.pairs, not args.no_rebuild)
        cal = fit_constants(pairs, base)
        rows = evaluate(pairs, base)
        summ = summarise(rows)
        band = {r: summ["median_error"][r] for r in RES}
        cal = replace(cal, band=band, source=f"benchmarks/vivado_projection.py on {args.pairs.name} "
                                                f"({len(rows)} designs)")
        data = {"pairs": str(args.pairs), "summary": summ, "median_error": summ["median_error"], "designs": rows,
                "skipped": skipped, "constants": cal.to_dict()}
        stem = args.json.name[:-5] if args.json.name.endswith(".json") else args.json.name
        write_report_files(args.json.parent, stem, render(rows, summ, skipped, cal, args.pairs), data,
                           lambda p: plot(rows, p))
        if args.fit:
            keep = {}
            if args.fit.exists():
                keep = {k: v for k, v in json.loads(args.fit.read_text()).get("constants", {}).items()
                        if k in ("budget", "lut_per_fallback_dsp")}  # set by hand from evidence, not fitted here
            const = {**cal.to_dict(), **keep}
            old = json.loads(args.fit.read_text()) if args.fit.exists() else {}
            write_text_atomic(args.fit, json.dumps({**old, "constants": const,
                                                    "validation": {"median_error": summ["median_error"],
                                                                   "summary": summ}}, indent=1) + "\n")
    except HwflowError as exc:
        print(f"vivado_projection: {exc}", file=sys.stderr)
        return exc.exit_code
    s = summ
    print(f"{len(rows)} designs scored, {len(skipped)} left out; median error (estimate path, {s['estimate']['designs']} "
          f"designs): {s['estimate']['median_error']}; (report path): {s['report']['median_error']}; "
          f"false rejections: {s['estimate']['false_rejections'] + s['report']['false_rejections'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
