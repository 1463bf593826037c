"""Ship a config's trained weights: hls_configs/weights/<name>.npz from its cached training (hwflow.shipped).

    .venv/bin/python -m benchmarks.ship_weights --config hls_configs/squeezenet_cifar10_pynq.yaml [--note TEXT]

Run it after `hwflow hls --config ...` trained the config (it trains now when the cache has no entry); the
file holds the float and QKeras weights, the quantization plan and the provenance (training key, epochs,
accuracies, the note: e.g. the firmware top-1 of the parity run). At most 2 MB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--note", default="", help="provenance note (e.g. the firmware top-1 of its parity run)")
    args = ap.parse_args(argv)
    from hwflow import shipped
    from hwflow.config import load_config
    from hwflow.data import load_dataset
    from hwflow.train import _plan_to_json, train

    cfg = load_config(args.config)
    ds = load_dataset(cfg.data, cfg.model.input_shape, cfg.train.seed)
    tm = train(cfg, ds)
    if not tm.from_cache:
        print(f"{cfg.name}: trained now (it was not cached)", file=sys.stderr)
    path = shipped.save(cfg, ds, tm, _plan_to_json(tm.plan), {"note": args.note} if args.note else None)
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
