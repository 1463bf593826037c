"""What folding costs inside `make hls`: the plan stage (hls.reuse_factor: auto, hwflow.fit.fold: one
hls4ml conversion of the model for the search + the search) against the stages a run needs anyway
(convert: the project's own conversion and writing; estimate), timed side by side in one run of
`flow.run(models .. estimate)` per config on the untrained twin (training and C-sim, which only make the
share smaller, are left out so the figure is an upper bound).

    .venv/bin/python -m benchmarks.bench_fit [--configs squeezenet mobilenet_cifar10 mobilenet_imagenet]
        [--out benchmarks/results/bench_fit]

Writes <out>.md / .json. The project goes to a temporary build folder (HWFLOW_BUILD_DIR).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

CONFIGS = ["squeezenet", "squeezenet_cifar10_pynq", "mobilenet_cifar10", "mobilenet_imagenet"]


def run_one(name: str) -> dict:
    from hwflow import flow
    from hwflow.cli import quiet_stdout
    from hwflow.config import load_config
    from hwflow.paths import CONFIG_DIR

    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    with quiet_stdout(False):
        b = flow.run(cfg, stop="estimate", options=flow.Options(models="untrained", command="bench"))
    t = b.times
    rest = t["convert"] + t["estimate"]
    return {"config": name, "board": b.cfg.hls.board.name, "input": list(cfg.model.input_shape),
            "times_s": t, "plan_s": t["plan"], "search_s": b.fit.search["seconds"] if b.fit else None,
            "plan_share_of_models_to_estimate": round(t["plan"] / max(sum(t.values()), 1e-9), 4),
            "plan_vs_convert_estimate": round(t["plan"] / max(rest, 1e-9), 4),
            "images_per_s": round(b.fit.after["images_per_s"], 1) if b.fit else None}


def render(rows: list[dict]) -> str:
    lines = ["# The plan stage's cost inside a run (`benchmarks/bench_fit.py`, measured)", "",
             "Untrained twins, `flow.run(models .. estimate)`: stage times in seconds on this machine. The share is of "
             "models .. estimate; a real `make hls` adds training and C-simulation, so its share is smaller.", "",
             "| config | input | board | models | check | plan (search) | convert | estimate | plan share | plan / (convert + estimate) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["times_s"]
        lines.append(f"| {r['config']} | {'x'.join(map(str, r['input']))} | {r['board']} | {t['models']:.1f} | "
                     f"{t['check']:.1f} | {t['plan']:.1f} ({r['search_s']}) | {t['convert']:.1f} | {t['estimate']:.1f} | "
                     f"{100 * r['plan_share_of_models_to_estimate']:.1f}% | {r['plan_vs_convert_estimate']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="*", default=CONFIGS)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_fit"))
    args = ap.parse_args(argv)
    import json

    from hwflow.cli import quiet_environment
    from hwflow.paths import write_text_atomic

    quiet_environment(verbose=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-fit-") as tmp:
        old = os.environ.get("HWFLOW_BUILD_DIR")
        os.environ["HWFLOW_BUILD_DIR"] = tmp
        try:
            for name in args.configs:
                print(f"== {name}", flush=True)
                rows.append(run_one(name))
                print(f"  {rows[-1]['times_s']}", flush=True)
        finally:
            if old is None:
                os.environ.pop("HWFLOW_BUILD_DIR", None)
            else:
                os.environ["HWFLOW_BUILD_DIR"] = old
    write_text_atomic(args.out.with_suffix(".json"), json.dumps(rows, indent=1) + "\n")
    write_text_atomic(args.out.with_suffix(".md"), render(rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
