"""Per-layer quantization tuning (`hwflow tune`, `make tune MODEL=... BUDGET=1.0`).

    from hwflow.tune import tune
    result = tune(load_config("hls_configs/squeezenet_cifar10.yaml"), budget=1.0)

Modules: `space` (points, cost, quantizer swapping), `search` (sensitivity, greedy search,
resumable state), `report` (tuned YAML, plots, tune.md), `run` (the `tune` function).
Heavy imports stay inside functions so `hwflow --help` stays fast.
"""

from __future__ import annotations



def tune(cfg, budget: float, **kwargs):
    """See hwflow.tune.run.tune."""
    from hwflow.tune.run import tune as _tune

    return _tune(cfg, budget, **kwargs)
