"""Trained weights shipped with a config, so a fresh clone builds and checks it without retraining.

`hls_configs/weights/<config name>.npz` (one file, numpy arrays and JSON text only: read with
allow_pickle=False) holds the float and QKeras weights of a training, the quantization plan, and its
provenance: the training key it was made under (the config's model / data / train / quantization sections
and a signature of the training images), the epochs, the accuracies it reached and where it came from.

`load(cfg, ds, data_path)` (called by hwflow.train before training) returns the models when the file
exists and its key is the current config's; a file for another config (any of those sections changed, or
other training images) is named in one line and the config is trained from scratch. The test images are
not part of the key: the accuracies are measured again on whatever test images the run has.
`save(cfg, tm, ...)` writes the file from a finished training (`python -m hwflow.shipped --config X`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from hwflow.config import FlowConfig
from hwflow.errors import ConfigError

MAX_BYTES = 2 * 1024 * 1024  # what a repository should carry for one config


def weights_path(cfg: FlowConfig) -> Path:
    return cfg.path.parent / "weights" / f"{cfg.name}.npz"


def train_key(cfg: FlowConfig, ds) -> str:
    """The key a shipped training is valid for: the config's training fingerprint with the training
    images' signature in place of the whole data set's (a held-out test set may change freely)."""
    from hwflow.data import _source_signature

    if cfg.data.source == "default":
        sig = ds.fingerprint  # the embedded digits: the split is part of the config
    else:
        path = Path(cfg.data.path)
        train_dir = path / "train"
        sig = _source_signature(train_dir if train_dir.is_dir() else path)
        sig = hashlib.sha256(repr((sig, tuple(cfg.model.input_shape), cfg.data.max_train, cfg.data.validation,
                                   cfg.train.seed)).encode()).hexdigest()[:16]
    return cfg.fingerprint("shipped", sig)


def load(cfg: FlowConfig, ds):
    """(float model, QKeras model, plan, provenance) from the shipped file, or None (absent, or made for
    another config: one line says so and the caller trains)."""
    path = weights_path(cfg)
    if not path.is_file():
        return None
    from hwflow.train import _plan_from_json, build_models

    try:
        with np.load(path, allow_pickle=False) as z:
            prov = json.loads(str(z["provenance"]))
            if prov.get("train_key") != train_key(cfg, ds):
                print(f"  {path.name}: shipped weights of another training (config sections or training images "
                      f"differ: key {prov.get('train_key')}); training {cfg.name} from scratch", flush=True)
                return None
            plan = _plan_from_json(json.loads(str(z["plan"])))
            float_model, qmodel = build_models(cfg, plan)
            fw = [z[f"float_{i}"] for i in range(int(z["n_float"]))]
            qw = [z[f"qkeras_{i}"] for i in range(int(z["n_qkeras"]))]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: not a readable shipped-weights file ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:160]}); remove it to train from scratch") from None
    float_model.set_weights(fw)
    qmodel.set_weights(qw)
    return float_model, qmodel, plan, prov


def save(cfg: FlowConfig, ds, tm, extra: dict | None = None) -> Path:
    """Write the shipped-weights file of a finished training `tm` (hwflow.train.TrainedModels)."""
    from hwflow.paths import write_text_atomic  # noqa: F401 (the folder is made below; np.savez writes once)
    from hwflow.train import _plan_to_json

    path = weights_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    prov = {"config": cfg.name, "train_key": train_key(cfg, ds), "config_fingerprint": cfg.fingerprint(),
            "epochs": cfg.train.epochs, "qat_epochs": cfg.train.qat_epochs,
            "float_accuracy": tm.float_accuracy, "qkeras_accuracy": tm.qkeras_accuracy,
            "train_images": int(len(ds.x_train)), "test_images": int(len(ds.x_test)), **(extra or {})}
    arrays = {"provenance": np.array(json.dumps(prov)), "plan": np.array(json.dumps(_plan_to_json(tm.plan)))}
    fw, qw = tm.float_model.get_weights(), tm.qmodel.get_weights()
    arrays.update({f"float_{i}": w for i, w in enumerate(fw)})
    arrays.update({f"qkeras_{i}": w for i, w in enumerate(qw)})
    arrays["n_float"], arrays["n_qkeras"] = np.array(len(fw)), np.array(len(qw))
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        tmp.unlink()
        raise ConfigError(f"{path}: {size / 1e6:.2f} MB is over the {MAX_BYTES / 1e6:.1f} MB a shipped weights file "
                          f"may have")
    tmp.replace(path)
    return path


def main(argv=None) -> int:
    """python -m hwflow.shipped --config hls_configs/X.yaml [--note TEXT]: ship X's cached training."""
    ap = argparse.ArgumentParser(description="write hls_configs/weights/<name>.npz from a config's cached training")
    ap.add_argument("--config", required=True)
    ap.add_argument("--note", default="", help="provenance note (e.g. the firmware top-1 of its parity run)")
    args = ap.parse_args(argv)
    from hwflow.config import load_config
    from hwflow.data import load_dataset
    from hwflow.train import train

    cfg = load_config(args.config)
    ds = load_dataset(cfg.data, cfg.model.input_shape, cfg.train.seed)
    tm = train(cfg, ds)
    if not tm.from_cache:
        print(f"{cfg.name}: trained now (it was not cached)", file=sys.stderr)
    path = save(cfg, ds, tm, {"note": args.note} if args.note else None)
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
