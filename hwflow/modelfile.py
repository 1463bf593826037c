"""`model: {file: ...}` of a config, read without Keras: the file (relative to the config's folder),
its content hash and input shape (hwflow.guard reads the stored model config as JSON). What the
flow does with the model is hwflow.usermodel (which imports the training code; this does not)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hwflow.errors import ConfigError

SUFFIXES = (".h5", ".keras")


@dataclass(frozen=True)
class FileInfo:
    path: Path
    sha256: str
    input_shape: tuple[int, int, int]


def file_info(raw: dict, where: str, base: Path) -> FileInfo:
    """`model: {file: ...}` of a config: the file (relative to the config's folder), its hash and
    input shape, read without Keras (hwflow.guard reads the stored model config as JSON)."""
    from hwflow.guard import _model_config, check_model_file

    if not isinstance(raw, dict) or set(raw) != {"file"}:
        extra = sorted(set(raw) - {"file"}) if isinstance(raw, dict) else []
        raise ConfigError(f"{where}: unknown key {extra[0]!r} next to 'file'; valid keys: file (the rest comes "
                          f"from the model file)" if extra else f"{where}: expected {{file: path/to/model.h5}}")
    src = raw["file"]
    if not isinstance(src, str) or not src:
        raise ConfigError(f"{where}.file: expected the path of a .h5 or .keras model file, got {src!r}")
    path = Path(src) if Path(src).is_absolute() else (base / src).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}.file: {src!r} does not exist (resolved to {path}); "
                          f"valid: a saved Keras/QKeras model ({', '.join(SUFFIXES)}), relative to the config")
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"{where}.file: {src!r} is not a model file; valid: {', '.join(SUFFIXES)}")
    try:
        check_model_file(path)
        conf = _model_config(path)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--keras:", f"{where}.file:", 1)) from None
    except OSError as exc:
        raise ConfigError(f"{where}.file: {path} cannot be read ({exc.strerror or exc})") from None
    shape = _input_shape(conf)
    if shape is None or len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ConfigError(f"{where}.file: {path.name}: input shape {shape}; valid: one image input "
                          f"[height, width, channels] of fixed size")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return FileInfo(path, digest, tuple(shape))


def _input_shape(conf) -> list | None:
    """The first InputLayer's shape (without the batch) of a stored model config."""
    layers = (conf.get("config") or {}).get("layers") if isinstance(conf, dict) else None
    for layer in layers or []:
        c = layer.get("config") or {}
        shape = c.get("batch_input_shape") or c.get("batch_shape")
        if shape:
            return list(shape[1:])
    shape = (conf.get("config") or {}).get("build_input_shape") if isinstance(conf, dict) else None
    return list(shape[1:]) if shape else None
