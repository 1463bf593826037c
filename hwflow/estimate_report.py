"""Outputs of hwflow.estimate: estimate.md / estimate.json / estimate.png, the console summary, and
the models `hwflow estimate` estimates (a config's cached or untrained QKeras model, a saved Keras file)."""

from __future__ import annotations

from pathlib import Path

from hwflow.boards import Board
from hwflow.estimate import RESOURCES, Estimate
from hwflow.paths import write_report_files


# --- outputs -----------------------------------------------------------------------------


def render_markdown(est: Estimate, title: str, note: str = "") -> str:
    cols = ("layer", "type", "RF", "strategy", "MACs", "mults", "DSP", "LUT", "FF", "BRAM_18K", "latency", "II")
    lines = [f"# Estimate: {title}", "",
             f"Backend {est.backend}, part {est.part or '-'}, {est.io_type}, clock {est.clock_period_ns:g} ns. "
             "Analytical estimate from hls4ml's templates, no synthesis (hwflow.estimate; measured error "
             "in benchmarks/results/estimator_calibration.md)." + (f" {note}" if note else ""), "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for le in est.layers:
        if le.kind == "free":
            continue
        lines.append(f"| {le.name} | {le.class_name}{' (UNKNOWN: not estimated)' if le.kind == 'unknown' else ''} | "
                     f"{le.reuse_factor} | {le.strategy} | {le.macs} | {le.multipliers} | {le.dsp} | {le.lut} | "
                     f"{le.ff} | {le.bram_18k} | {le.latency} | {le.ii} |")
    t = est.totals
    lines += ["", "## Totals", "",
              f"- csynth level (what HLS C-synthesis reports, *estimated*): DSP {t['DSP']}, LUT {t['LUT']}, FF {t['FF']}, "
              f"BRAM_18K {t['BRAM_18K']}, URAM {t['URAM']}"]
    if est.vivado:
        v = est.vivado
        band = v.get("error_band") or {}
        lines.append(f"- Vivado level (what Vivado synthesis builds, *estimated* by hwflow.estimate.vivado): DSP "
                     f"{v['DSP']}, LUT {v['LUT']}, FF {v['FF']}, BRAM_18K {v['BRAM_18K']}"
                     + (f" ({v['dsp_fallback']} DSPs over the part built in LUTs)" if v.get("dsp_fallback") else "")
                     + ("; median error on real designs " + ", ".join(f"{r} {100 * band[r]:.0f}%" for r in
                        ("LUT", "FF", "DSP", "BRAM_18K") if band.get(r) is not None) if any(band.values()) else ""))
    lines.append(f"- latency {est.latency_cycles} cycles ({est.latency_us:.3f} us), initiation interval "
                 f"{est.ii_cycles} cycles")
    if est.unknown_layers:
        lines.append(f"- NOT estimated (unknown layer types, counted as zero): {', '.join(est.unknown_layers)}")
    if est.board:
        used = est.used()
        level = "Vivado level" if est.basis == "vivado" else "csynth level (--basis hls)"
        lines += ["", f"## Board fit: {est.board} ({level})", "", "| resource | used | percent | budget |",
                  "|---|---|---|---|"]
        for r in RESOURCES:
            lines.append(f"| {r} | {used[r]} | {est.utilisation[r]:.1f}% | {100 * est.budget[r]:.0f}% |")
        lines += ["", f"Binding resource: **{est.binding_resource}** "
                      f"({est.utilisation[est.binding_resource]:.1f}%); "
                      f"{'fits' if est.fits else 'does NOT fit'} on {est.board}."]
        rl = est.roofline
        lines += ["", "## Roofline (DSP-bound)", "",
                  f"- MACs per image: {rl.macs_per_image:,}",
                  f"- board peak: {rl.peak_macs_per_s / 1e9:,.1f} GMAC/s (all DSPs, one MAC per cycle)",
                  f"- design as estimated: {rl.images_per_s:,.1f} images/s"
                  + ("" if est.fits else f"; it does not fit, so scaled by its worst utilisation to "
                     f"{rl.attainable_images_per_s:,.1f} images/s (a version with proportionally more reuse)"),
                  f"- attainable {rl.achieved_macs_per_s / 1e9:,.2f} GMAC/s = **{100 * rl.share:.2f}%** of the "
                  "roofline" + (" (capped at 100%: LUT-mapped multipliers carry MACs beyond the DSP bound)"
                                if rl.capped else "")]
    return "\n".join(lines) + "\n"


def plot_layers(est: Estimate, path: Path) -> None:
    """Per-layer DSP/LUT/FF/BRAM bars (each as percent of the network total)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [le for le in est.layers if le.kind != "free"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(layers) + 2), 4.5))
    width = 0.2
    for i, r in enumerate(("DSP", "LUT", "FF", "BRAM_18K")):
        total = est.totals[r] or 1
        ax.bar([j + (i - 1.5) * width for j in range(len(layers))],
               [100.0 * getattr(le, r.lower()) / total for le in layers], width, label=r)
    ax.set_xticks(range(len(layers)), [le.name for le in layers], rotation=90, fontsize=7)
    ax.set_ylabel("share of network total (%)")
    ax.set_title(f"Estimated resources per layer ({est.board or est.part})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(est: Estimate, out_dir: Path, title: str, note: str = "") -> dict[str, Path]:
    """estimate.md / estimate.json / estimate.png, built in a temporary folder, then moved into place."""
    return write_report_files(out_dir, "estimate", render_markdown(est, title, note), est.to_dict(),
                              lambda p: plot_layers(est, p))


# --- models ------------------------------------------------------------------------------


def from_keras(path: Path, board: Board, *, backend: str = "Vitis", io_type: str = "io_stream", reuse_factor: int = 1,
               strategy: str = "Latency"):
    """Convert a saved Keras/QKeras model with hls4ml's own config helper (no flow config: a reuse
    plan of one model-wide value)."""
    import tempfile

    from hwflow.modelfile import load_model_file
    from hwflow.reuse import ReusePlan, fast_reuse_rule

    model = load_model_file(path)
    import hls4ml

    hcfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    hcfg["Model"]["Strategy"] = strategy
    ReusePlan(reuse_factor, {}).apply(hcfg)  # one model-wide value (hls4ml picks the closest valid per layer)
    with fast_reuse_rule():  # hls4ml creates output_dir only on write(): this model is never written
        return hls4ml.converters.convert_from_keras_model(
            model, hls_config=hcfg, io_type=io_type, backend=backend, part=board.part,
            clock_period=board.clock_period_ns, output_dir=str(Path(tempfile.gettempdir()) / "hwflow-unwritten"))


def config_qmodel(cfg):
    """The QKeras model `hwflow estimate --config` estimates, and where it came from.

    The trained QKeras model when the training cache (build/<name>/model/<key>/) has an entry
    for this config; otherwise the untrained QKeras twin with the config's quantization plan
    (integer bits resolved on the BN-folded untrained float weights, as hwflow.train does).
    Never trains: the estimate must stay instant."""
    from hwflow.paths import ModelPaths
    from hwflow.train import train, untrained_models

    model_dir = ModelPaths.for_model(cfg.name).model
    if model_dir.is_dir() and any((p / "metrics.json").exists() for p in model_dir.iterdir() if p.is_dir()):
        from hwflow.data import load_dataset

        ds = load_dataset(cfg.data, cfg.model.input_shape, cfg.train.seed)
        if (model_dir / cfg.fingerprint(ds.fingerprint) / "metrics.json").exists():
            return train(cfg, ds).qmodel, "trained (training cache)"  # a cache hit: loads, does not train
    return untrained_models(cfg)[1], "untrained (no training cache entry for this config)"


def summary_lines(est: Estimate, name: str) -> list[str]:
    """Both levels, one row each (csynth-level estimate, Vivado-level projection with its error band),
    percent of the board, then the verdict on the basis the estimate was judged on."""
    lines = [f"{name}: {est.tool} schedule, {est.io_type}, clock {est.clock_period_ns:g} ns"
             + (f", board {est.board}" if est.board else "")]
    cols = ("DSP", "LUT", "FF", "BRAM_18K")
    lines.append(f"  {'':<21}" + "".join(f"{r:>19}" for r in cols))
    rows = [("csynth level (est.)", est.totals)]
    if est.vivado:
        rows.append(("Vivado level (est.)", est.vivado))
    for label, vals in rows:
        cells = []
        for r in cols:
            avail = (est.board_resources or {}).get(r)
            cells.append(f"{vals[r]:>10,}" + (f" ({100.0 * vals[r] / avail:5.1f}%)" if avail else " " * 9))
        lines.append(f"  {label:<21}" + "".join(f"{c:>19}" for c in cells))
    if est.vivado and any(v is not None for v in (est.vivado.get("error_band") or {}).values()):
        band = est.vivado["error_band"]
        lines.append("  Vivado-level median error on real designs (benchmarks/results/vivado_projection.md): "
                     + ", ".join(f"{r} {100 * band[r]:.0f}%" for r in cols if band.get(r) is not None))
    if est.vivado and est.vivado.get("dsp_fallback"):
        lines.append(f"  {est.vivado['dsp_fallback']} DSPs over the part: Vivado builds those products in LUTs "
                     "(counted in the Vivado-level LUT)")
    lines.append(f"  latency  {est.latency_cycles:>10} cycles ({est.latency_us:.3f} us), II {est.ii_cycles} cycles, "
                 f"{1e9 / est.clock_period_ns / max(est.ii_cycles, 1):,.0f} images/s")
    if est.binding_resource:
        r = est.binding_resource
        level = "Vivado level" if est.basis == "vivado" else "csynth level (--basis hls)"
        budget = f" of a {100 * est.budget[r]:.0f}% budget" if est.basis == "vivado" else ""
        lines.append(f"  verdict ({level}): binding {r} at {est.utilisation[r]:.1f}%{budget} "
                     f"({'fits' if est.fits else 'does NOT fit'})")
    return lines
