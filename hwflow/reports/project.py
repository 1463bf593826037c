"""One hls4ml project folder -> ProjectReport: find the reports, pick the top, build the
per-layer table, attach Vivado / timing / co-simulation results and the board fit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hwflow.boards import BOARDS, Board, board_for_part, get_board
from hwflow.errors import ConfigError, ReportError
from hwflow.project import HLS4ML_CONFIG, load_hls4ml_yaml
from hwflow.reports.csynth import (
    InstanceRow,
    aggregate_hierarchy,
    parse_csynth_rpt,
    parse_csynth_xml,
    top_name_of,
)
from hwflow.reports.model import (
    RESOURCE_KEYS,
    BoardFit,
    CsynthReport,
    FitRow,
    LayerRow,
    ProjectReport,
    Resources,
    VivadoUtilization,
)
from hwflow.reports.textutil import read_head
from hwflow.reports.vivado import is_utilization_report, parse_cosim, parse_timing_summary, parse_utilization

_CONFIG_RE = re.compile(r"(?:^|_)config(\d+)(?=_|$)")
# Folders never holding reports we read; pruned so a synthesized project (thousands of
# .autopilot / IP files) is scanned quickly.
_PRUNE = {".autopilot", ".Xil", "firmware", "tb_data", "csim", "hdl", "ip", "xsim", "sources_1", "db"}


# ---------------------------------------------------------------------------- discovery


def _project_tcl(hls_dir: Path) -> tuple[str | None, str | None]:
    """(project_name, backend) from hls4ml's project.tcl, when the project has one."""
    p = hls_dir / "project.tcl"
    if not p.exists():  # present but a pipe/device/folder: refused by read_head, never skipped
        return None, None
    text = read_head(p, None)
    name = re.search(r'set project_name\s+"([^"]+)"', text)
    backend = re.search(r'set backend\s+"([^"]+)"', text)
    return (name.group(1) if name else None), (backend.group(1) if backend else None)


def _has_csynth(d: Path) -> bool:
    return any(d.glob("*csynth.xml")) or any(d.glob("*csynth.rpt"))


def find_report_dir(hls_dir: Path, project_name: str | None = None) -> tuple[Path | None, list[str]]:
    """The syn/report folder of the newest solution (+ notes about the ones not used)."""
    prj = f"{project_name}_prj" if project_name else "*_prj"
    cands = [d for d in hls_dir.glob(f"{prj}/solution*/syn/report") if _has_csynth(d)]
    # --hls-dir pointed below the project: at <name>_prj/ or at one solution folder
    cands += [d for d in (*hls_dir.glob("solution*/syn/report"), hls_dir / "syn" / "report")
              if d.is_dir() and _has_csynth(d)]
    cands += [d for d in hls_dir.glob("vitis_workspace/*/vitis_unified_project/hls/syn/report") if _has_csynth(d)]
    if not cands and _has_csynth(hls_dir):
        cands = [hls_dir]  # a report folder, or reports copied next to the project files
    if not cands:
        return None, []
    cands.sort(key=lambda d: max(f.stat().st_mtime for f in d.glob("*csynth.*")), reverse=True)
    notes = [f"also found {d.relative_to(hls_dir)} (older; not used)" for d in cands[1:]]
    return cands[0], notes


def _walk_rpts(hls_dir: Path) -> list[Path]:
    """Every .rpt below hls_dir except the csynth ones, skipping tool-internal folders."""
    out = []
    for root, dirs, files in os.walk(hls_dir):
        dirs[:] = sorted(d for d in dirs if d not in _PRUNE and not d.startswith("."))
        out += [Path(root) / f for f in sorted(files) if f.endswith(".rpt") and "csynth" not in f]
    return out


# ---------------------------------------------------------------------------- layers


def _kind(module: str) -> str:
    """hls4ml function family from a mangled module name: 'conv_2d_cl_array_ap_fixed_...' -> conv_2d_cl."""
    if module.startswith("Loop_"):  # Vivado HLS dataflow helper (AXI wrapper loops), keep its name
        return module
    out = []
    for tok in module.split("_"):
        if tok in ("ap", "array", "s") or tok.startswith("config") or re.fullmatch(r"\d+u?", tok):
            break
        out.append(tok)
    return "_".join(out) or module


def config_index(module: str) -> int | None:
    m = _CONFIG_RE.search(module)
    return int(m.group(1)) if m else None


def firmware_layers(hls_dir: Path, project_name: str) -> tuple[Path | None, dict[int, tuple[str, str]]]:
    """configN -> (layer name, nnet function) from the calls in firmware/<project>.cpp.

    hls4ml writes one call per layer: `nnet::dense<in_t, out_t, config7>(a, b, w7, b7); // fc1`.
    """
    cpp = hls_dir / "firmware" / f"{project_name}.cpp"
    if not cpp.exists():
        return None, {}
    out: dict[int, tuple[str, str]] = {}
    for line in read_head(cpp, None).splitlines():
        m = re.search(r"nnet::(\w+)<(.*)>\s*\(.*\)\s*;\s*//\s*(\w+)", line)
        if m:
            idx = [int(x) for x in re.findall(r"config(\d+)\b", m.group(2))]
            if idx:
                out.setdefault(idx[-1], (m.group(3), m.group(1)))
    return cpp, out


def reuse_factors(hls_dir: Path) -> dict[int, int]:
    """configN -> reuse_factor from firmware/parameters.h (skips helper structs like config2_mult)."""
    p = hls_dir / "firmware" / "parameters.h"
    if not p.exists():
        return {}
    out: dict[int, int] = {}
    current = None
    for line in read_head(p, None).splitlines():
        m = re.match(r"struct (\w+)\s*:", line)
        if m:
            current = config_index(m.group(1)) if re.search(r"config\d+$", m.group(1)) else None
        m = re.search(r"reuse_factor\s*=\s*(\d+)\s*;", line)
        if m and current is not None:
            out.setdefault(current, int(m.group(1)))
    return out


def config_reuse(hls_dir: Path) -> tuple[int | None, dict[str, int]]:
    """(model-wide ReuseFactor, layer name -> ReuseFactor) from hls4ml_config.yml, when present.

    Read with the bounded safe loader; hls4ml's own tags (`!keras_model 'x.h5'`) load as plain text.
    A file that is present but unreadable is a ReportError naming it, never skipped silently.
    """
    p = hls_dir / HLS4ML_CONFIG
    if not p.exists():
        return None, {}
    try:
        cfg = load_hls4ml_yaml(p)
    except ConfigError as exc:
        raise ReportError(str(exc)) from None
    hls = cfg.get("HLSConfig")
    if not isinstance(hls, dict):
        return None, {}

    def rf(d) -> int | None:
        v = d.get("ReuseFactor") if isinstance(d, dict) else None
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ReportError(f"{p}: ReuseFactor {v!r} is not a positive integer")
        return v

    per = {str(k): r for k, d in (hls.get("LayerName") or {}).items() if (r := rf(d)) is not None} \
        if isinstance(hls.get("LayerName"), dict) else {}
    return rf(hls.get("Model")), per


def _is_core(m: str, top: str, project_name: str | None, children: dict[str, list[str]]) -> bool:
    """The hls4ml core below a wrapper top (myproject inside myproject_galapagos / myproject_axi),
    also with old module names that carry no configN."""
    if config_index(m) is not None or not children.get(m):
        return False
    if any(config_index(k) is not None for k in children[m]):
        return True
    return m == project_name or top.startswith(m + "_")


def build_layers(
    top: str,
    modules: dict[str, CsynthReport],
    instances: dict[str, tuple[InstanceRow, ...]],
    children: dict[str, list[str]],
    names: dict[int, tuple[str, str]],
    rf: dict[int, int],
    project_name: str | None = None,
    cfg_rf: tuple[int | None, dict[str, int]] = (None, {}),
    hierarchy_ordered: bool = False,
) -> tuple[LayerRow, ...]:
    """Per-module rows under `top`, with the outermost module of each layer marked is_layer."""
    parent, order = _dfs(top, children)
    for m in sorted(modules):
        if m != top and m not in parent and m not in order:
            order.append(m)  # no hierarchy information for this module

    # Containers hold layers without being one (myproject inside myproject_axi).
    containers = {top}
    for m in order:
        if parent.get(m) in containers and _is_core(m, top, project_name, children):
            containers.add(m)
    known_tree = bool(children.get(top))
    if not known_tree:  # no hierarchy: per layer index, the module with the most logic is the outer one
        best: dict[int, str] = {}
        for m in order:
            i = config_index(m)
            size = (modules[m].resources.lut or 0) + (modules[m].resources.ff or 0) if m in modules else 0
            if i is not None and (i not in best or size > _size(modules.get(best[i]))):
                best[i] = m
        outer = set(best.values())

    inst_rows = {row.module: row for rows in instances.values() for row in rows}
    rows = []
    for m in order:
        if m in containers:
            continue
        i = config_index(m)
        is_layer = (parent.get(m) in containers) if known_tree else (m in outer)
        layer_name, func = names.get(i, (None, None)) if i is not None else (None, None)
        reuse = rf.get(i) if i is not None else None
        if reuse is None and is_layer:  # only hls4ml_config.yml states it: the layer's entry, else the model's
            default, per_layer = cfg_rf
            reuse = per_layer.get(layer_name) if layer_name else None
            if reuse is None and (layer_name or not per_layer):
                reuse = default
        if m in modules:
            r = modules[m]
            nums = (r.latency_best_cycles, r.latency_worst_cycles, r.interval_min_cycles, r.interval_max_cycles,
                    r.pipeline_type, r.resources, "xml")
        elif m in inst_rows:
            r = inst_rows[m]
            nums = (r.latency_best_cycles, r.latency_worst_cycles, r.interval_min_cycles, r.interval_max_cycles,
                    r.pipeline_type, r.resources or Resources(), "rpt")
        else:
            continue
        rows.append(LayerRow(
            module=m, kind=_kind(m), config_index=i, layer_name=layer_name if is_layer else None,
            parent=parent.get(m), is_layer=is_layer, reuse_factor=reuse,
            latency_best_cycles=nums[0], latency_worst_cycles=nums[1], interval_min_cycles=nums[2],
            interval_max_cycles=nums[3], pipeline_type=nums[4], resources=nums[5], source=nums[6],
        ))
    return _model_order(rows, names, hierarchy_ordered)


def _model_order(rows: list[LayerRow], names: dict[int, tuple[str, str]],
                 hierarchy_ordered: bool = False) -> tuple[LayerRow, ...]:
    """Layers in execution order, each followed by its sub-modules:
    1. the call order of firmware/<project>.cpp when it is there;
    2. else the Vitis aggregate csynth.xml hierarchy (its instances are listed in call order);
    3. else (Vivado HLS .rpt Instance tables only, whose order is NOT the call order: on
       dnnonsilicon_3 the dataflow table lists dense config9 before conv config2) the config
       index, hls4ml's creation order, which is the call order for a sequential model; the
       report then says so in a note (see parse_project).
    """
    pos = {idx: k for k, idx in enumerate(names)} if names else {}

    def key(r: LayerRow) -> tuple:  # ties (modules without configN, uncalled ones) keep hierarchy order
        i = r.config_index
        if pos:
            return (pos.get(i, len(pos)),)
        if hierarchy_ordered:
            return (0,)
        return (i is None, i or 0)

    layers = sorted((r for r in rows if r.is_layer), key=key)  # stable: ties keep hierarchy order
    below: dict[str, list[LayerRow]] = {}
    for r in rows:
        if not r.is_layer and r.parent is not None:
            below.setdefault(r.parent, []).append(r)
    out: list[LayerRow] = []

    for r in layers:  # each layer, then its sub-modules depth first (iterative)
        stack = [r]
        while stack:
            x = stack.pop()
            out.append(x)
            stack.extend(reversed(below.pop(x.module, [])))
    placed = {r.module for r in out}
    return tuple(out + [r for r in rows if r.module not in placed])


def _size(r: CsynthReport | None) -> int:
    return 0 if r is None else (r.resources.lut or 0) + (r.resources.ff or 0)


def _dfs(top: str, children: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """(module -> parent, modules in depth-first instance order) below `top`."""
    parent: dict[str, str] = {}
    out: list[str] = []
    stack = [iter(children.get(top, []))]
    owner = [top]
    while stack:  # iterative depth-first: a hierarchy thousands deep must not hit the recursion limit
        k = next(stack[-1], None)
        if k is None:
            stack.pop()
            owner.pop()
            continue
        if k != top and k not in parent:
            parent[k] = owner[-1]
            out.append(k)
            stack.append(iter(children.get(k, [])))
            owner.append(k)
    return parent, out


# ---------------------------------------------------------------------------- board fit


def _device_key(part: str) -> str:
    """Device + package without speed grade/temperature: resources depend on the die only.

    Vivado writes '7z020clg400-1' or 'xczu9egffvb1156-2' for parts the board table spells
    'xc7z020clg400-1' and 'xczu9eg-ffvb1156-2-e'.
    """
    p = part.lower().replace("-", "")
    if not p.startswith("xc"):
        p = "xc" + p
    m = re.match(r"(xc.+?[a-z]{2,4}\d{3,4})", p)
    return m.group(1) if m else p


def board_for_device(part: str | None) -> Board | None:
    if not part:
        return None
    b = board_for_part(part)
    if b is not None:
        return b
    key = _device_key(part)
    return next((b for b in BOARDS.values() if _device_key(b.part) == key), None)


def board_fit(stage: str, used: Resources, available: Resources, against: str,
              extra: tuple[FitRow, ...] = ()) -> BoardFit:
    u, a = used.as_dict(), available.as_dict()
    rows = tuple(FitRow(k, u[k], a[k]) for k in RESOURCE_KEYS if u[k] is not None or a[k])
    return BoardFit(stage=stage, against=against, rows=rows + extra)


def _iob_row(v: VivadoUtilization) -> tuple[FitRow, ...]:
    """Bonded IOBs used vs the device's (the report's own Available column: the board table has no pin count)."""
    return (FitRow("IOB", v.iob, v.iob_available),) if v.iob is not None and v.iob_available else ()


def compute_fits(report: ProjectReport, board: str | Board | None = None) -> tuple[BoardFit, ...]:
    """Utilisation of the HLS estimate and of each Vivado result, against `board` (a name or
    Board), else the board whose part matches the report, else the report's own totals."""
    if isinstance(board, str):
        board = get_board(board, where="--board")
    fits = []
    top = report.top
    if top is not None:
        b = board or board_for_device(top.part)
        if b is not None:
            fits.append(board_fit("HLS estimate", top.resources, Resources.from_dict(b.resources),
                                  f"board {b.name} ({b.part})"))
        elif top.available is not None:
            fits.append(board_fit("HLS estimate", top.resources, top.available,
                                  f"report AvailableResources ({top.part})"))
    states = [v.design_state for v in report.vivado]
    for v in report.vivado:
        b = board or board_for_device(v.device)
        stage = f"Vivado {v.design_state or v.file.name}"
        if states.count(v.design_state) > 1:
            stage += f" ({v.file.name})"
        if b is not None:
            fits.append(board_fit(stage, v.resources, Resources.from_dict(b.resources), f"board {b.name} ({b.part})",
                                  _iob_row(v)))
        elif v.available is not None:
            fits.append(board_fit(stage, v.resources, v.available, f"report Available column ({v.device})",
                                  _iob_row(v)))
    return tuple(fits)


# ---------------------------------------------------------------------------- entry point


def parse_project(hls_dir: Path, board: str | Board | None = None) -> ProjectReport:
    """Parse every report of the hls4ml project in `hls_dir` (ours or synthesized elsewhere).

    Missing reports give absent sections; a malformed report raises ReportError naming it.
    """
    from tqdm import tqdm

    hls_dir = Path(hls_dir)
    if not hls_dir.is_dir():
        raise ConfigError(f"--hls-dir {hls_dir}: no such folder; expected an hls4ml project (with project.tcl)")
    name, backend = _project_tcl(hls_dir)
    report_dir, notes = find_report_dir(hls_dir, name)

    top = None
    modules: dict[str, CsynthReport] = {}
    instances: dict[str, tuple[InstanceRow, ...]] = {}
    children: dict[str, list[str]] = {}
    hierarchy_ordered = False
    if report_dir is not None:
        top_name = _top_name(report_dir, name, backend)
        xmls = sorted(p for p in report_dir.glob("*_csynth.xml"))
        for p in tqdm(xmls, desc="csynth.xml", unit="file", disable=None, leave=False):
            r = parse_csynth_xml(p)
            modules[r.module] = r
        for p in sorted(report_dir.glob("*_csynth.rpt")):
            rr = parse_csynth_rpt(p)
            instances[rr.report.module] = rr.instances
            children[rr.report.module] = [i.module for i in rr.instances]
            if rr.report.module not in modules and rr.report.module == top_name:
                modules[rr.report.module] = rr.report
                notes.append(f"{p.name}: top-level numbers read from the text report (no XML)")
        agg = report_dir / "csynth.xml"
        if agg.is_file() and top_name not in modules:
            r = parse_csynth_xml(agg)
            modules[r.module] = r
        if agg.is_file():
            h = aggregate_hierarchy(agg)
            if h is not None:  # the aggregate lists instances in call order; the .rpt tables do not
                children.update(h[1])
                hierarchy_ordered = True
        if top_name is None:
            top_name = _root_of(modules, children)
        top = modules.get(top_name)
        if top is None:
            raise ReportError(f"{report_dir}: no {top_name}_csynth.xml or .rpt for the top module {top_name!r}")
    cpp, names = firmware_layers(hls_dir, name or (top.module if top else "myproject"))
    layers = build_layers(top.module, modules, instances, children, names, reuse_factors(hls_dir),
                          name, config_reuse(hls_dir), hierarchy_ordered) if top else ()
    if layers and not names and not hierarchy_ordered:
        notes.append("layer order: no firmware/<project>.cpp and no Vitis csynth.xml hierarchy, so layers are "
                     "listed by hls4ml config index (the call order for a sequential model)")

    vivado, timing, cosim = [], [], None
    for p in _walk_rpts(hls_dir):
        low = p.name.lower()
        if low.endswith("_cosim.rpt") and p.parent.name == "report" and p.parent.parent.name == "sim":
            if report_dir is None or p.parent.parent.parent == report_dir.parent.parent:
                cosim = parse_cosim(p)
        elif "timing_summary" in low:
            timing.append(parse_timing_summary(p))
        elif ("util" in low or low == "vivado_synth.rpt") and is_utilization_report(p):
            v = parse_utilization(p)
            vivado.append(v)
            if v.missing:
                notes.append(f"warning: {p}: no {', '.join(v.missing)} row (truncated report?); "
                             f"the board fit of these numbers is unknown")
        elif low == "vivado_synth.rpt" or ("utilization" in low and "clock_utilization" not in low):
            # same rule as a cosim report: a file named like a result that cannot be read is an error
            raise ReportError(f"{p}: not a Vivado report_utilization report (no 'report_utilization' in its header); "
                              f"re-run Vivado synthesis or remove the file")
    order = {"Routed": 0, "Fully Placed": 1, "Placed": 1, "Optimized": 2, "Synthesized": 3}
    vivado.sort(key=lambda v: (order.get(v.design_state or "", 9), str(v.file)))

    report = ProjectReport(
        hls_dir=hls_dir, report_dir=report_dir, top=top, layers=layers, vivado=tuple(vivado),
        timing=tuple(timing), cosim=cosim, layer_names_from=cpp if names else None, notes=tuple(notes),
    )
    return _with_fits(report, board)


def _with_fits(report: ProjectReport, board: str | Board | None) -> ProjectReport:
    from dataclasses import replace

    return replace(report, fits=compute_fits(report, board))


def _top_name(report_dir: Path, name: str | None, backend: str | None) -> str | None:
    """TopModelName from csynth.xml; else project.tcl (+ _axi for VivadoAccelerator); else None."""
    agg = report_dir / "csynth.xml"
    if agg.is_file():
        return top_name_of(agg)
    if name:
        return name + "_axi" if backend and "accelerator" in backend.lower() else name
    rpts = [p for p in report_dir.glob("*_csynth.rpt")]
    if len(rpts) == 1:
        return parse_csynth_rpt(rpts[0]).report.module
    return None


def _root_of(modules: dict[str, CsynthReport], children: dict[str, list[str]]) -> str | None:
    """The module nobody instantiates; ties broken by size (the top contains the others)."""
    kids = {k for v in children.values() for k in v}
    roots = [m for m in modules if m not in kids]
    return max(roots, key=lambda m: _size(modules[m]), default=None)
