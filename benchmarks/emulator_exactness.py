"""Is the emulator bit-exact with C-simulation on the shipped configs? (issue 10's evidence)

For each config: the trained (or, for the ImageNet-size configs, seeded untrained) QKeras twin is
converted as `make hls` does, the project compiled and run by C-sim on N test images, and the
emulator's outputs compared value for value. Results: benchmarks/results/emulator_exactness.{md,json}.

    python -m benchmarks.emulator_exactness [--configs squeezenet mobilenet ...] [--images 200]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SMALL = ["squeezenet", "mobilenet", "shufflenet", "mobilenet_v2", "mnasnet"]
IMAGENET = ["mobilenet_imagenet", "squeezenet_imagenet"]


def check(name: str, images: int) -> dict:
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
    x = ds.x_test[:images]
    lib = csim.compile_project(paths.hls, paths.csim)
    ref = csim.run(paths.hls, lib, x, progress=False)
    t0 = time.perf_counter()
    emu = np.asarray(emulate(conv.hls_model, x), np.float64).reshape(len(x), -1)
    emu_s = time.perf_counter() - t0
    return {"config": name, "images": len(x), "values": int(ref.outputs.size),
            "identical_values": int(np.sum(emu == ref.outputs)), "bit_exact": bool(np.array_equal(emu, ref.outputs)),
            "emulator_s": round(emu_s, 2), "csim_s": round(len(x) / ref.images_per_s, 2), "csim_workers": ref.workers,
            "layer_types": sorted({layer.class_name for layer in conv.hls_model.get_layers()})}


def render(rows: list[dict]) -> str:
    lines = ["| config | images | output values identical | bit-exact | emulator (s) | C-sim (s) | layer types |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['images']} | {r['identical_values']:,} / {r['values']:,} | "
                     f"{'yes' if r['bit_exact'] else 'NO'} | {r['emulator_s']} | {r['csim_s']} "
                     f"({r['csim_workers']} proc) | {', '.join(r['layer_types'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=SMALL + IMAGENET)
    p.add_argument("--images", type=int, default=200, help="test images per small config")
    p.add_argument("--imagenet-images", type=int, default=5)
    args = p.parse_args(argv)
    rows = []
    for name in args.configs:
        rows.append(check(name, args.imagenet_images if "imagenet" in name else args.images))
        print(render(rows[-1:]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "emulator_exactness.json").write_text(json.dumps(rows, indent=1))
    (RESULTS / "emulator_exactness.md").write_text("# Emulator vs C-simulation, value for value\n\n" + render(rows))
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
