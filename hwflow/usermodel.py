"""A user's own model file through the flow: `model: {file: path/to/model.h5 | model.keras}`.

- A QKeras model is taken as it is (its quantizers are the hardware's).
- A plain Keras (float) model gets a QKeras twin from the config's `quantization:` section, in
  the zoo's form: BatchNormalization folded into the Conv2D / DepthwiseConv2D / Dense before it
  (hwflow.zoo.layers.fold_layer, the zoo's one folding rule), integer bits of weights/biases
  resolved on the folded weights (hwflow.train.resolve_plan), ReLU -> quantized_relu, ReLU(6) /
  relu6 -> quantized_relu(relu_upper_bound=6, is_quantized_clip=False) (hwflow.hls_ext makes it the
  exact BoundedReLU; never an unbounded ReLU), a linear kernel output quantized like the zoo's
  projections (`<layer>_q`). QAT on `data:` for `train.epochs` epochs when data is given and
  epochs > 0 (the float model in the file is never retrained), else the twin takes the float weights.
- A trailing softmax is cut off both models: it runs on the host, parity compares logits.

qkeras.utils.model_quantize is not used: it keeps BatchNormalization as its own layer (or fuses it
into QConv2DBatchnorm, which folds at run time), takes its own quantizer dictionary instead of the
config's per-layer plan, and turns ReLU(6) into quantizers without the upper bound; the twin here is
the same folded form hwflow's zoo twins have, so convert and parity treat both alike.
"""

from __future__ import annotations

from pathlib import Path

from hwflow.errors import ConfigError
from hwflow.modelfile import SUFFIXES
Q_SUFFIX = "_q"
_PASSTHROUGH = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "ActivityRegularization")
_LOADED: dict = {}  # (path, mtime, size) -> (float model with the softmax cut, softmax layer name or None)


# ------------------------------------------------------------------------------- the config


def _class_names(conf) -> set[str]:
    from hwflow.modelfile import config_dicts

    return {o["class_name"] for o in config_dicts(conf) if isinstance(o.get("class_name"), str) and "config" in o}


def custom_objects() -> dict:
    """What a model file may hold besides Keras: QKeras's objects and hwflow's own layers."""
    from qkeras.utils import _add_supported_quantized_objects

    from hwflow.hls_ext.keras_layers import CUSTOM_OBJECTS

    objects: dict = dict(CUSTOM_OBJECTS)
    _add_supported_quantized_objects(objects)
    return objects


# ------------------------------------------------------------------------------ the models


def load(cfg):
    """The file's model with a trailing softmax cut off, and that softmax's name (None: none)."""
    path = cfg.model.file
    key = (str(path), path.stat().st_mtime_ns, cfg.model.file_sha256)
    if key not in _LOADED:
        model = _load_file(cfg, path)
        _LOADED.clear()
        _LOADED[key] = cut_softmax(model)
    return _LOADED[key]


def _load_file(cfg, path: Path):
    import tensorflow as tf

    from hwflow.modelfile import _model_config, load_model_file

    where = f"{cfg.path}: model.file"
    conf = _model_config(path)
    known = set(custom_objects()) | {n for n in dir(tf.keras.layers) if n[:1].isupper()}
    known |= {"Functional", "Sequential", "Model", "InputLayer", "TFOpLambda", "SlicingOpLambda"}
    unknown = sorted(n for n in _class_names(conf) - known if not n.startswith("__") and not _is_keras_object(n))
    if unknown:
        raise ConfigError(f"{where}: {path.name}: unknown custom objects: {', '.join(unknown)}; valid: Keras, "
                          f"QKeras and hwflow's layers ({', '.join(sorted(custom_objects_hwflow()))})")
    try:
        model = load_model_file(path)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--keras:", f"{where}:", 1)) from None
    if any(type(l).__name__ in ("Functional", "Sequential") for l in model.layers):
        raise ConfigError(f"{where}: {path.name}: a model nested inside the model; valid: one flat model "
                          f"(build it with the inner model's layers)")
    if isinstance(model, tf.keras.Sequential):
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def custom_objects_hwflow() -> set[str]:
    from hwflow.hls_ext.keras_layers import CUSTOM_OBJECTS

    return set(CUSTOM_OBJECTS)


def _is_keras_object(name: str) -> bool:
    """Initializers, regularizers, constraints, optimizers named in a config (not layers)."""
    import tensorflow as tf

    return any(hasattr(mod, name) for mod in (tf.keras.initializers, tf.keras.regularizers, tf.keras.constraints,
                                              tf.keras.optimizers, tf.keras.losses, tf.keras.metrics))


def is_qkeras(model) -> bool:
    return any(type(l).__module__.startswith("qkeras") for l in model.layers)


def _is_softmax(layer) -> bool:
    act = getattr(getattr(layer, "activation", None), "__name__", "")
    return type(layer).__name__ == "Softmax" or act == "softmax"


def cut_softmax(model):
    """(model, name of the trailing softmax or None): the model ends at the logits."""
    import tensorflow as tf

    last = model.layers[-1]
    if len(model.outputs) != 1 or not _is_softmax(last):
        return model, None
    if type(last).__name__ in ("Softmax", "Activation"):
        return tf.keras.Model(model.inputs, last.input, name=model.name), last.name
    # a kernel layer with activation="softmax": the same graph with that layer linear
    return rebuild(model, lambda layer, x: _copy(layer, x, activation="linear") if layer is last else None), last.name


def _copy(layer, x, **changes):
    """A new layer of the same class and config (with `changes`), called on x, with the same weights."""
    new = type(layer).from_config({**layer.get_config(), **changes})
    y = new(x)
    new.set_weights(layer.get_weights())
    return y


def rebuild(model, make):
    """The model's graph rebuilt layer by layer: `make(layer, inputs)` returns the new output tensor,
    or None for a copy of the layer; `make` may return its inputs (the layer is dropped)."""
    import tensorflow as tf

    new: dict[int, object] = {}
    inputs = [tf.keras.Input(t.shape[1:], name=t.name.split(":")[0]) for t in model.inputs]
    for old, t in zip(model.inputs, inputs):
        new[id(old)] = t
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        if len(layer._inbound_nodes) != 1:
            raise ConfigError(f"layer {layer.name!r} is used {len(layer._inbound_nodes)} times (shared); "
                              f"valid: each layer called once")
        src = layer.input
        x = [new[id(t)] for t in src] if isinstance(src, list) else new[id(src)]
        y = make(layer, x)
        new[id(layer.output)] = _copy(layer, x) if y is None else y
    return tf.keras.Model(inputs, [new[id(t)] for t in model.outputs][0], name=model.name)


# --------------------------------------------------------------------------- the QKeras twin


def _consumers(model) -> dict[str, list]:
    """Layer name -> the layers that take its output."""
    out: dict[str, list] = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        src = layer.input
        for t in src if isinstance(src, list) else [src]:
            out.setdefault(_producer(t).name, []).append(layer)
    return out


def _producer(tensor):
    return tensor._keras_history.layer


def bn_pairs(model) -> dict[str, object]:
    """Kernel layer name -> the BatchNormalization right after it (its only consumer, no activation
    between): the BNs that fold."""
    from hwflow.zoo.layers import KERNEL_LAYERS

    users = _consumers(model)
    out = {}
    for layer in model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        prev = _producer(layer.input)
        act = getattr(getattr(prev, "activation", None), "__name__", "linear")
        if type(prev).__name__ in KERNEL_LAYERS and act == "linear" and len(users.get(prev.name, [])) == 1:
            out[prev.name] = layer
    return out


def folded_weights(model) -> dict:
    """Kernel layer name -> [kernel, bias] with its BN folded in (hwflow.zoo.layers.fold_layer)."""
    from hwflow.zoo.layers import KERNEL_LAYERS, fold_layer

    pairs = bn_pairs(model)
    return {l.name: fold_layer(l, pairs.get(l.name)) for l in model.layers if type(l).__name__ in KERNEL_LAYERS}


def _relu_bound(layer) -> tuple[bool, float | None] | None:
    """(is a ReLU, its upper bound or None) for a ReLU-like layer; None for anything else."""
    cls = type(layer).__name__
    if cls == "ReLU":
        if float(layer.negative_slope) != 0 or float(layer.threshold) != 0:
            raise ConfigError(f"layer {layer.name!r}: ReLU(negative_slope={float(layer.negative_slope):g}, "
                              f"threshold={float(layer.threshold):g}) has no QKeras twin; valid: ReLU() or ReLU(6)")
        return True, None if layer.max_value is None else float(layer.max_value)
    act = getattr(getattr(layer, "activation", None), "__name__", None)
    if cls == "Activation" and act in ("relu", "relu6"):
        return True, 6.0 if act == "relu6" else None
    return None


def _act_quantizer(spec, bound: float | None, name: str):
    import qkeras

    if bound is None:
        return spec.build()
    if bound != int(bound) or 2 ** spec.integer < bound:
        raise ConfigError(f"layer {name!r}: ReLU bound {bound:g} with activation {spec}: needs an integer bound "
                          f"and quantization activation_integer >= {(int(bound) - 1).bit_length()}")
    # the exact bounded ReLU (hwflow.hls_ext.BoundedReLU in the firmware), as the zoo's Ops.relu6
    return qkeras.quantized_relu(spec.bits, spec.integer, relu_upper_bound=int(bound), is_quantized_clip=False)


def twin(cfg, float_model, plan):
    """The QKeras twin of a float model (same layer names; folded BNs gone; see the module doc)."""
    import qkeras
    from tensorflow import keras

    from hwflow.zoo.layers import KERNEL_LAYERS
    from hwflow.zoo.quant import spec_from_value

    pairs = bn_pairs(float_model)
    folded_bn = {bn.name: k for k, bn in pairs.items()}
    q = cfg.quantization.default
    default_act = spec_from_value(q.activation, role="activation", where=f"{cfg.path}: quantization.default.activation",
                                  integer=q.activation_integer)
    owner: dict[str, str] = {}  # tensor producer -> the kernel layer whose activation spec applies
    linear_q = _linear_outputs(float_model, pairs)

    def act_spec(layer):
        src = _producer(layer.input) if not isinstance(layer.input, list) else None
        k = owner.get(src.name) if src is not None else None
        return plan.get(k).activation if k else default_act

    def make(layer, x):
        cls = type(layer).__name__
        c = layer.get_config()
        if cls in KERNEL_LAYERS:
            lq = plan.get(layer.name)
            common = dict(name=layer.name, use_bias=True, bias_quantizer=lq.bias.build())
            if cls == "Conv2D":
                if c.get("groups", 1) != 1:
                    raise ConfigError(f"layer {layer.name!r}: grouped Conv2D (groups={c['groups']}) has no QKeras twin")
                new = qkeras.QConv2D(c["filters"], c["kernel_size"], strides=c["strides"], padding=c["padding"],
                                     dilation_rate=c["dilation_rate"], kernel_quantizer=lq.weight.build(), **common)
            elif cls == "DepthwiseConv2D":
                new = qkeras.QDepthwiseConv2D(c["kernel_size"], strides=c["strides"], padding=c["padding"],
                                              depth_multiplier=c["depth_multiplier"], dilation_rate=c["dilation_rate"],
                                              depthwise_quantizer=lq.weight.build(), **common)
            elif cls == "Dense":
                new = qkeras.QDense(c["units"], kernel_quantizer=lq.weight.build(), **common)
            else:  # already a QKeras layer: is_qkeras models are taken as they are, never twinned
                raise ConfigError(f"layer {layer.name!r}: a {cls} in a float model; save the model either all Keras "
                                  f"or as a QKeras model")
            y = new(x)
            owner[layer.name] = layer.name
            act = c.get("activation", "linear")
            if act in ("relu", "relu6"):
                y = qkeras.QActivation(_act_quantizer(lq.activation, 6.0 if act == "relu6" else None, layer.name),
                                       name=f"{layer.name}_relu")(y)
            elif act != "linear":
                raise ConfigError(f"layer {layer.name!r}: activation {act!r} has no exact QKeras twin here; valid: "
                                  f"linear, relu, relu6 (or a QKeras model file)")
            elif layer.name in linear_q:
                spec = lq.activation
                y = qkeras.QActivation(qkeras.quantized_bits(spec.bits, spec.integer, alpha=1),
                                       name=layer.name + Q_SUFFIX)(y)
            return y
        if cls == "BatchNormalization":
            if layer.name not in folded_bn:
                raise ConfigError(f"layer {layer.name!r}: BatchNormalization that does not directly follow a "
                                  f"Conv2D/DepthwiseConv2D/Dense cannot be folded; valid: BN right after one")
            owner[layer.name] = folded_bn[layer.name]
            return x
        relu = _relu_bound(layer)
        if relu is not None:
            spec = act_spec(layer)
            return qkeras.QActivation(_act_quantizer(spec, relu[1], layer.name), name=layer.name)(x)
        if cls == "Activation" and c.get("activation") == "linear":
            return x
        if cls == "Activation" or _is_softmax(layer):
            raise ConfigError(f"layer {layer.name!r}: activation {c.get('activation', cls)!r} has no exact QKeras "
                              f"twin; valid: linear, relu, relu6 (a softmax only at the end: it goes to the host)")
        if cls in _PASSTHROUGH or cls in ("ZeroPadding2D", "Reshape", "Flatten", "MaxPooling2D",
                                           "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            src = layer.input if not isinstance(layer.input, list) else None
            if src is not None and _producer(src).name in owner:
                owner[layer.name] = owner[_producer(src).name]
        return None

    return rebuild(float_model, make)


def _linear_outputs(model, pairs: dict) -> set[str]:
    """Kernel layers with a linear output that no ReLU follows (through their folded BN), but the
    logits: they get the zoo's `linear_q` (Ops.linear_q), a QActivation(quantized_bits) that keeps
    hls4ml's result type of that layer narrow."""
    from hwflow.zoo.layers import kernel_layer_names

    users = _consumers(model)
    kernels = kernel_layer_names(model)
    out = set()
    for name in kernels[:-1]:
        layer = model.get_layer(name)
        if getattr(getattr(layer, "activation", None), "__name__", "linear") != "linear":
            continue
        end = pairs[name].name if name in pairs else name
        if not any(_relu_bound(u) is not None for u in users.get(end, [])):
            out.add(name)
    return out


# ------------------------------------------------------------ hwflow.train's entry points


def float_model_of(cfg):
    return load(cfg)[0]


def build_models(cfg, plan=None):
    """(float model, QKeras twin or None): hwflow.train.build_models for a model file. A QKeras file
    is its own twin (its quantizers are kept; `plan` does not apply)."""
    model = float_model_of(cfg)
    if is_qkeras(model):
        return model, model
    return model, None if plan is None else _twin_checked(cfg, model, plan)


def _twin_checked(cfg, model, plan):
    try:
        return twin(cfg, model, plan)
    except ConfigError as exc:
        raise ConfigError(f"{cfg.path}: model.file {cfg.model.file.name}: {exc}") from None


def untrained_models(cfg, resolve_plan):
    """(float, QKeras twin with the folded float weights, plan): no data, no QAT. `resolve_plan`:
    hwflow.train's (given by it: this module does not import the training code)."""
    from hwflow.zoo.layers import kernel_layer_names
    from hwflow.zoo.quant import QuantPlan

    model = float_model_of(cfg)
    if is_qkeras(model):
        return model, model, QuantPlan()
    folded = folded_weights(model)
    plan = resolve_plan(cfg.quant_plan(kernel_layer_names(model)), folded)
    qmodel = _twin_checked(cfg, model, plan)
    for name, weights in folded.items():
        qmodel.get_layer(name).set_weights(weights)
    return model, qmodel, plan


def describe(cfg) -> str:
    """One line for the models stage: what was taken from the file."""
    model, softmax = load(cfg)
    kind = "QKeras model, taken as it is" if is_qkeras(model) else "Keras float model -> QKeras twin (BN folded)"
    cut = f"; trailing softmax {softmax!r} runs on the host: parity compares logits" if softmax else ""
    return f"  model file {cfg.model.file.name}: {kind}{cut}"


# ------------------------------------------------------------------------ `hls --keras`


def shorthand_config(model_file: Path, *, data: str | None = None, board: str | None = None):
    """The config `hwflow hls --keras FILE` runs: (FlowConfig validated in memory, write) where
    `write()` writes it to build/<stem>/<stem>.yaml (to `hwflow csim/synth/tune --config` it later)
    and returns its path. Nothing is written here: a bad model file, data path or board is refused
    before build/<stem>/ holds anything."""
    import os

    import yaml

    from hwflow.config import config_from_dict
    from hwflow.modelfile import check_model_file
    from hwflow.paths import ModelPaths, write_text_atomic

    check_model_file(Path(model_file))  # a folder, a device, a malformed or unsupported model: one line
    model_file = Path(model_file).resolve()
    root = ModelPaths.for_model(model_file.stem).root
    raw: dict = {"model": {"file": os.path.relpath(model_file, root.resolve())}, "train": {"epochs": 0}}
    if data:
        raw["data"] = {"source": str(Path(data).resolve())}
    if board:
        raw["hls"] = {"board": board}
    path = root / f"{model_file.stem}.yaml"
    cfg = config_from_dict(raw, path)

    def write() -> Path:
        write_text_atomic(path, "# written by `hwflow hls --keras`: edit it and run `hwflow hls --config` on it\n"
                          + yaml.safe_dump(raw, sort_keys=False))
        return path

    return cfg, write
