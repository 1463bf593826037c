"""CIFAR-10 on pynq-z2: the candidates' measured top-1 against their estimated images/s on the board,
beside the published MLPerf Tiny entries (issue "CIFAR-10 on a pynq-z2, above the MLPerf Tiny bar").

    .venv/bin/python -m benchmarks.cifar10_pynq [--board pynq-z2] [--out benchmarks/results/cifar10_pynq-z2]

Per candidate config (CANDIDATES): parameters; float / QKeras / firmware top-1 on the 2,000 CIFAR-10 test
images, *measured*, read from the results file that holds its run (`parity_fitted.json`: `hwflow hls` on
this code, with the earlier trainings of the same config it keeps; `prune_cifar10.json`: the dense rows of
the pruning study, with the commit that recorded them); and the fold of the plan stage for the board now
(hwflow.fit.fold on the model `hwflow estimate` uses): images/s and utilisation, *estimated* at the Vivado level, or the least LUT when nothing fits. The
published points come from `references.json`. Writes <out>.md / .json / .png (top-1 vs images/s).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# (config, results file with its measured top-1)
CANDIDATES = [
    ("squeezenet_cifar10_small", "prune_cifar10.json"),
    ("squeezenet_cifar10", "prune_cifar10.json"),
    ("mobilenet_cifar10", "prune_cifar10.json"),
    ("squeezenet_cifar10_pynq", "parity_fitted.json"),
]


def measured(config: str, source: str) -> list[dict]:
    """[{float, qkeras, firmware, bit_exact, where, training, float_epoch_seconds}] of a config from its results file: its latest
    run first, then the earlier trainings of the same network kept on record (parity_fitted.json's
    `earlier`); empty if absent."""
    from benchmarks.flagship_table import git_commit

    data = json.loads((RESULTS / source).read_text())
    if source == "prune_cifar10.json":
        row = next((r for r in data["rows"] if r["config"] == config and r["sparsity"] == 0), None)
        if row is None:
            return []
        return [{"float": row["float_top1"], "qkeras": row["qkeras_top1"], "firmware": row["firmware_top1"],
                 "bit_exact": row["bit_exact_share"] == 1.0, "images": row["images"], "training": None,
                 "where": f"prune_cifar10.json (dense row; recorded at commit {git_commit(RESULTS / source)})"}]
    e = data.get(config)
    if e is None:
        return []
    return [{"float": x["float"], "qkeras": x["qkeras"], "firmware": x["firmware"], "bit_exact": x["bit_exact"],
             "images": x["images"], "training": x.get("training"), "float_epoch_seconds": x.get("float_epoch_seconds"),
             "where": f"parity_fitted.json (commit {x.get('commit', '-')})"} for x in [e, *e.get("earlier", [])]]


FLAGSHIP = "squeezenet_cifar10_pynq"
BAR = 0.85  # MLPerf Tiny closed division, CIFAR-10 (image classification) quality target


def float_epochs(training: str) -> int:
    """The float epochs of a schedule written by hwflow.config.schedule_text ("45 + 50 + 4 QAT epochs": 95)."""
    return sum(int(x) for x in training.split(" QAT epochs")[0].split(" + ")[:-1])


def recipe(training: str) -> str:
    """The recipe part of a training text (benchmarks.flagship_table.training_text): the optimizer ("Adam" for
    the default, Adam without decay) and, when stated, the activations' quantization ("120 + 4 QAT epochs, SGD,
    weight decay 0.005; 6-bit activations, 2 integer bits": "SGD, weight decay 0.005; 6-bit activations, 2
    integer bits")."""
    optimizer, _, quantization = training.split(" QAT epochs", 1)[1].partition(";")
    optimizer = optimizer.strip(", ") or "Adam"
    return f"{optimizer}; {quantization.strip()}" if quantization.strip() else optimizer


def projection(rows: list[dict]) -> dict | None:
    """Where the flagship network would reach the bar with longer training: a least-squares line of its
    measured firmware top-1 against log2(float epochs) over its trainings on record with one recipe (the one
    with the most trainings; a change of optimizer is not a longer schedule), extrapolated to 85%.
    An *extrapolation* (accuracy saturates with training, so it is a lower bound on the epochs), only
    with three or more trainings and a rising line. Its cost: the epochs beyond the longest training on
    record at the seconds a float epoch took in the latest timed training (measured; None if none was)."""
    import numpy as np

    runs = [(m, recipe(m["training"])) for r in rows if (m := r["measured"]) and r["config"] == FLAGSHIP
            and m.get("training")]
    if not runs:
        return None
    recipes = [rc for _, rc in runs]
    same = max(recipes, key=recipes.count)
    others = sorted((float_epochs(m["training"]), m["firmware"], rc) for m, rc in runs if rc != same)
    runs = [m for m, rc in runs if rc == same]
    pts = sorted((float_epochs(m["training"]), m["firmware"], m["images"]) for m in runs)
    if len(pts) < 3:
        return None
    e, top1 = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
    slope, icpt = np.polyfit(np.log2(e), top1, 1)
    # saturated: the longest training measured below a shorter one (the line then is no route to the bar)
    best = max(pts[:-1], key=lambda p: p[1])
    out = {"config": FLAGSHIP, "recipe": same,
           "other_recipes": [{"float_epochs": int(a), "firmware": b, "recipe": r} for a, b, r in others],
           "points": [{"float_epochs": int(a), "firmware": b, "images": n} for a, b, n in pts],
           "saturated": pts[-1][1] < best[1], "best": {"float_epochs": int(best[0]), "firmware": best[1]},
           "per_doubling": round(float(slope), 5), "intercept": round(float(icpt), 5), "bar": BAR,
           "epochs_for_bar": None, "float_epoch_seconds": next(
               (m["float_epoch_seconds"] for m in runs if m.get("float_epoch_seconds")), None)}
    if slope > 0:
        out["epochs_for_bar"] = int(np.ceil(2 ** ((BAR - icpt) / slope)))
    return out


def cost_text(proj: dict) -> str:
    """What the extrapolated bar costs in training, from the measured seconds per float epoch; for a saturated
    curve, what the longest training measured against the best, and the sampling error of a top-1."""
    longest, need, sec = max(p["float_epochs"] for p in proj["points"]), proj["epochs_for_bar"], proj["float_epoch_seconds"]
    if proj["saturated"]:
        last, best = proj["points"][-1], proj["best"]
        se = (best["firmware"] * (1 - best["firmware"]) / last["images"]) ** 0.5
        timed = f", {sec:.0f} s a float epoch on this machine's CPUs, *measured*" if sec else ""
        return (f" But the longest training ({longest:,} float epochs{timed}) measured {100 * last['firmware']:.2f}%, below the "
                f"{100 * best['firmware']:.2f}% of the {best['float_epochs']:,}-epoch one ({100 * se:.2f} points is one "
                f"standard error of a top-1 on {last['images']:,} images): on this axis the network has saturated, and "
                f"the line is no route to the bar.")
    if not need or need <= longest or any(p["firmware"] >= proj["bar"] for p in proj["points"]):
        return ""
    more = f"{need - longest:,} float epochs more than the longest training on record"
    if not sec:
        return f" That is {more}."
    return (f" That is {more}: at the {sec:.0f} s a float epoch took in the latest training (*measured*, "
            f"wall clock on this machine's CPUs), about {(need - longest) * sec / 3600:.1f} more hours, or "
            f"{need * sec / 3600:.1f} hours for the whole float schedule from scratch.")


def others_text(proj: dict) -> str:
    """The flagship's trainings with another recipe than the curve's, measured, beside it."""
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731
    if not proj.get("other_recipes"):
        return ""
    items = "; ".join(f"{o['float_epochs']:,} float epochs with {o['recipe']}: {pct(o['firmware'])}"
                      for o in proj["other_recipes"])
    return f" Off this line (another recipe, not a longer schedule), *measured*: {items}."


def folded(config: str, board) -> dict:
    from hwflow.config import load_config
    from hwflow.estimate_report import config_qmodel
    from hwflow.fit import fold
    from hwflow.paths import CONFIG_DIR
    from hwflow.reuse import FitError

    cfg = load_config(CONFIG_DIR / f"{config}.yaml")
    qmodel, source = config_qmodel(cfg)
    row = {"params": int(qmodel.count_params()), "model": source}
    try:
        res, _ = fold(cfg, board, qmodel)
    except FitError as exc:
        return {**row, "fits": False, "least": exc.least, "message": str(exc)}
    a = res.after
    return {**row, "fits": True, "images_per_s": round(a["images_per_s"], 1),
            "utilisation": {k: round(v, 1) for k, v in a["utilisation"].items() if k != "URAM"}, "binding": a["binding"]}


def render(rows: list[dict], refs: list[dict], board: str, proj: dict | None = None) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    lines = [f"# CIFAR-10 on {board}: measured top-1 vs estimated images/s", "",
             "Written by `benchmarks/cifar10_pynq.py`. Top-1 on the 2,000 CIFAR-10 test images is *measured* (firmware: "
             "the bit-exact emulator of the hls4ml project, checked by C-sim; the run named per row); images/s and "
             "utilisation are *estimated* at the Vivado level after the plan stage's fold for the board (no synthesis); "
             "the MLPerf Tiny rows are *published* figures measured on the board by their authors.", "",
             "| candidate | parameters | float | QKeras | firmware | bit-exact | images/s | DSP / LUT / FF / BRAM_18K (%) | top-1 from |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["measured"] or {}
        if r["fits"]:
            u = r["utilisation"]
            hw = (f"{r['images_per_s']:,.0f} *est.*", f"{u['DSP']:.0f} / {u['LUT']:.0f} / {u['FF']:.0f} / {u['BRAM_18K']:.0f} *est.*")
        else:
            hw = ("does not fit", f"least LUT {(r['least'] or {}).get('LUT', 0):,} *est.*")
        label = f"`{r['config']}`" + (f" ({m['training']})" if m.get("training") else "")
        lines.append(f"| {label} | {r['params']:,} | {pct(m.get('float'))} | {pct(m.get('qkeras'))} | "
                     f"{pct(m.get('firmware'))} | {'yes' if m.get('bit_exact') else '-'} | {hw[0]} | {hw[1]} | "
                     f"{m.get('where', 'not measured')} |")
    for ref in refs:
        lines.append(f"| {ref['design']} ({ref['network']}) | - | - | - | {pct(ref['top1'])} *published* | - | "
                     f"{ref['images_per_s']:,.1f} *published* | - | references.json |")
    if proj:
        pts = ", ".join(f"{p['float_epochs']}: {pct(p['firmware'])}" for p in proj["points"])
        reached = [p["float_epochs"] for p in proj["points"] if p["firmware"] >= proj["bar"]]
        if reached:
            where = f"{pct(proj['bar'])} *measured* at {min(reached):,} float epochs"
        elif proj["epochs_for_bar"] and proj["saturated"]:
            where = f"{pct(proj['bar'])} at about {proj['epochs_for_bar']:,} float epochs, if that trend held (*extrapolated*)"
        elif proj["epochs_for_bar"]:
            where = (f"{pct(proj['bar'])} at about **{proj['epochs_for_bar']:,} float epochs** (*extrapolated*; accuracy "
                     f"saturates with training, so read it as the least it would take)")
        else:
            where = "no rising trend to extrapolate"
        lines += ["", f"## Where the bar would be: `{proj['config']}` against its training length", "",
                  f"Measured firmware top-1 by float epochs ({proj['recipe']}; each training + its QAT epochs): {pts}. A least-squares "
                  f"line against log2(epochs) gains {100 * proj['per_doubling']:.2f} points per doubling and reaches "
                  f"{where}.{cost_text(proj)}{others_text(proj)} The same network and fold throughout: the images/s above "
                  f"do not change (the utilisation shown is the config's as it ships; other integer bits of the "
                  f"activations move its estimate slightly)."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], refs: list[dict], board: str, path: Path, proj: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if proj:  # beside it, the flagship's training curve and its extrapolation
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [9, 5]})
    else:
        fig, ax = plt.subplots(figsize=(9, 5))
    shown = sorted(((r["images_per_s"], 100 * r["measured"]["firmware"], r) for r in rows
                    if r["fits"] and r["measured"] and r["measured"].get("firmware") is not None),
                   key=lambda t: (t[0], -t[1]))
    label_y = {}  # the trainings of one design share its images/s: their labels go down a column, 0.6 apart
    for x, y, r in shown:
        m = r["measured"]
        ax.scatter(x, y, marker="o")
        ly = min(y, label_y.get(x, y + 0.6) - 0.6)
        label_y[x] = ly
        name = r["config"] + (f" ({m['training']})" if m.get("training") else "")
        ax.annotate(name, (x, y), xytext=(x * 1.15, ly), fontsize=7, va="center",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.5"} if ly != y else None)
    for i, ref in enumerate(refs):  # the references share their top-1: labels above and below, in turn
        ax.scatter(ref["images_per_s"], 100 * ref["top1"], marker="*", s=120, color="k")
        ax.annotate(f"{ref['design']} (published)", (ref["images_per_s"], 100 * ref["top1"]), fontsize=7,
                    xytext=(4, 6 if i % 2 else -12), textcoords="offset points")
    xs = [r["images_per_s"] for r in rows if r["fits"]] + [ref["images_per_s"] for ref in refs]
    if xs:
        ax.set_xlim(min(xs) / 2, max(xs) * 8)  # room on the right for the labels
    ax.axhline(85.0, color="r", lw=0.8, ls="--", label="MLPerf Tiny closed division: 85%")
    ax.axvline(1000.0, color="g", lw=0.8, ls=":", label="1,000 images/s")
    ax.set_xscale("log")
    ax.set_xlabel(f"images/s on {board} (estimated, Vivado level; references: measured by their authors)")
    ax.set_ylabel("CIFAR-10 firmware top-1 (%, measured)")
    ax.set_title(f"CIFAR-10 on {board}: the candidates that fit", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    if proj:
        import numpy as np

        e = np.array([p["float_epochs"] for p in proj["points"]], float)
        t = np.array([100 * p["firmware"] for p in proj["points"]])
        ax2.scatter(e, t, marker="o", label=f"measured (firmware top-1), {proj['recipe']}")
        for o in proj.get("other_recipes", []):
            ax2.scatter(o["float_epochs"], 100 * o["firmware"], marker="s", color="C2",
                        label=f"measured, {o['recipe']} (another recipe)")
        last = max(e.max(), proj["epochs_for_bar"] or 0) * 1.1
        xs = np.geomspace(e.min() * 0.9, last, 50)
        slope, icpt = 100 * proj["per_doubling"], 100 * proj["intercept"]
        ax2.plot(xs, icpt + slope * np.log2(xs), "k--", lw=0.8, label=f"fit: {slope:+.2f} points per doubling (extrapolated)")
        ax2.axhline(100 * proj["bar"], color="r", lw=0.8, ls="--")
        ax2.set_xscale("log", base=2)
        ticks = sorted({*e.astype(int).tolist(), *([proj["epochs_for_bar"]] if proj["epochs_for_bar"] else []),
                        *(o["float_epochs"] for o in proj.get("other_recipes", []))})
        ax2.set_xticks(ticks, [str(x) for x in ticks], rotation=45, fontsize=8)
        ax2.minorticks_off()
        ax2.set_xlabel("float training epochs (log scale)")
        ax2.set_ylabel("firmware top-1 (%, measured)")
        ax2.set_title(f"{proj['config']} ({proj['recipe']}): top-1 vs training length"
                      + ("\n(saturated: the longest training measured below a shorter one)" if proj["saturated"] else ""),
                      fontsize=10)
        ax2.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--out", type=Path, default=RESULTS / "cifar10_pynq-z2")
    args = ap.parse_args(argv)
    from hwflow.boards import get_board
    from hwflow.cli import quiet_environment, quiet_stdout
    from hwflow.paths import write_report_files

    quiet_environment(verbose=False)
    board = get_board(args.board, where="--board")
    rows = []
    for config, source in CANDIDATES:
        with quiet_stdout(False):
            row = folded(config, board)
        runs = measured(config, source) or [None]
        rows += [{"config": config, "measured": m, **row} for m in runs]
        print(f"  {config}: fits {row['fits']}, {row.get('images_per_s')}", flush=True)
    refs = json.loads((RESULTS / "references.json").read_text())["rows"]
    proj = projection(rows)
    data = {"board": board.name, "rows": rows, "references": refs, "projection": proj}
    write_report_files(args.out.parent, args.out.name, render(rows, refs, board.name, proj), data,
                       lambda p: plot(rows, refs, board.name, p, proj))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
