"""What `make hls` builds for every shipped base config: the fold of the plan stage (hls.reuse_factor:
auto, hwflow.fit.fold) on the board the config names, and the table the docs show
(benchmarks/results/fit_shipped.md / .json). Run it again whenever the estimator or its Vivado-level
projection changes (they decide every number here); each fold takes seconds after the model is built.

    .venv/bin/python -m benchmarks.fit_shipped [--configs-dir hls_configs] [--only NAME ...]

Every config of the folder whose `hls.reuse_factor` is `auto` is folded on its own board with the
model `hwflow estimate` would use (trained when the training cache has it, else the untrained twin: the
row says which). A config that does not fit its board is a row saying so (the one-line reason), never a
silent skip. Nothing is written to hls_configs/: the plan is made at run time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml


def auto_configs(configs_dir: Path) -> list[str]:
    """Names of the configs in `configs_dir` whose hls.reuse_factor is auto (read with yaml.safe_load)."""
    out = []
    for p in sorted(configs_dir.glob("*.yaml")):
        raw = yaml.safe_load(p.read_text()) or {}
        if isinstance(raw, dict) and (raw.get("hls") or {}).get("reuse_factor") == "auto":
            out.append(p.stem)
    return out


def fold_entry(name: str, configs_dir: Path) -> dict:
    from hwflow.config import load_config
    from hwflow.estimate_report import config_qmodel
    from hwflow.fit import fold
    from hwflow.reuse import FitError

    cfg = load_config(configs_dir / f"{name}.yaml")
    qmodel, source = config_qmodel(cfg)
    board = cfg.hls.board
    t0 = time.perf_counter()
    try:
        res, _ = fold(cfg, board, qmodel)
    except FitError as exc:
        return {"config": name, "fitted_config": name, "board": board.name, "fits": False, "note": str(exc),
                "model": source, "seconds": round(time.perf_counter() - t0, 1)}
    a = res.after
    u = a["utilisation"]
    return {"config": name, "fitted_config": name, "board": res.board, "fits": True, "model": source,
            "basis": "estimated (Vivado level)", "images_per_s": round(a["images_per_s"], 1),
            "latency_us": round(a["latency_us"], 1),
            "utilisation": {r: round(u[r], 1) for r in ("DSP", "LUT", "FF", "BRAM_18K")},
            "totals": a["totals"], "csynth_totals": a["csynth_totals"], "binding": a["binding"],
            "roofline_share": round(a["roofline_share"] or 0.0, 4), "balance": round(res.balance, 2),
            "search_seconds": res.search["seconds"], "seconds": round(time.perf_counter() - t0, 1)}


def render(rows: list[dict]) -> str:
    lines = ["# Shipped configs folded for their boards (`make hls`'s plan stage; every figure *estimated*, "
             "Vivado level)", "",
             "| config | board | images/s | latency (us) | DSP | LUT | FF | BRAM_18K | binding | model | fold (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if not r.get("fits"):
            lines.append(f"| {r['config']} | {r['board']} | does not fit | - | - | - | - | - | - | {r['model']} | "
                         f"{r['seconds']} |")
            continue
        u = r["utilisation"]
        lines.append(f"| {r['config']} | {r['board']} | {r['images_per_s']:,.1f} | {r['latency_us']:,.1f} | "
                     f"{u['DSP']:.1f}% | {u['LUT']:.1f}% | {u['FF']:.1f}% | {u['BRAM_18K']:.1f}% | {r['binding']} | "
                     f"{r['model']} | {r['search_seconds']} |")
    notes = [f"- {r['config']} on {r['board']}: {r['note']}" for r in rows if not r.get("fits")]
    if notes:
        lines += ["", "Does not fit the board it names (estimated):", "", *notes]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs-dir", type=Path, default=Path("hls_configs"))
    ap.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--only", nargs="*", help="config names (default: every config with reuse_factor: auto)")
    args = ap.parse_args(argv)
    from hwflow.cli import quiet_environment, quiet_stdout
    from hwflow.paths import write_text_atomic

    quiet_environment(verbose=False)
    rows = []
    for name in auto_configs(args.configs_dir):
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        with quiet_stdout(False):
            row = fold_entry(name, args.configs_dir)
        print(f"  {json.dumps({k: row[k] for k in ('board', 'fits', 'seconds')} | {'ips': row.get('images_per_s')})}",
              flush=True)
        rows.append(row)
    previous = args.results / "fit_shipped.json"
    if args.only and previous.is_file():  # a partial run updates its rows of the last full table
        done = {r["config"]: r for r in rows}
        rows = [done.pop(r["config"], r) for r in json.loads(previous.read_text())] + list(done.values())
    write_text_atomic(args.results / "fit_shipped.json", json.dumps(rows, indent=1) + "\n")
    write_text_atomic(args.results / "fit_shipped.md", render(rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
