"""Pruning as a resource lever: each config at several sparsities, trained, parity-run and fitted.

    python -m benchmarks.prune_study --config hls_configs/squeezenet_cifar10.yaml \
        [--config ...] --sparsity 0 0.5 0.75 [--prune-epochs N] [--board pynq-z2 --board zcu102] \
        [--data DIR] [--images N] --out benchmarks/results/prune_cifar10

For every (config, sparsity): the config with `prune: {sparsity: s, epochs: N}` (s = 0: the config
as it is) runs through hwflow.flow (models -> check -> convert -> estimate -> parity: float / QKeras
/ firmware top-1 on the test images, the firmware's bit-exactness), then `hwflow fit`'s search
(hwflow.fit.run_fit) on each board with the trained weights, so the estimator counts their zeros.
A board nothing fits is recorded with the least each resource reaches (the fit's own message).
Training is cached in the build folder like any `make hls` (HWFLOW_BUILD_DIR), so a second run only
re-fits. Writes <out>.json, <out>.md and <out>.png. `--data DIR`: another image folder of the same
layout (its own cache entries). Every resource and images/s figure is *estimated* (no synthesis).

    python -m benchmarks.prune_study --merge A.json B.json --out STEM

renders the rows of earlier runs (their .json) as one table and plot, recomputing nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path


def derived(cfg, sparsity: float, epochs: int | None, data: Path | None):
    """The config at `sparsity` (same folder, so relative data paths and the float cache key hold)."""
    from hwflow.config import config_from_dict

    raw = copy.deepcopy(cfg.raw)
    if data is not None:
        raw.setdefault("data", {})["source"] = str(data.resolve())
    name = cfg.name
    if sparsity > 0:
        prune = dict(raw.get("prune") or {})
        prune["sparsity"] = sparsity
        if epochs is not None:
            prune["epochs"] = epochs
        raw["prune"] = prune
        name = f"{cfg.name}_s{round(100 * sparsity)}"
    return config_from_dict(raw, cfg.path.with_name(f"{name}.yaml"))


def zeros(qmodel) -> dict:
    """Share of zero kernel weights (hwflow.prune.zero_share, what the fit reports)."""
    from hwflow.prune import zero_share

    return {"sparsity": zero_share(qmodel)}


def fit_row(cfg, board_name: str, qmodel, out_dir: Path) -> dict:
    from hwflow.boards import get_board
    from hwflow.fit import run_fit
    from hwflow.reuse import FitError

    board = get_board(board_name)
    try:
        res, _, _ = run_fit(cfg, board, out_dir / f"{cfg.name}_{board.name}.yaml", qmodel=qmodel,
                            source="trained weights", report_dir=out_dir / f"{cfg.name}_{board.name}")
    except FitError as exc:
        return {"board": board.name, "fits": False, "message": str(exc), "least": exc.least}
    a = res.after
    return {"board": board.name, "fits": True, "images_per_s": a["images_per_s"], "ii_cycles": a["ii_cycles"],
            "latency_us": a["latency_us"], "totals": a["totals"], "utilisation": a["utilisation"],
            "binding": a["binding"], "choices": res.choices}


def run_point(cfg, sparsity, epochs, data, boards, images, fit_dir: Path) -> dict:
    from hwflow import flow
    from hwflow.prune import plan_for

    from hwflow.cli import quiet_stdout

    c = derived(cfg, sparsity, epochs, data)
    print(f"{c.name}: train (or cache) -> convert -> parity -> fit", file=sys.stderr, flush=True)
    with quiet_stdout(False):
        b = flow.run(c, stop="parity", options=flow.Options(images=images, command="prune_study"))
    p = b.parity
    row = {"config": cfg.name, "name": c.name, "sparsity_target": sparsity,
           "prune_epochs": c.prune.epochs if sparsity > 0 else 0,
           "pruned_layers": sorted(plan_for(c, b.models.float_model)),
           "float_top1": p.float_accuracy, "qkeras_top1": p.qkeras_accuracy, "firmware_top1": p.csim_accuracy,
           "bit_exact_share": p.bit_exact_share, "argmax_agreement": p.argmax_agreement, "images": p.n_images,
           **zeros(b.models.qmodel), "fits": {}}
    for board in boards:
        with quiet_stdout(False):
            row["fits"][board] = fit_row(c, board, b.models.qmodel, fit_dir)
    return row


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def render(rows: list[dict], boards: list[str]) -> str:
    lines = ["# Pruning study (hwflow.prune + hwflow fit)", "",
             "Top-1 measured on the test images (float and QKeras models; firmware = hls4ml's fixed-point "
             "model run by the bit-exact emulator, checked against C-sim). Resources and images/s are "
             "*estimated* by hwflow.estimate after `hwflow fit`'s search on the trained weights (no synthesis).", "",
             "| model | target sparsity | kernel zeros | float | QKeras | firmware | bit-exact | "
             + " | ".join(f"{b}: images/s | {b}: DSP / LUT / BRAM_18K" for b in boards) + " |",
             "|---|---|---|---|---|---|---|" + "---|---|" * len(boards)]
    for r in rows:
        target = (f"{100 * r['sparsity_target']:.0f}%" if r["sparsity_target"] or not r["pruned_layers"]
                  else f"the config's ({len(r['pruned_layers'])} layers)")
        cells = [r["config"], target, f"{100 * r['sparsity']:.1f}%",
                 _pct(r["float_top1"]), _pct(r["qkeras_top1"]), _pct(r["firmware_top1"]),
                 f"{100 * r['bit_exact_share']:.1f}%"]
        for b in boards:
            f = r["fits"].get(b)
            if f is None:
                cells += ["not fitted", "-"]
            elif f["fits"]:
                t, u = f["totals"], f["utilisation"]
                cells += [f"{f['images_per_s']:,.0f}",
                          f"{t['DSP']:,} ({u['DSP']:.0f}%) / {t['LUT']:,} ({u['LUT']:.0f}%) / "
                          f"{t['BRAM_18K']:,} ({u['BRAM_18K']:.0f}%)"]
            else:
                least = f["least"] or {}
                cells += ["does not fit",
                          "least " + " / ".join(f"{least.get(x, 0):,}" for x in ("DSP", "LUT", "BRAM_18K"))]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r['name']} on {b}: {r['fits'][b]['message']}" for r in rows for b in boards
             if b in r["fits"] and not r["fits"][b]["fits"]]
    if notes:
        lines += ["", "Boards nothing fits (the fit's own line):", "", *notes]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], boards: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(boards), figsize=(5 * (1 + len(boards)), 4))
    models = sorted({r["config"] for r in rows})
    for m in models:
        rs = sorted((r for r in rows if r["config"] == m), key=lambda r: r["sparsity_target"])
        s = [100 * r["sparsity_target"] for r in rs]
        axes[0].plot(s, [100 * (r["firmware_top1"] or 0) for r in rs], "o-", label=f"{m} firmware")
        axes[0].plot(s, [100 * (r["float_top1"] or 0) for r in rs], "x--", label=f"{m} float")
        for ax, b in zip(axes[1:], boards):
            pts = [(r["fits"][b]["images_per_s"], 100 * (r["firmware_top1"] or 0), r["sparsity_target"])
                   for r in rs if r["fits"].get(b, {}).get("fits")]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=m)
                for x, y, sp in pts:
                    ax.annotate(f"{100 * sp:.0f}%", (x, y), fontsize=7)
    axes[0].set_xlabel("target sparsity (%)")
    axes[0].set_ylabel("top-1 on the test images (%, measured)")
    axes[0].legend(fontsize=7)
    for ax, b in zip(axes[1:], boards):
        ax.set_xscale("log")
        ax.set_xlabel(f"images/s after hwflow fit on {b} (estimated)")
        ax.set_ylabel("firmware top-1 (%)")
        ax.set_title(f"{b} (points: sparsity)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", action="append", type=Path)
    ap.add_argument("--merge", type=Path, nargs="+", help="render the rows of these earlier runs' .json (no new run)")
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.0, 0.5, 0.75])
    ap.add_argument("--prune-epochs", type=int, nargs="+",
                    help="prune.epochs: one value for every config, or one per --config (default: the config's, "
                         "else hwflow's)")
    ap.add_argument("--board", action="append", help="boards to fit (default: pynq-z2)")
    ap.add_argument("--data", type=Path, help="an image folder of the same layout instead of the configs' data")
    ap.add_argument("--images", type=int, help="test images through the firmware (default: parity.images)")
    ap.add_argument("--out", type=Path, required=True, help="output stem, e.g. benchmarks/results/prune_cifar10")
    args = ap.parse_args(argv)

    from hwflow.cli import quiet_environment
    from hwflow.config import load_config
    from hwflow.errors import HwflowError

    if args.merge:
        return merge(args.merge, args.out)
    if not args.config:
        print("error: --config CFG (one or more) or --merge A.json ...: nothing to do", file=sys.stderr)
        return 2
    quiet_environment(verbose=False)
    boards = args.board or ["pynq-z2"]
    epochs = args.prune_epochs or [None]
    if len(epochs) not in (1, len(args.config)):
        print(f"error: --prune-epochs: {len(epochs)} values for {len(args.config)} configs; valid: one, or one per "
              f"--config", file=sys.stderr)
        return 2
    epochs = epochs * len(args.config) if len(epochs) == 1 else epochs
    rows = []
    fit_dir = Path(tempfile.mkdtemp(prefix="prune-study-fits-"))
    try:
        for path, n_epochs in zip(args.config, epochs):
            cfg = load_config(path)
            for s in args.sparsity:
                rows.append(run_point(cfg, s, n_epochs, args.data, boards, args.images, fit_dir))
                print(json.dumps({k: rows[-1][k] for k in ("name", "sparsity", "float_top1", "qkeras_top1",
                                                           "firmware_top1")}), flush=True)
    except HwflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    return write(rows, boards, args.out)


def write(rows: list[dict], boards: list[str], out: Path) -> int:
    from hwflow.paths import write_report_files

    write_report_files(out.parent, out.name, render(rows, boards), {"estimated_resources": True, "rows": rows},
                       lambda p: plot(rows, boards, p))
    print(f"wrote {out}.md/.json/.png")
    return 0


def merge(paths: list[Path], out: Path) -> int:
    """One table of earlier runs' rows (each .json as written by this script); boards in first-seen order."""
    rows = []
    for p in paths:
        try:
            data = json.loads(Path(p).read_text())
            got = data["rows"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"error: {p}: not a prune_study .json with 'rows' ({exc.__class__.__name__}: {exc})", file=sys.stderr)
            return 2
        rows += got
    boards = list(dict.fromkeys(b for r in rows for b in r["fits"]))
    return write(rows, boards, out)


if __name__ == "__main__":
    sys.exit(main())
