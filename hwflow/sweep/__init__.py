"""Design-space sweeps on Dask (`hwflow sweep`, `make sweep MODEL=... SPACE=...`).

    spec.py     sweep spec YAML -> SweepSpec (strict), points, overrides -> config dict
    point.py    one point on a worker: (base config, overrides, model) -> result row
    results.py  results.csv (resumable), Parquet, Pareto plot, best.yaml, summary.md
    run.py      validation, one model per quantization, Dask client, progress

Heavy imports (dask, tensorflow, hls4ml) stay inside functions so `hwflow --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

from hwflow.sweep.spec import SweepSpec, apply_overrides, load_spec, point_key, spec_from_dict

__all__ = ["SweepSpec", "apply_overrides", "load_spec", "point_key", "spec_from_dict", "run_sweep", "add_parser"]


def run_sweep(*args, **kwargs):
    """See hwflow.sweep.run.run_sweep (imported lazily: it pulls in dask)."""
    from hwflow.sweep.run import run_sweep as _run

    return _run(*args, **kwargs)


def _cmd_sweep(args) -> int:
    import os

    from hwflow.flow import resolve_config

    cfg = resolve_config(args)
    spec = load_spec(args.space)
    if args.dry_run:
        points = spec.points()
        print(f"{spec.path}: {len(points)} points ({spec.sampling}, grid of {spec.grid_size}), depth {spec.depth}")
        for p in points[:10]:
            print(f"  {point_key(p)}  {p}")
        if len(points) > 10:
            print(f"  ... {len(points) - 10} more")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from hwflow.guard import out_dir

    out_dir(args.out)
    res = run_sweep(cfg, spec, out_dir=args.out, scheduler=args.scheduler, workers=args.workers,
                    retry_failed=args.retry_failed)
    print(f"{res.total} points: {res.ran} run now, {res.skipped} from earlier runs, {res.failed} failed"
          + (f"; {res.points_per_s:.2f} points/s on {res.workers} workers" if res.ran else ""))
    for name in ("csv", "parquet", "pareto_png", "best_config", "summary_md"):
        path = getattr(res, name)
        if path is not None:
            print(f"  {name}: {path}")
    if res.failed:  # the other points are kept; the run still says it was not clean
        from hwflow.errors import ConfigError, HwflowError

        errs = list(res.errors.values())
        first = errs[0].splitlines()[0][:300] if errs else "see the summary"
        bad_input = errs and all(e.startswith("ConfigError") for e in errs)
        raise (ConfigError if bad_input else HwflowError)(
            f"{res.failed} of {res.total} points failed (first: {first}); the others are in {res.csv}")
    return 0


def add_parser(subparsers) -> None:
    from hwflow.flow import config_arg
    from hwflow.guard import cli_int

    p = subparsers.add_parser("sweep", help="design-space sweep (reuse factor, strategy, io_type, bits, board) on Dask")
    config_arg(p)
    p.add_argument("--space", type=Path, required=True,
                   help="sweep spec YAML (e.g. hls_configs/sweeps/squeezenet.yaml)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
                                       "(default: $HWFLOW_DASK_SCHEDULER, else a LocalCluster)")
    p.add_argument("--workers", type=cli_int(1, 256), help="LocalCluster worker processes (default: one per core)")
    p.add_argument("--out", type=Path, help="sweep folder (default: build/<model>/sweep/<spec name>/)")
    p.add_argument("--retry-failed", action="store_true", help="run failed points of an earlier run again")
    p.add_argument("--dry-run", action="store_true", help="list the points and stop")
    p.set_defaults(func=_cmd_sweep)
