"""Points/s of an estimate-depth sweep over MobileNet on a LocalCluster with 1 and 2 workers, side by side.

    .venv/bin/python -m benchmarks.bench_sweep [--points 200] [--workers 1 2] [--weights init]

The same points (hls_configs/sweeps/mobilenet.yaml: random sample, seed 0) run once per worker
count, each in a fresh folder and a fresh cluster. "sweep s" is first submission -> last row
(models prepared and workers' imports done before: that is "warm-up s"). The machine's load
average is recorded: on a shared machine the ratio between the rows is the number to read.
Writes benchmarks/results/bench_sweep.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"
FALLBACK = {  # used when hls_configs/mobilenet.yaml is absent
    "model": {"arch": "mobilenet", "input_shape": [32, 32, 3], "classes": 10, "alpha": 0.25, "stem_stride": 1},
    "train": {"epochs": 0, "qat_epochs": 0},
    "hls": {"backend": "Vitis", "board": "zcu102", "io_type": "io_stream", "strategy": "Resource", "reuse_factor": 8},
}


def _inputs(points: int, weights: str, tmp: Path):
    import yaml

    from hwflow.config import config_from_dict, load_config
    from hwflow.sweep.spec import spec_from_dict

    cfg_path = REPO_ROOT / "hls_configs" / "mobilenet.yaml"
    if cfg_path.exists():
        cfg = load_config(cfg_path)
    else:
        cfg = config_from_dict(FALLBACK, tmp / "mobilenet.yaml")
    raw = yaml.safe_load((REPO_ROOT / "hls_configs" / "sweeps" / "mobilenet.yaml").read_text())
    raw.update(weights=weights, sampling="random", samples=points)
    return cfg, spec_from_dict(raw, REPO_ROOT / "hls_configs" / "sweeps" / "mobilenet.yaml")


def run(points: int = 200, workers: tuple[int, ...] = (1, 2), weights: str = "init",
        out_root: Path | None = None) -> dict:
    """One sweep per worker count over the same points; returns the measured rows (also for benchmarks/run.py)."""
    from hwflow.sweep.run import run_sweep

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tmp = Path(out_root or tempfile.mkdtemp(prefix="hwflow-bench-sweep-"))
    cfg, spec = _inputs(points, weights, tmp)
    rows = []
    for n in workers:
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = run_sweep(cfg, spec, out_dir=tmp / f"workers-{n}", workers=n, progress=False, echo=lambda s: None)
        rows.append({"workers": n, "points": res.ran, "failed": res.failed, "warmup_s": res.warmup_s,
                     "sweep_s": res.elapsed_s, "total_s": round(time.perf_counter() - t0, 2),
                     "points_per_s": round(res.points_per_s, 3), "load_before": round(load0, 1),
                     "load_after": round(os.getloadavg()[0], 1), "errors": sorted(set(res.errors.values()))[:3]})
    base = rows[0]["points_per_s"]
    for r in rows:
        r["speedup"] = round(r["points_per_s"] / base, 2) if base else None
    return {"model": cfg.name, "config": str(cfg.path), "spec": str(spec.path), "weights": weights,
            "points": points, "cpu_count": os.cpu_count(), "rows": rows, "out": str(tmp)}


def render(result: dict) -> str:
    lines = [f"# Sweep throughput: {result['model']}, estimate depth, {result['points']} points "
             f"({result['weights']} weights), {result['cpu_count']} cores", "",
             "| workers | points | failed | warm-up s | sweep s | points/s | speedup | load avg before/after |",
             "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['workers']} | {r['points']} | {r['failed']} | {r['warmup_s']} | {r['sweep_s']} | "
                     f"{r['points_per_s']} | {r['speedup']} | {r['load_before']} / {r['load_after']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--weights", choices=("init", "trained"), default="init")
    ap.add_argument("--out", type=Path, help="sweep folders (default: a new temporary folder)")
    args = ap.parse_args(argv)
    result = run(args.points, tuple(args.workers), args.weights, args.out)
    text = render(result)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_sweep.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "bench_sweep.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
