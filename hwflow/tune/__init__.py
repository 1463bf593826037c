"""Per-layer quantization tuning (`hwflow tune`, `make tune MODEL=... BUDGET=1.0`).

    from hwflow.tune import tune
    result = tune(load_config("hls_configs/squeezenet_cifar10.yaml"), budget=1.0)

Modules: `space` (points, cost, quantizer swapping), `search` (sensitivity, greedy search,
resumable state), `report` (tuned YAML, plots, tune.md), `run` (the `tune` function).
Heavy imports stay inside functions so `hwflow --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path


def tune(cfg, budget: float, **kwargs):
    """See hwflow.tune.run.tune."""
    from hwflow.tune.run import tune as _tune

    return _tune(cfg, budget, **kwargs)


def _bits(text: str) -> list[int]:
    import argparse

    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 6,5,4,3, got {text!r}") from None


def _cmd_tune(args) -> int:
    from hwflow.flow import resolve_config
    from hwflow.tune.run import tune as _tune

    cfg = resolve_config(args)
    r = _tune(cfg, args.budget, slice_images=args.slice, weight_bits=args.weight_bits, act_bits=args.act_bits,
              slack=args.slack, out=args.out, qat=not args.no_qat, hls=args.hls, engine=args.engine)
    for row in r.rows:
        def pct(v):
            return "-" if v is None else f"{100 * v:.2f}%"
        print(f"  {row['label']}: mean weight bits {row['mean_weight_bits']:.2f}, cost {row['cost']:.1f}, "
              f"top-1 float {pct(r.float_acc)} QKeras {pct(row['qkeras'])} C-sim {pct(row.get('csim'))}")
    print(f"  tuned config: {r.yaml_path}\n  report: {r.report_md}")
    if r.within_budget is False:
        print(f"  note: after QAT the drop exceeds the budget of {r.budget:g} points; try --slack 0 or a "
              f"smaller budget")
    return 0


def add_parser(sub) -> None:
    from hwflow.flow import config_arg
    from hwflow.guard import cli_float, cli_int
    from hwflow.tune.run import DEFAULT_ACT_BITS, DEFAULT_WEIGHT_BITS

    p = sub.add_parser("tune", help="per-layer quantization widths within an accuracy budget -> <model>_tuned.yaml")
    config_arg(p)
    p.add_argument("--budget", type=cli_float(-1e-9, 100), default=1.0, help="max top-1 drop vs float, in points (default 1.0)")
    p.add_argument("--slice", type=cli_int(1), default=1000,
                   help="images the search evaluates on: a seeded random subset of the data.validation split "
                        "(of the test split when the config holds none out)")
    p.add_argument("--engine", choices=("auto", "emulate", "qkeras"), default="auto",
                   help="what evaluates each point: auto (QKeras, with the firmware emulator confirming the "
                        "baseline and the chosen point image for image; redone on the emulator if they differ), "
                        "emulate (the firmware for every point: an hls4ml conversion each), qkeras (no check)")
    p.add_argument("--weight-bits", type=_bits, default=list(DEFAULT_WEIGHT_BITS),
                   help="candidate weight widths (default %(default)s)")
    p.add_argument("--act-bits", type=_bits, default=list(DEFAULT_ACT_BITS),
                   help="candidate activation widths (default %(default)s)")
    p.add_argument("--slack", type=cli_float(-1e-9, 100), default=0.0,
                   help="extra points the no-retraining search may lose, for QAT to recover (default 0)")
    p.add_argument("--out", type=Path, help="tuned YAML (default: hls_configs/<model>_tuned.yaml beside the config)")
    p.add_argument("--no-qat", action="store_true", help="skip the QAT fine-tuning of the final choice")
    p.add_argument("--hls", action="store_true", help="also run the tuned config through convert + C-sim parity")
    p.set_defaults(func=_cmd_tune)
