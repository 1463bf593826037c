"""Run time of hwflow.estimate on the shipped 224x224 MobileNet v1 (hls_configs/mobilenet_imagenet.yaml),
model building and hls4ml conversion timed apart.

    .venv/bin/python benchmarks/bench_estimate.py [--config hls_configs/mobilenet_imagenet.yaml] [--repeat 5]

Uses the model `hwflow estimate --config` uses (trained QKeras model from the training cache, else
the untrained QKeras twin) and prints the timings and the estimate for zcu102 and alveo-u250.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="hls_configs/mobilenet_imagenet.yaml")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    from hwflow import convert
    from hwflow.config import load_config
    from hwflow.estimate import estimate
    from hwflow.estimate_report import config_qmodel

    cfg = load_config(args.config)
    t0 = time.perf_counter()
    qmodel, source = config_qmodel(cfg)
    t_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    hls_model = convert.to_hls_model(cfg, qmodel)
    t_convert = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        estimate(hls_model, board="zcu102", clock_period_ns=cfg.hls.clock_period_ns)
        times.append(time.perf_counter() - t0)
    print(f"{cfg.name} ({source}): model {t_model:.1f} s; hls4ml conversion {t_convert:.1f} s; "
          f"estimate median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, n={args.repeat})")
    for board in ("zcu102", "alveo-u250"):
        est = estimate(hls_model, board=board, clock_period_ns=cfg.hls.clock_period_ns)
        t, rl = est.totals, est.roofline
        print(f"{board}: DSP {t['DSP']} LUT {t['LUT']} FF {t['FF']} BRAM_18K {t['BRAM_18K']}; "
              f"II {est.ii_cycles} latency {est.latency_cycles} cycles; binding {est.binding_resource} "
              f"{est.utilisation[est.binding_resource]:.0f}%; fits {est.fits}; roofline share {100 * rl.share:.2f}% "
              f"(as estimated {rl.images_per_s:.1f} img/s, attainable {rl.attainable_images_per_s:.2f} img/s"
              f"{', capped' if rl.capped else ''})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
