"""Design-space sweeps on Dask (`hwflow sweep`, `make sweep MODEL=... SPACE=...`).

    spec.py     sweep spec YAML -> SweepSpec (strict), points, overrides -> config dict
    point.py    one point on a worker: (base config, overrides, model) -> result row
    results.py  results.csv (resumable), Parquet, Pareto plot, best.yaml, summary.md
    run.py      validation, one model per quantization, Dask client, progress

Heavy imports (dask, tensorflow, hls4ml) stay inside functions so `hwflow --help` stays fast.
"""

from __future__ import annotations


from hwflow.sweep.spec import SweepSpec, apply_overrides, load_spec, point_key, spec_from_dict

__all__ = ["SweepSpec", "apply_overrides", "load_spec", "point_key", "spec_from_dict", "run_sweep"]


def run_sweep(*args, **kwargs):
    """See hwflow.sweep.run.run_sweep (imported lazily: it pulls in dask)."""
    from hwflow.sweep.run import run_sweep as _run

    return _run(*args, **kwargs)
