"""`hwflow fit --config X --board B [--target-fps N] [--max-util F] [--out FILE]`: balanced folding
(hwflow.reuse.fit) of a config for a board, written as a config `hwflow hls` accepts, plus
fit.md / fit.json / fit.png (per-layer cycles and resources before and after; every figure *estimated*).

The written config is the original one with `hls.board` = B, the backend that reaches a bitstream
on B (VivadoAccelerator on boards with an hls4ml accelerator design: pynq-z2, zcu102, Alveo), B's
default clock when the board changes, and `hls.layers.<name>.reuse_factor / strategy` per layer.
Exit status 9 (FitError) when nothing fits, 2 for bad input.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from hwflow.boards import Board, Deploy
from hwflow.config import FlowConfig, config_from_dict, load_config
from hwflow.paths import ModelPaths, write_report_files, write_text_atomic
from hwflow.reuse import FitResult

SHOWN = ("DSP", "LUT", "FF", "BRAM_18K")


def deploy_backend(backend: str, board: Board) -> str:
    """The hls4ml backend that takes a design all the way on `board` (hwflow.synth.plan_bitstream)."""
    if board.deploy in (Deploy.BITSTREAM, Deploy.XCLBIN) and board.accelerator_board:
        return "VivadoAccelerator"
    return "Vitis" if backend == "VivadoAccelerator" else backend


def _rebase(value: str, src_dir: Path, dst_dir: Path) -> str:
    """A path relative to the source config, made relative to the written config."""
    if Path(value).is_absolute():
        return value
    return os.path.relpath((src_dir / value).resolve(), dst_dir.resolve())


def fitted_raw(cfg: FlowConfig, board: Board, out: Path, choices: dict | None = None) -> dict:
    """The config dict of the fitted design (see the module docstring); `choices` None = no per-layer changes."""
    raw = copy.deepcopy(cfg.raw)
    src_dir, dst_dir = cfg.path.parent, out.parent
    if isinstance(raw.get("data"), dict) and raw["data"].get("source", "default") != "default":
        raw["data"]["source"] = _rebase(raw["data"]["source"], src_dir, dst_dir)
    if isinstance(raw.get("model"), dict) and raw["model"].get("file"):  # a user's model file (hwflow.usermodel)
        raw["model"]["file"] = _rebase(raw["model"]["file"], src_dir, dst_dir)
    if isinstance(raw.get("train"), dict) and raw["train"].get("init_from"):
        raw["train"]["init_from"] = _rebase(raw["train"]["init_from"], src_dir, dst_dir)
    hls = dict(raw.get("hls") or {})
    hls.pop("part", None)  # the board's part
    if board.name != cfg.hls.board.name:
        hls["clock_period_ns"] = board.clock_period_ns
    hls["backend"] = deploy_backend(cfg.hls.backend, board)
    hls["board"] = board.name
    if choices is not None and hls.get("reuse_factor") == "auto":
        hls["reuse_factor"] = 1  # the folded plan: every searched layer has its own below
    if choices:
        layers = {k: dict(v or {}) for k, v in (hls.get("layers") or {}).items()}
        for name, c in choices.items():
            layers.setdefault(name, {}).update({"reuse_factor": int(c["reuse_factor"]), "strategy": c["strategy"]})
        hls["layers"] = layers
    raw["hls"] = hls
    return raw


def _level(s: dict) -> str:
    return "csynth level" if s.get("basis") == "hls" else "Vivado level"


def _pct(v) -> str:
    return f"{v:.1f}%"


def _shown(path: Path) -> str:
    from hwflow.paths import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def header(res: FitResult, source: Path, command: str, report: Path) -> str:
    a = res.after
    u = a["utilisation"]
    return (f"# Written by `{command}` from {source.name}: balanced folding for {res.board}.\n"
            f"# *Estimated* (hwflow.estimate, {_level(a)}, no synthesis): {a['images_per_s']:,.1f} images/s, latency "
            f"{a['latency_us']:,.1f} us, DSP {_pct(u['DSP'])} LUT {_pct(u['LUT'])} FF {_pct(u['FF'])} "
            f"BRAM_18K {_pct(u['BRAM_18K'])}, binding {a['binding']}. Report: {_shown(report)}\n")


def render_markdown(res: FitResult, title: str, source: str) -> str:
    b, a = res.before, res.after
    lim = ", ".join(f"{r} <= {100 * res.limits[r]:.0f}%" for r in SHOWN)
    goal = (f"meet {res.target_fps:g} images/s with the least resources" if res.mode == "target"
            else "the most images/s")
    lines = [f"# Fit: {title} on {res.board}", "",
             f"All figures are *estimated* by hwflow.estimate (no synthesis), resources at the {_level(a)} "
             f"(hwflow.estimate.vivado: what Vivado synthesis builds; csynth-level figures in fit.json). "
             f"Goal: {goal}; budget {lim}. "
             f"Model: {source}. Search: {res.search['tunable_layers']} tunable layers, "
             f"{res.search['candidates']} (reuse factor, strategy) candidates, {res.search['estimates']} "
             f"whole-model estimates, {res.search['seconds']} s.", "",
             "| | images/s | II (cycles) | latency (us) | DSP | LUT | FF | BRAM_18K | binding | DSP roofline share |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, s in (("as converted", b), ("fitted", a)):
        u = s["utilisation"]
        lines.append(f"| {label} | {s['images_per_s']:,.1f} | {s['ii_cycles']:,} | {s['latency_us']:,.1f} | "
                     + " | ".join(f"{s['totals'][r]:,} ({_pct(u[r])})" for r in SHOWN)
                     + f" | {s['binding']} {_pct(u[s['binding']])} | {100 * (s['roofline_share'] or 0):.1f}% |")
    lines += ["", f"Interval set by: {', '.join(res.slowest)}. Balance (max / min cycles of the layers held by "
                  f"the interval, i.e. not yet at their least cost): {res.balance:.2f}.", "",
              "## Per layer (*estimated*)", "",
              "| layer | type | RF before -> after | strategy | cycles before -> after | DSP | LUT | FF | BRAM_18K |",
              "|---|---|---|---|---|---|---|---|---|"]
    for l in res.layers:
        x, y = l.before, l.after
        rf = f"{x['reuse_factor']} -> {y['reuse_factor']}" if l.tunable else "-"
        st = f"{x['strategy']} -> {y['strategy']}" if l.tunable and x["strategy"] != y["strategy"] else (
            y["strategy"] if l.tunable else "-")
        lines.append(f"| {l.name} | {l.class_name} | {rf}{' (max)' if l.at_max_rf else ''} | {st} | "
                     f"{x['cycles']:,} -> {y['cycles']:,} | "
                     + " | ".join(f"{x[r]:,} -> {y[r]:,}" for r in SHOWN) + " |")
    return "\n".join(lines) + "\n"


def plot(res: FitResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = res.layers
    xs = range(len(layers))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(7.0, 0.3 * len(layers) + 2), 7), sharex=True)
    w = 0.4
    ax1.bar([i - w / 2 for i in xs], [max(l.before["cycles"], 1) for l in layers], w, label="as converted")
    ax1.bar([i + w / 2 for i in xs], [max(l.after["cycles"], 1) for l in layers], w, label="fitted")
    ax1.axhline(res.after["ii_cycles"], color="k", lw=0.8, ls="--", label="fitted interval (slowest layer)")
    ax1.set_yscale("log")
    ax1.set_ylabel("cycles per image (estimated)")
    ax1.legend(fontsize=8)
    ax1.set_title(f"Estimated per-layer cycles and resources, fitted for {res.board}: "
                  f"{res.after['images_per_s']:,.0f} images/s (estimated)", fontsize=9)
    bw = 0.8 / len(SHOWN)
    for i, r in enumerate(SHOWN):
        total = res.after["totals"][r] or 1
        ax2.bar([j + (i - (len(SHOWN) - 1) / 2) * bw for j in xs], [100.0 * l.after[r] / total for l in layers], bw,
                label=r)
    ax2.set_ylabel("share of the fitted total (%, estimated)")
    ax2.set_xticks(list(xs), [l.name for l in layers], rotation=90, fontsize=6)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(res: FitResult, out_dir: Path, title: str, source: str) -> dict[str, Path]:
    """fit.md / fit.json / fit.png, built in a temporary folder and moved into place."""
    return write_report_files(out_dir, "fit", render_markdown(res, title, source),
                              {"estimated": True, "model": source, **res.to_dict()}, lambda p: plot(res, p))


def tunable_sizes(cfg: FlowConfig, qmodel) -> dict[str, tuple[int, int]]:
    """(n_in, n_out) of the layers the search may fold: every layer with a reuse factor except those whose
    reuse_factor or strategy the config sets itself (those stay as written)."""
    from hwflow import reuse

    fixed = {n for n, lh in cfg.hls.layers.items() if lh.reuse_factor is not None or lh.strategy is not None}
    return {n: s for n, s in reuse.kernel_sizes(qmodel).items() if n not in fixed}


def fold(cfg: FlowConfig, board: Board, qmodel, *, where: Path | None = None, target_fps: float | None = None,
         max_util: float | None = None, max_dsp_util: float | None = None,
         basis: str = "vivado") -> tuple[FitResult, dict]:
    """The balanced-folding search (hwflow.reuse.fit) of `cfg` for `board` on `qmodel`: the result and the
    folded config as a dict (paths relative to `where`, default the config's own folder). One search for
    `hwflow fit` (which writes the dict) and for a run of a config with `hls.reuse_factor: auto` (which
    builds it). FitError (exit 9) when nothing fits."""
    from hwflow import convert, reuse

    where = Path(where) if where is not None else cfg.path
    probe = config_from_dict(fitted_raw(cfg, board, where), where)  # backend, board and clock of the fitted design
    hls_model = convert.to_hls_model(probe, qmodel)
    res = reuse.fit(hls_model, tunable_sizes(cfg, qmodel), board, backend_name=probe.hls.backend,
                    clock_period_ns=probe.hls.clock_period_ns, target_fps=target_fps, max_util=max_util,
                    max_dsp_util=max_dsp_util, name=cfg.name, basis=basis)
    raw = fitted_raw(cfg, board, where, res.choices)
    fitted = config_from_dict(raw, where)  # validated like any config file
    reuse.plan_reuse(fitted.hls, qmodel).raise_invalid(where)  # every reuse factor kept by hls4ml's rule
    return res, raw


def model_note(qmodel, source: str) -> str:
    from hwflow.prune import zero_share

    zeros = zero_share(qmodel)
    if zeros > 0:
        source = (f"{source}; {100 * zeros:.1f}% of the kernel weights are zero (pruned: the estimator drops "
                  f"their products where the weights are constants, Latency or RF 1)")
    return source


def run_fit(cfg: FlowConfig, board: Board, out: Path, *, target_fps: float | None = None,
            max_util: float | None = None, max_dsp_util: float | None = None, qmodel=None, source: str = "",
            command: str = "hwflow fit", report_dir: Path | None = None,
            basis: str = "vivado") -> tuple[FitResult, Path, dict]:
    """`hwflow fit`: freeze the fold of `cfg` for `board` into a config at `out` (the search a run of
    `reuse_factor: auto` makes, written down for reproducibility) plus the reports; returns (result, config
    path, reports)."""
    if qmodel is None:
        from hwflow.estimate_report import config_qmodel

        qmodel, source = config_qmodel(cfg)
    out = Path(out)
    source = model_note(qmodel, source)
    res, raw = fold(cfg, board, qmodel, where=out, target_fps=target_fps, max_util=max_util,
                    max_dsp_util=max_dsp_util, basis=basis)
    report_dir = Path(report_dir or ModelPaths.for_model(out.stem).reports)
    write_text_atomic(out, header(res, cfg.path, command, report_dir / "fit.md")
                  + yaml.safe_dump(raw, sort_keys=False, width=120, default_flow_style=None))
    load_config(out)
    reports = write_reports(res, report_dir, out.stem, source)
    return res, out, reports
