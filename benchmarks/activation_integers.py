"""Where the binary point of the activations goes: top-1 of a config's trained network quantized before QAT with
the same integer bits on every layer (0, 1, 2, 3, ...) and with the per-layer calibration of
`activation_integer: auto` (hwflow.train.calibrate_activations).

    .venv/bin/python -m benchmarks.activation_integers --config hls_configs/squeezenet_cifar10_pynq.yaml \\
        [--integers 0 1 2 3 4] [--out benchmarks/results/activation_integers_<name>]

The trained float model comes from the flow's own models stage (hwflow.flow.stage_models: its training
cache, or the shipped weights, or a training when neither exists), BN-folded as the flow folds it; the widths
are the config's (weights' integer bits from the folded weights as the flow resolves them). Each variant's
QKeras twin gets the folded float weights, no QAT, and is scored on the config's test images (*measured*).
The config's own trained QKeras model (after its QAT) is the last row. Writes <out>.md / .json / .png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def measure(cfg, integers: list[int]) -> dict:
    from hwflow.flow import stage_models
    from hwflow.train import (accuracy, activation_outputs, calibrate_activations, calibration_images, folded_twin,
                              resolve_plan)
    from hwflow.zoo.layers import fold_batchnorm, kernel_layer_names
    from hwflow.zoo.quant import uncalibrated_activations

    ds, trained = stage_models(cfg)
    fm = trained.float_model
    folded = fold_batchnorm(fm)
    names = kernel_layer_names(fm)
    plan = resolve_plan(cfg.quant_plan(names), folded)
    open_plan = uncalibrated_activations(plan)  # the variants below place every activation's binary point
    x_cal = calibration_images(ds, cfg.train.seed)
    used = list(activation_outputs(fm, names))  # the layers with an activation quantizer in use

    def per_layer(p):
        return {n: p.layers[n].activation.integer for n in used}

    variants = [(f"{i} integer bit{'s' * (i != 1)} on every layer", calibrate_activations(open_plan, fm, x_cal, uniform=i))
                for i in integers]
    variants.append(("calibrated per layer (auto)", calibrate_activations(open_plan, fm, x_cal)))
    rows = []
    for label, p in variants:
        top1 = accuracy(folded_twin(cfg, p, folded), ds.x_test, ds.y_test)
        rows.append({"variant": label, "top1_before_qat": top1, "integers": per_layer(p)})
        print(f"  {label}: {100 * top1:.2f}%", flush=True)
    return {"config": cfg.name, "images": int(len(ds.y_test)), "float_top1": trained.float_accuracy,
            "activation_bits": sorted({lq.activation.bits for lq in plan.layers.values() if lq.activation}),
            "rows": rows, "config_after_qat": {"top1": trained.qkeras_accuracy, "integers": per_layer(trained.plan)}}


def render(data: dict) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    bits = ", ".join(str(b) for b in data["activation_bits"])
    lines = [f"# Activation integer bits: `{data['config']}`", "",
             "Written by `benchmarks/activation_integers.py`. Top-1 on the "
             f"{data['images']:,} test images, *measured* (Keras/QKeras, before QAT: the folded float weights in the "
             f"QKeras twin with {bits}-bit activations). Float top-1: {pct(data['float_top1'])}.", "",
             "| activations' integer bits | top-1 before QAT | integer bits per layer (min-max) |", "|---|---|---|"]
    for r in data["rows"]:
        ints = [v for v in r["integers"].values()]
        lines.append(f"| {r['variant']} | {pct(r['top1_before_qat'])} | {min(ints)}-{max(ints)} |")
    after = data["config_after_qat"]
    lines += ["", f"The config as written, after its QAT (the flow's trained QKeras model): {pct(after['top1'])}.", "",
              "Per layer, calibrated: " + ", ".join(f"`{n}` {i}" for n, i in data["rows"][-1]["integers"].items()) + "."]
    return "\n".join(lines) + "\n"


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["variant"].replace(" on every layer", "\non every layer") for r in data["rows"]]
    vals = [100 * r["top1_before_qat"] for r in data["rows"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(range(len(vals)), vals, color=["0.6"] * (len(vals) - 1) + ["tab:blue"])
    if data["float_top1"] is not None:
        ax.axhline(100 * data["float_top1"], color="k", lw=0.8, ls="--", label="float model")
        ax.legend(loc="lower right")
    ax.set_xticks(range(len(vals)), labels, fontsize=7)
    ax.set_ylim(max(0.0, min(vals) - 5), 100)
    ax.set_ylabel(f"top-1 before QAT (%, measured on {data['images']:,} images)")
    ax.set_title(f"{data['config']}: where the activations' binary point goes")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True, help="a zoo-model flow config (hls_configs/<name>.yaml)")
    ap.add_argument("--integers", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="uniform integer bits to compare")
    ap.add_argument("--out", type=Path, help="output stem (default benchmarks/results/activation_integers_<name>)")
    args = ap.parse_args(argv)
    from hwflow.cli import quiet_environment, quiet_stdout
    from hwflow.config import load_config
    from hwflow.errors import ConfigError
    from hwflow.paths import write_report_files

    quiet_environment(verbose=False)
    try:
        cfg = load_config(args.config)
        if cfg.model.file is not None:
            raise ConfigError(f"{args.config}: model.file: activation integer bits are calibrated for zoo models only")
        bad = [i for i in args.integers if not 0 <= i]
        if bad:
            raise ConfigError(f"--integers: {bad}: integer bits must be >= 0")
    except ConfigError as exc:
        print(f"activation_integers: error: {exc}", file=sys.stderr)
        return 2
    with quiet_stdout(False):
        data = measure(cfg, args.integers)
    out = args.out or RESULTS / f"activation_integers_{cfg.name}"
    write_report_files(out.parent, out.name, render(data), data, lambda p: plot(data, p))
    print(f"wrote {out}.md/.json/.png")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
