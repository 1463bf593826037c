"""Regenerate the shipped fitted configs (hls_configs/<config>_<board>.yaml) with `hwflow fit`, and the
table the README shows (benchmarks/results/fit_shipped.md / .json). Run it again whenever the estimator
changes (its calibration decides every number here); each fit takes seconds after the model is built.

    .venv/bin/python -m benchmarks.fit_shipped [--configs-dir hls_configs] [--out-dir hls_configs] [--only NAME ...]

Each entry names a config and the board it should go on. When the estimate says nothing fits that
board at any reuse factor, the one-line reason is recorded and the config is fitted on the smallest
board of the table that takes it (then the next larger, if the exact estimate still says no). Fitted
configs an earlier run wrote for another board (`<config>_<board>.yaml` starting with the fit header)
are removed first, so the folder holds one fitted config per entry.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ENTRIES = [  # (config, board it should go on)
    ("squeezenet", "pynq-z2"),
    ("mobilenet", "pynq-z2"),
    ("mobilenet_tiny", "pynq-z2"),  # the family's smallest member, for the small board
    ("squeezenet_tiny", "pynq-z2"),  # 4 of 8 fire modules, width 0.25: the SqueezeNet that fits it
    ("squeezenet_cifar10", "pynq-z2"),
    ("squeezenet_cifar10_tuned", "pynq-z2"),
    ("squeezenet_cifar10_small", "pynq-z2"),  # 4 of 8 fire modules, 4-bit activations: the CIFAR-10 member that fits
    ("mobilenet_cifar10", "pynq-z2"),
    ("mobilenet_imagenet", "zcu102"),
    ("mobilenet_imagenet_w4a4", "zcu102"),  # 4-bit weights and activations (FINN's w4a4): labelled, untrained
    ("squeezenet_imagenet", "zcu102"),
]


def _row(name, wanted, res, path, note, seconds):
    a = res.after
    u = a["utilisation"]
    return {"config": name, "wanted_board": wanted, "board": res.board, "fitted_config": str(path),
            "images_per_s": round(a["images_per_s"], 1), "latency_us": round(a["latency_us"], 1),
            "utilisation": {r: round(u[r], 1) for r in ("DSP", "LUT", "FF", "BRAM_18K")},
            "binding": a["binding"], "roofline_share": round(a["roofline_share"] or 0.0, 4),
            "balance": round(res.balance, 2), "note": note, "seconds": round(seconds, 1)}


def fit_entry(name: str, wanted: str, configs_dir: Path, out_dir: Path) -> dict:
    from hwflow.boards import BOARDS, get_board
    from hwflow.config import load_config
    from hwflow.estimate_report import config_qmodel
    from hwflow.fit import run_fit
    from hwflow.reuse import FitError

    cfg = load_config(configs_dir / f"{name}.yaml")
    for b in BOARDS:  # an earlier run's fitted config on another board (the estimator changed): replaced below
        old = out_dir / f"{name}_{b}.yaml"
        if old.is_file() and old.read_text().startswith("# Written by `hwflow fit"):
            old.unlink()
    qmodel, source = config_qmodel(cfg)
    order = sorted(BOARDS.values(), key=lambda b: (b.lut, b.dsp))
    board, note = get_board(wanted), ""
    while True:
        t0 = time.perf_counter()
        try:
            out = out_dir / f"{name}_{board.name}.yaml"
            res, path, _ = run_fit(cfg, board, out, qmodel=qmodel, source=source,
                                   command=f"hwflow fit --config {configs_dir.name}/{name}.yaml --board {board.name}")
            return _row(name, wanted, res, path, note, time.perf_counter() - t0)
        except FitError as exc:
            print(f"  {exc}", flush=True)
            note = note or str(exc)
            bigger = [b for b in order if (b.lut, b.dsp) > (board.lut, board.dsp)]
            nxt = get_board(exc.board) if exc.board and exc.board != board.name else (bigger[0] if bigger else None)
            if nxt is None or (nxt.lut, nxt.dsp) <= (board.lut, board.dsp):
                nxt = bigger[0] if bigger else None
            if nxt is None:
                return {"config": name, "wanted_board": wanted, "board": None, "note": note}
            board = nxt


def render(rows: list[dict]) -> str:
    lines = ["# Fitted configs (`hwflow fit`, all figures *estimated* by hwflow.estimate, no synthesis)", "",
             "| config | board | fitted config | images/s | latency (us) | DSP | LUT | FF | BRAM_18K | binding | "
             "DSP roofline share |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("board") is None:
            lines.append(f"| {r['config']} | none | - | - | - | - | - | - | - | - | - |")
            continue
        u = r["utilisation"]
        lines.append(f"| {r['config']} | {r['board']} | {Path(r['fitted_config']).name} | {r['images_per_s']:,.1f} | "
                     f"{r['latency_us']:,.1f} | {u['DSP']:.1f}% | {u['LUT']:.1f}% | {u['FF']:.1f}% | "
                     f"{u['BRAM_18K']:.1f}% | {r['binding']} | {100 * r['roofline_share']:.1f}% |")
    notes = [f"- {r['config']} on {r['wanted_board']}: {r['note']}" for r in rows if r.get("note")]
    if notes:
        lines += ["", "Does not fit the board it should go on (estimated):", "", *notes]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs-dir", type=Path, default=Path("hls_configs"))
    ap.add_argument("--out-dir", type=Path, default=Path("hls_configs"))
    ap.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--only", nargs="*", help="config names (default: every entry)")
    args = ap.parse_args(argv)
    rows = []
    for name, board in ENTRIES:
        if args.only and name not in args.only:
            continue
        print(f"== {name} -> {board}", flush=True)
        row = fit_entry(name, board, args.configs_dir, args.out_dir)
        print(f"  {json.dumps(row)}", flush=True)
        rows.append(row)
    args.results.mkdir(parents=True, exist_ok=True)
    previous = args.results / "fit_shipped.json"
    if args.only and previous.is_file():  # a partial run updates its rows of the last full table
        done = {r["config"]: r for r in rows}
        rows = [done.pop(r["config"], r) for r in json.loads(previous.read_text())] + list(done.values())
    (args.results / "fit_shipped.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.results / "fit_shipped.md").write_text(render(rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
