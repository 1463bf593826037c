"""Saved Keras/QKeras model files at the input edge (with hwflow.guard), read without Keras first.

- `check_model_file`: a regular file whose stored model config (JSON) is well formed (a mapping
  with `class_name` and `config`, `layers` a list of layer mappings), holds no Python code
  (Lambda layers), has one input and one output, and only layers the flow can build (hls4ml 1.3.0
  image CNNs: SUPPORTED_LAYERS); each refusal is one line naming the layer and its class, before
  Keras deserializes anything and before any file is written.
- `model: {file: ...}` of a config (`file_info`): the file (relative to the config's folder), its
  content hash and its input shape, within the input-size limits of hwflow.guard.
- `load_model_file`: Keras' load_model after the checks (`.keras` with safe_mode).
What the flow does with the model is hwflow.usermodel (which imports the training code; this does not)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from typing import Any

from hwflow.errors import ConfigError
from hwflow.guard import MAX_YAML_BYTES, check_input_shape, regular_file, show

SUFFIXES = (".h5", ".keras")


@dataclass(frozen=True)
class FileInfo:
    path: Path
    sha256: str
    input_shape: tuple[int, int, int]


# ----------------------------------------------------------------------------- the stored config

_MODEL_CLASSES = {"Functional", "Sequential", "Model"}
_CODE_LAYERS = {"Lambda"}  # layers whose config carries Python code (marshalled bytecode / a function)
# Layers the flow builds (hls4ml 1.3.0 converts them and hwflow.estimate / the emulator know them):
# Keras image-CNN layers, their QKeras twins and hwflow's own (hwflow.hls_ext). Anything else
# (Conv3D, LSTM, MultiHeadAttention, a custom layer) is refused up front, naming the layer.
SUPPORTED_LAYERS = frozenset("""
    InputLayer Dense Conv1D Conv2D DepthwiseConv1D DepthwiseConv2D SeparableConv1D SeparableConv2D
    MaxPooling1D MaxPooling2D AveragePooling1D AveragePooling2D GlobalAveragePooling1D GlobalAveragePooling2D
    GlobalMaxPooling1D GlobalMaxPooling2D Activation ReLU LeakyReLU ELU PReLU ThresholdedReLU Softmax
    Add Subtract Multiply Average Maximum Minimum Concatenate BatchNormalization
    ZeroPadding1D ZeroPadding2D Cropping1D Cropping2D UpSampling1D UpSampling2D Reshape Flatten Permute
    Dropout SpatialDropout1D SpatialDropout2D GaussianNoise GaussianDropout AlphaDropout ActivityRegularization
    QDense QConv1D QConv2D QDepthwiseConv2D QSeparableConv1D QSeparableConv2D QActivation QBatchNormalization
    QConv2DBatchnorm QDepthwiseConv2DBatchnorm QAveragePooling2D QGlobalAveragePooling2D
    ChannelShuffle ChannelSlice
""".split())
_SHOWN_SUPPORTED = ("Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, BatchNormalization, pooling, ReLU/Activation, "
                    "Add/Concatenate, ZeroPadding2D, Reshape/Flatten, Dropout, their QKeras twins and hwflow's "
                    "ChannelShuffle/ChannelSlice")


def config_dicts(o):
    """Every mapping in a Keras model config (the JSON tree of layers, nested models, initialisers), depth first."""
    stack = [o]
    while stack:  # iterative: a config nested thousands deep must not hit Python's recursion limit
        o = stack.pop()
        if isinstance(o, dict):
            yield o
            stack.extend(reversed(list(o.values())))
        elif isinstance(o, list):
            stack.extend(reversed(o))


def _model_config(path: Path) -> Any:
    """The stored model config (JSON) of a .h5 or .keras file, read without Keras."""
    path = regular_file(path, "Keras model file (.h5 / .keras)", flag="--keras")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                with z.open("config.json") as f:
                    return json.loads(f.read(MAX_YAML_BYTES * 4))
        except (KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ConfigError(f"--keras: {show(path)}: a .keras archive without a readable config.json "
                              f"({show(exc)})") from None
    try:
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError:
        raise ConfigError(f"--keras: {show(path)} is not a Keras model file (neither .keras zip nor HDF5)") from None
    if raw is None:
        raise ConfigError(f"--keras: {show(path)}: an HDF5 file without a model_config (weights only?); "
                          f"save the whole model (model.save)")
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, TypeError):
        raise ConfigError(f"--keras: {show(path)}: its model_config is not JSON") from None


def _layers(model: Any, where: str) -> list[dict]:
    """Every layer mapping of a model config, nested models included; a malformed config is a ConfigError."""
    out, todo = [], [(model, "model")]
    while todo:
        m, at = todo.pop()
        if not isinstance(m, dict) or not isinstance(m.get("class_name"), str):
            raise ConfigError(f"{where}: malformed model config: {at} is {show(type(m).__name__)}, expected a mapping "
                              f"with 'class_name' and 'config' (save the model with model.save)")
        conf = m.get("config")
        if m["class_name"] in _MODEL_CLASSES:
            layers = conf if m["class_name"] == "Sequential" and isinstance(conf, list) else (
                conf.get("layers") if isinstance(conf, dict) else None)
            if not isinstance(layers, list):
                got = type(conf).__name__ if not isinstance(conf, dict) else type(layers).__name__
                raise ConfigError(f"{where}: malformed model config: {at}'s "
                                  f"{'config' if not isinstance(conf, dict) else 'layers'} is {got}, expected "
                                  f"{'a mapping' if not isinstance(conf, dict) else 'a list of layers'}")
            for i, layer in enumerate(layers):
                if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str) \
                        or not isinstance(layer.get("config"), dict):
                    raise ConfigError(f"{where}: malformed model config: layer {i} of {at} is not a mapping with "
                                      f"'class_name' and 'config' (got {show(layer, 60)})")
                if layer["class_name"] in _MODEL_CLASSES:
                    todo.append((layer, f"nested model {show(layer['config'].get('name'))!r}"))
                else:
                    out.append(layer)
        elif not isinstance(conf, dict):
            raise ConfigError(f"{where}: malformed model config: {at}'s config is {type(conf).__name__}, expected a mapping")
        else:
            out.append(m)
    return out


def _ports(conf: dict, key: str) -> int:
    """How many inputs/outputs a Functional config names (one port may be written flat: [name, 0, 0])."""
    ports = (conf.get("config") or {}).get(key) if isinstance(conf.get("config"), dict) else None
    if not isinstance(ports, list) or not ports:
        return 1
    return 1 if isinstance(ports[0], str) else len(ports)


def check_model_file(path: Path, flag: str = "--keras", one_input: bool = True) -> str:
    """Refuse a model file the flow cannot take, before anything deserializes it. Returns its format.
    `one_input` False (the benchmarks' rebuilds of other people's hls4ml designs, e.g. a network with an
    auxiliary input): any number of inputs and outputs; every safety and layer check still applies."""
    if Path(path).is_dir():
        raise ConfigError(f"{flag}: {show(path)} is a folder (a TensorFlow SavedModel?), not a model file; valid: a "
                          f".h5 or .keras file (model.save('model.keras'))")
    path = regular_file(path, "Keras model file (.h5 / .keras)", flag=flag)
    where = f"{flag}: {show(path)}"
    conf = _model_config(path)
    layers = _layers(conf, where)
    found = [f"{show(o['config'].get('name', o['class_name']))} ({show(o['class_name'])})"
             for o in config_dicts(conf) if isinstance(o.get("config"), dict)
             and (o.get("class_name") in _CODE_LAYERS or "function_type" in o["config"])]
    if found:
        raise ConfigError(f"{where}: refused: layer {found[0]} holds Python code that would run while loading"
                          f"{f' (and {len(found) - 1} more)' if len(found) > 1 else ''}; "
                          f"replace Lambda layers with built-in or QKeras layers")
    bad = [o for o in layers if o["class_name"] not in SUPPORTED_LAYERS]
    if bad:
        o = bad[0]
        raise ConfigError(f"{where}: layer {show(o['config'].get('name', '?'))!r} ({show(o['class_name'])}) is not "
                          f"supported by hwflow{f' (and {len(bad) - 1} more)' if len(bad) > 1 else ''}; valid: "
                          f"{_SHOWN_SUPPORTED}")
    for key, what in (("input_layers", "inputs"), ("output_layers", "outputs")):
        n = _ports(conf, key)
        if n != 1 and one_input:
            raise ConfigError(f"{where}: a model with {n} {what}; valid: one image input and one output (logits)")
    return "keras" if zipfile.is_zipfile(path) else "h5"


def file_info(raw: dict, where: str, base: Path) -> FileInfo:
    """`model: {file: ...}` of a config: the file (relative to the config's folder), its hash and
    input shape, read without Keras (hwflow.guard reads the stored model config as JSON)."""
    if not isinstance(raw, dict) or set(raw) != {"file"}:
        extra = sorted(set(raw) - {"file"}) if isinstance(raw, dict) else []
        raise ConfigError(f"{where}: unknown key {extra[0]!r} next to 'file'; valid keys: file (the rest comes "
                          f"from the model file)" if extra else f"{where}: expected {{file: path/to/model.h5}}")
    src = raw["file"]
    if not isinstance(src, str) or not src:
        raise ConfigError(f"{where}.file: expected the path of a .h5 or .keras model file, got {src!r}")
    path = Path(src) if Path(src).is_absolute() else (base / src).resolve()
    if not path.exists():
        raise ConfigError(f"{where}.file: {show(src)!r} does not exist (resolved to {show(path)}); "
                          f"valid: a saved Keras/QKeras model ({', '.join(SUFFIXES)}), relative to the config")
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"{where}.file: {show(src)!r} is not a model file; valid: {', '.join(SUFFIXES)}")
    try:
        check_model_file(path, f"{where}.file")
        conf = _model_config(path)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--keras:", f"{where}.file:", 1)) from None
    except OSError as exc:
        raise ConfigError(f"{where}.file: {path} cannot be read ({exc.strerror or exc})") from None
    shape = _input_shape(conf)
    if shape is None or len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        raise ConfigError(f"{where}.file: {show(path.name)}: input shape {show(shape)}; valid: one image input "
                          f"[height, width, channels] of fixed size")
    check_input_shape(shape, f"{where}.file: {show(path.name)}: input shape")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return FileInfo(path, digest, tuple(shape))


def _input_shape(conf) -> list | None:
    """The first InputLayer's shape (without the batch) of a stored model config."""
    c = conf.get("config") if isinstance(conf, dict) else None
    layers = c.get("layers") if isinstance(c, dict) else None
    for layer in layers if isinstance(layers, list) else []:
        lc = layer.get("config") if isinstance(layer, dict) else None
        shape = (lc.get("batch_input_shape") or lc.get("batch_shape")) if isinstance(lc, dict) else None
        if shape:
            return list(shape[1:]) if isinstance(shape, list) else None
    shape = c.get("build_input_shape") if isinstance(c, dict) else None
    return list(shape[1:]) if isinstance(shape, list) else None


# ------------------------------------------------------------------------------ loading


def load_model_file(path: Path, one_input: bool = True):
    """A saved Keras/QKeras model, after check_model_file; `.keras` with Keras' safe_mode on."""
    path = Path(path)
    fmt = check_model_file(path, one_input=one_input)
    import tensorflow as tf
    from qkeras.utils import _add_supported_quantized_objects

    from hwflow.hls_ext.keras_layers import CUSTOM_OBJECTS

    objects: dict = dict(CUSTOM_OBJECTS)
    _add_supported_quantized_objects(objects)
    kw = {"safe_mode": True} if fmt == "keras" else {}
    try:
        try:
            return tf.keras.models.load_model(path, custom_objects=objects, compile=False, **kw)
        except TypeError as exc:
            if fmt != "keras" or "could not be deserialized" not in str(exc):
                raise
            return _load_qkeras_keras(path, objects)
    except Exception as exc:  # noqa: BLE001 - Keras raises OSError/ValueError/TypeError/KeyError for bad files
        msg = " ".join(str(exc).split())[:200]
        raise ConfigError(f"--keras: {show(path)} is not a loadable Keras/QKeras model ({type(exc).__name__}: {msg})") from None


def _load_qkeras_keras(path: Path, objects: dict):
    """A QKeras model in the .keras format (e.g. the keras_model.keras hls4ml writes into a project).

    Keras 2.14 hands QActivation its quantizer as a plain config dict, which QKeras 0.9 cannot take;
    so the (already checked) config has its QKeras quantizer dicts turned into quantizer objects
    (only subclasses of qkeras' BaseQuantizer), the model is rebuilt from it and the weights loaded.
    """
    import qkeras.quantizers as qq
    import tensorflow as tf

    def fix(o):
        if isinstance(o, dict):
            cls = getattr(qq, str(o.get("class_name")), None) if o.get("module") == "qkeras.quantizers" else None
            if isinstance(cls, type) and issubclass(cls, qq.BaseQuantizer) and isinstance(o.get("config"), dict):
                return cls(**o["config"])
            return {k: fix(v) for k, v in o.items()}
        return [fix(v) for v in o] if isinstance(o, list) else o

    conf = fix(_model_config(path))
    with tf.keras.utils.custom_object_scope(objects):
        model = tf.keras.Model.from_config(conf["config"], custom_objects=objects)
    model.load_weights(path)
    return model


