"""C-simulation and emulator throughput on the shipped configs, side by side in one run.

For each config: cold compile (empty cache) and cached compile time; C-sim images/s with one
process and with one process per core (the speed-up of the multi-process run); the bit-exact
emulator's and the QKeras model's images/s on the same images, and whether the emulator's
outputs are identical to C-sim's. Results: benchmarks/results/bench_csim.{md,json}.

    python -m benchmarks.bench_csim [--configs squeezenet mobilenet mobilenet_imagenet] [--images N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def bench_config(name: str, images: int) -> dict:
    from hwflow.config import load_config
    from hwflow.convert import convert
    from hwflow.flow import stage_models
    from hwflow.paths import CONFIG_DIR, ModelPaths
    from hwflow.sim import csim
    from hwflow.sim.emulate import emulate

    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    paths = ModelPaths.for_model(cfg.name)
    ds, tm = stage_models(cfg)
    conv = convert(cfg, tm.qmodel, paths.hls)
    x = np.concatenate([ds.x_test] * int(np.ceil(images / len(ds.x_test))))[:images]

    cache = Path(tempfile.mkdtemp(prefix="bench-csim-"))
    try:
        cold = csim.compile_project(paths.hls, cache)
        t0 = time.perf_counter()
        csim.compile_project(paths.hls, cache)  # cache hit: hashing the sources is all it costs
        warm_s = time.perf_counter() - t0
        cores = os.cpu_count() or 1
        one = csim.run(paths.hls, cold, x, workers=1, progress=False)
        many = csim.run(paths.hls, cold, x, workers=cores, progress=False)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    # the fast engines are timed on at least 16 images (C-sim's few repeated) after a warm-up call
    # (weight codes, TensorFlow kernels, Keras graph), so their rates are not start-up costs
    xf = np.concatenate([x] * int(np.ceil(16 / len(x))))[:max(16, len(x))]
    emulate(conv.hls_model, x[:1])
    t0 = time.perf_counter()
    emu = np.asarray(emulate(conv.hls_model, xf), np.float64).reshape(len(xf), -1)[:len(x)]
    emu_s = time.perf_counter() - t0
    tm.qmodel.predict(x[:2], verbose=0)  # build the graph outside the timing
    t0 = time.perf_counter()
    tm.qmodel.predict(xf, batch_size=64, verbose=0)
    q_s = time.perf_counter() - t0
    return {
        "config": name, "images": len(x), "cores": cores,
        "compile_cold_s": round(cold.compile_s, 2), "compile_cached_s": round(warm_s, 3),
        "csim_1proc_ips": one.images_per_s, f"csim_{cores}proc_ips": many.images_per_s,
        "multiprocess_speedup": many.images_per_s / one.images_per_s,
        "fast_engine_images": len(xf), "emulator_ips": len(xf) / emu_s, "qkeras_ips": len(xf) / q_s,
        "emulator_vs_csim_1proc": (len(xf) / emu_s) / one.images_per_s,
        "emulator_identical_to_csim": bool(np.array_equal(emu, many.outputs)),
    }


def render(rows: list[dict]) -> str:
    cores = rows[0]["cores"] if rows else 1
    lines = ["| config | images (C-sim / emulator, QKeras) | compile cold (s) | compile cached (s) | C-sim 1 proc (img/s) | "
             f"C-sim {cores} proc (img/s) | multi-process speed-up | emulator (img/s) | emulator / C-sim | "
             "QKeras (img/s) | emulator == C-sim |", "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r['config']} | {r['images']} / {r.get('fast_engine_images', r['images'])} | {r['compile_cold_s']:.1f} | {r['compile_cached_s']:.3f} | "
                     f"{r['csim_1proc_ips']:.3g} | {r[f'csim_{cores}proc_ips']:.3g} | {r['multiprocess_speedup']:.2f}x | "
                     f"{r['emulator_ips']:.3g} | {r['emulator_vs_csim_1proc']:.1f}x | {r['qkeras_ips']:.3g} | "
                     f"{'yes' if r['emulator_identical_to_csim'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def run(configs=("squeezenet", "mobilenet"), images: int = 64, imagenet_images: int = 2) -> list[dict]:
    rows = []
    for name in configs:
        rows.append(bench_config(name, imagenet_images if "imagenet" in name else images))
        print(render(rows[-1:]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_csim.json").write_text(json.dumps(rows, indent=1))
    (RESULTS / "bench_csim.md").write_text("# C-sim, emulator and QKeras throughput\n\n" + render(rows))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["squeezenet", "mobilenet", "mobilenet_imagenet"])
    p.add_argument("--images", type=int, default=64)
    args = p.parse_args(argv)
    run(args.configs, args.images)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
