"""`make bench`: every benchmark in one run, each reporting ratios against its baseline run
side by side (C-sim 1 process vs N, emulator vs C-sim vs QKeras, sweep 1 vs 2 workers, estimator
time on MobileNet 224, FIFO model alone on the shipped configs, the plan stage (folding) inside a run). Results go to benchmarks/results/.

    python -m benchmarks.run [--quick]      # --quick: small configs only, no ImageNet-size model
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="skip the ImageNet-size model")
    args = p.parse_args(argv)

    from pathlib import Path

    from benchmarks import bench_csim, bench_emulate, bench_estimate, bench_fifo, bench_fit, bench_sweep

    print("== C-sim / emulator / QKeras throughput", flush=True)
    configs = ["squeezenet", "mobilenet"] + ([] if args.quick else ["mobilenet_imagenet"])
    bench_csim.run(configs)
    print("== emulator vs QKeras vs C-sim (SqueezeNet-like, SVHN tutorial CNN, one config per shipped model shape)", flush=True)
    bench_emulate.run(Path(__file__).resolve().parent / "results", imagenet=not args.quick)
    print("== estimator run time (MobileNet v1 224x224)", flush=True)
    bench_estimate.main([])
    print("== estimate-depth sweep, 1 vs 2 Dask workers", flush=True)
    bench_sweep.main([])
    print("== FIFO model alone (hwflow.fifo) and the FIFO bits it saves", flush=True)
    bench_fifo.main(["--configs", *[c for c in bench_fifo.CONFIGS if not (args.quick and "imagenet" in c)]])
    print("== the plan stage (folding for the board) vs the stages a run needs anyway", flush=True)
    bench_fit.main(["--configs", *[c for c in bench_fit.CONFIGS if not (args.quick and "imagenet" in c)]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
