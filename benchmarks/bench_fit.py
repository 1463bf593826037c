"""Run time of `hwflow fit` on the shipped 224x224 MobileNet v1 (hls_configs/mobilenet_imagenet.yaml) for
zcu102: model building, one hls4ml conversion + the folding search, and the whole command, timed apart.

    .venv/bin/python -m benchmarks.bench_fit [--config hls_configs/mobilenet_imagenet.yaml] [--board zcu102]

Writes the fitted config and fit.md into a temporary folder (the shipped ones are written by
benchmarks/fit_shipped.py). A design that fits nowhere is reported with the time it took to say so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="hls_configs/mobilenet_imagenet.yaml")
    ap.add_argument("--board", default="zcu102")
    args = ap.parse_args(argv)
    from hwflow.boards import get_board
    from hwflow.config import load_config
    from hwflow.estimate_report import config_qmodel
    from hwflow.fit import run_fit
    from hwflow.reuse import FitError

    cfg = load_config(args.config)
    board = get_board(args.board)
    t0 = time.perf_counter()
    qmodel, source = config_qmodel(cfg)
    t_model = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            res, _, _ = run_fit(cfg, board, Path(tmp) / f"{cfg.name}_{board.name}.yaml", qmodel=qmodel, source=source,
                                report_dir=Path(tmp))
            outcome = (f"{res.after['images_per_s']:,.1f} images/s (estimated), binding {res.after['binding']} "
                       f"{res.after['utilisation'][res.after['binding']]:.1f}%; search {res.search['seconds']} s "
                       f"({res.search['estimates']} whole-model estimates, {res.search['candidates']} candidates)")
        except FitError as exc:
            outcome = f"nothing fits: {exc}"
        t_fit = time.perf_counter() - t0
    print(f"hwflow fit {cfg.name} on {board.name} ({source}): model {t_model:.1f} s; conversion + search + reports "
          f"{t_fit:.1f} s; whole command {t_model + t_fit:.1f} s; {outcome}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
