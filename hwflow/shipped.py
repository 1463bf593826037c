"""Trained weights shipped with a config, so a fresh clone builds and checks it without retraining.

`hls_configs/weights/<config name>.npz` (one file, numpy arrays and JSON text only: read with
allow_pickle=False) holds the float and QKeras weights of a training, the quantization plan, and its
provenance: the training key it was made under (the config's model / data / train / quantization sections
and a signature of the training images), the epochs, the accuracies it reached and where it came from.

`load(cfg, ds, data_path)` (called by hwflow.train before training) returns the models when the file
exists and its key is the current config's; a file for another config (any of those sections changed, or
other training images) is named in one line and the config is trained from scratch, or from the float
weights in the file when they are those after one of the config's float training cycles (`seed_float`: the
config has gained a warm restart, or only its QAT or quantization changed). The test images are not part
of the keys: the accuracies are measured again on whatever test images the run has.
`save(cfg, ds, tm, plan)` writes the file from a finished training (`python -m benchmarks.ship_weights
--config X`). This module builds no model (hwflow.train does, from what `load` returns).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from hwflow.config import FlowConfig
from hwflow.errors import ConfigError

MAX_BYTES = 2 * 1024 * 1024  # what a repository should carry for one config


def weights_path(cfg: FlowConfig) -> Path:
    return cfg.path.parent / "weights" / f"{cfg.name}.npz"


def _train_signature(cfg: FlowConfig, ds) -> str:
    """The training images' signature (with what selects them), in place of the whole data set's: a
    held-out test set may change freely."""
    from hwflow.data import _source_signature

    if cfg.data.source == "default":
        return ds.fingerprint  # the embedded digits: the split is part of the config
    path = Path(cfg.data.path)
    train_dir = path / "train"
    sig = _source_signature(train_dir if train_dir.is_dir() else path)
    return hashlib.sha256(repr((sig, tuple(cfg.model.input_shape), cfg.data.max_train, cfg.data.validation,
                                cfg.train.seed)).encode()).hexdigest()[:16]


def train_key(cfg: FlowConfig, ds) -> str:
    """The key a shipped training is valid for: the config's training fingerprint on the training images'
    signature."""
    return cfg.fingerprint("shipped", _train_signature(cfg, ds))


def float_cycle_keys(cfg: FlowConfig, ds) -> list[str]:
    """The keys of the float weights after each float training cycle (FlowConfig.float_cycle_fingerprints)
    on the training images' signature: a shipped file's float weights continue any config whose cycles
    begin with the ones they were trained with (`seed_float`)."""
    return cfg.float_cycle_fingerprints("shipped", _train_signature(cfg, ds))


def seed_float(cfg: FlowConfig, ds) -> tuple[int, list[np.ndarray]] | None:
    """(cycle index, float weights) when the shipped file of this config name holds the float weights
    after one of `cfg`'s float training cycles (e.g. the config has since gained a warm restart: the new
    cycle starts from the shipped weights instead of retraining the earlier ones), else None."""
    path = weights_path(cfg)
    if not path.is_file():
        return None
    keys = float_cycle_keys(cfg, ds)
    try:
        with np.load(path, allow_pickle=False) as z:
            key = json.loads(str(z["provenance"])).get("float_key")
            if key not in keys:
                return None
            return keys.index(key), [z[f"float_{i}"] for i in range(int(z["n_float"]))]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: not a readable shipped-weights file ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:160]}); remove it to train from scratch") from None


def load(cfg: FlowConfig, ds):
    """(plan as written, float weights, QKeras weights, provenance) from the shipped file, or None (absent,
    or made for another config: one line says so and the caller trains)."""
    path = weights_path(cfg)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            prov = json.loads(str(z["provenance"]))
            if prov.get("train_key") != train_key(cfg, ds):
                print(f"  {path.name}: shipped weights of another training (config sections or training images "
                      f"differ: key {prov.get('train_key')}); training {cfg.name} (from scratch, or from the "
                      f"cached or shipped stages it shares)", flush=True)
                return None
            plan = json.loads(str(z["plan"]))
            fw = [z[f"float_{i}"] for i in range(int(z["n_float"]))]
            qw = [z[f"qkeras_{i}"] for i in range(int(z["n_qkeras"]))]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: not a readable shipped-weights file ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:160]}); remove it to train from scratch") from None
    return plan, fw, qw, prov


def save(cfg: FlowConfig, ds, tm, plan: dict, extra: dict | None = None) -> Path:
    """Write the shipped-weights file of a finished training `tm` (hwflow.train.TrainedModels; `plan`: its
    quantization plan as hwflow.train writes it to plan.json)."""
    path = weights_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    prov = {"config": cfg.name, "train_key": train_key(cfg, ds), "config_fingerprint": cfg.fingerprint(),
            "epochs": cfg.train.epochs, "qat_epochs": cfg.train.qat_epochs,
            "restarts": [{"epochs": e, "learning_rate": lr} for e, lr in cfg.train.restarts],
            "optimizer": str(cfg.train.optimizer), "weight_decay": cfg.train.weight_decay,
            # the float weights are those of the last float cycle unless pruning or another config's
            # QAT weights came after it: only then may they seed a longer training (seed_float)
            "float_key": (float_cycle_keys(cfg, ds)[-1]
                          if cfg.prune.written is None and cfg.train.init_from is None else None),
            "float_accuracy": tm.float_accuracy, "qkeras_accuracy": tm.qkeras_accuracy,
            "train_images": int(len(ds.x_train)), "test_images": int(len(ds.x_test)), **(extra or {})}
    arrays = {"provenance": np.array(json.dumps(prov)), "plan": np.array(json.dumps(plan))}
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
