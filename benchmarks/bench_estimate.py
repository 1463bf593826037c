"""Run time of hwflow.estimate on the 224x224 MobileNet v1 (io_stream), conversion timed apart.

    .venv/bin/python benchmarks/bench_estimate.py [--repeat 5]

Prints the timings and the estimate's headline numbers for zcu102 and alveo-u250.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    import hls4ml
    import tensorflow as tf

    from hwflow.estimate import estimate

    t_import = time.perf_counter() - t0
    model = tf.keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis",
                                               default_precision="fixed<16,6>")
    t0 = time.perf_counter()
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, io_type="io_stream", backend="Vitis", part="xczu9eg-ffvb1156-2-e",
        clock_period=5, output_dir="/tmp/hwflow-bench-estimate")
    t_convert = time.perf_counter() - t0
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        est = estimate(hls_model, board="zcu102")
        times.append(time.perf_counter() - t0)
    print(f"imports {t_import:.2f} s; hls4ml conversion {t_convert:.2f} s; "
          f"estimate median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, n={args.repeat})")
    for board in ("zcu102", "alveo-u250"):
        est = estimate(hls_model, board=board)
        t = est.totals
        print(f"{board}: DSP {t['DSP']} LUT {t['LUT']} FF {t['FF']} BRAM_18K {t['BRAM_18K']}; "
              f"II {est.ii_cycles} latency {est.latency_cycles} cycles; binding {est.binding_resource} "
              f"{est.utilisation[est.binding_resource]:.0f}%; fits {est.fits}; roofline share {100 * est.roofline.share:.2f}%"
              f" (attainable {est.roofline.attainable_images_per_s:.1f} img/s, capped {est.roofline.capped})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
