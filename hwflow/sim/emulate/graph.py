"""Run a converted hls4ml ModelGraph layer by layer with the integer kernels of `layers`."""

from __future__ import annotations

import numpy as np

from hwflow.sim.emulate.fixed import INT64_WIDTH, EmulateInputError, FixedType, UnsupportedLayerError, mult_type
from hwflow.sim.emulate.layers import (
    FLOAT_CODES, HANDLERS, PAD_AWARE, WIDE_ACTIVATIONS, WIDE_OK, Context, Tensor, fixed_type, input_layer,
)

# Images per chunk: about CHUNK_VALUES values in the largest layer output (measured on the 32x32 models:
# 0.5-1M beat 4M by up to 2x, the elementwise casts then stay in cache), but at least MIN_CHUNK_IMAGES
# (MobileNet 224, 800k values per image: 4-5 images per chunk beat 1 and 16)
CHUNK_VALUES = 1_000_000
MIN_CHUNK_IMAGES = 4


def check_supported(hls_model) -> None:
    """Raise UnsupportedLayerError naming the first layer the emulator cannot reproduce."""
    for layer in hls_model.get_layers():
        if layer.class_name != "Input" and layer.class_name not in HANDLERS:
            raise UnsupportedLayerError(
                f"layer {layer.name!r} of type {layer.class_name} is not emulated; "
                f"supported: {', '.join(sorted(HANDLERS))}")


class LayerView:
    """One emulate() call's snapshot of a ModelGraph layer: its attributes, types, weights and output
    variable read once. hls4ml rebuilds `layer.types` / `layer.weights` / `get_output_variable()`
    by scanning every attribute on each access (~0.1 ms), and the handlers read them for every
    chunk of images: on MobileNetV2 that was a third of the emulator's time. Anything else is the
    layer's own (`view.layer` for hls4ml's config templates)."""

    def __init__(self, layer):
        from hls4ml.model.types import NamedType, WeightVariable

        self.layer = layer
        self.name, self.class_name = layer.name, layer.class_name
        self.inputs, self.outputs = layer.inputs, layer.outputs
        self._attrs = dict(layer.attributes.items())
        self.types = {k: v for k, v in self._attrs.items() if isinstance(v, NamedType)}
        self.weights = {k: v for k, v in self._attrs.items() if isinstance(v, WeightVariable)}
        self._out = layer.get_output_variable()
        self.memo: dict = {}  # handler results that depend only on the layer (e.g. softmax's config)

    def get_attr(self, key, default=None):
        return self._attrs.get(key, default)

    def get_output_variable(self):
        return self._out

    def __getattr__(self, name):
        return getattr(self.layer, name)


def _io_type(hls_model) -> str:
    io = str(hls_model.config.get_config_value("IOType", "io_parallel"))
    if io not in ("io_parallel", "io_stream"):
        raise UnsupportedLayerError(f"IOType {io!r} is not emulated")
    return io


def _inputs(hls_model, layers, x) -> list[np.ndarray]:
    """The model's input arrays (one per Input layer, in hls_model.inputs order), each (N, *shape);
    `x` is one array or, for several inputs, a list of them (as hls_model.predict takes)."""
    by_output = {layer.outputs[0]: layer for layer in layers if layer.class_name == "Input"}
    input_layers = [by_output[name] for name in hls_model.inputs]
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(input_layers):
        raise EmulateInputError(f"the model has {len(input_layers)} inputs; got {len(xs)} arrays")
    out = []
    for layer, xi in zip(input_layers, xs):
        in_shape = tuple(int(d) for d in layer.get_output_variable().shape)
        xi = np.asarray(xi)
        if xi.ndim == len(in_shape):
            xi = xi[None]
        if xi.ndim == 0 or int(np.prod(xi.shape[1:])) != int(np.prod(in_shape)):
            raise EmulateInputError(f"input {layer.name!r} of shape {xi.shape} does not match the model input {in_shape}")
        out.append(xi.reshape(xi.shape[0], *in_shape))
    if len({len(xi) for xi in out}) > 1:
        raise EmulateInputError(f"inputs hold different numbers of samples: {[len(xi) for xi in out]}")
    return out


def emulate(hls_model, x, *, trace: bool = False):
    """The firmware's outputs for inputs `x` (N, *input_shape; a list of arrays for a model with
    several inputs), computed bit-exactly.

    Returns float64 values of the output fixed-point codes, shape (N, *output_shape) (a list for
    several outputs); with trace=True also {layer name: float64 output} for every layer. Raises
    UnsupportedLayerError for any layer or precision the emulator does not reproduce.
    """
    check_supported(hls_model)
    ctx = Context(io_type=_io_type(hls_model))
    layers = [LayerView(layer) for layer in hls_model.get_layers()]
    xs = _inputs(hls_model, layers, x)
    n = len(xs[0])

    # Chunks of images whose largest layer output is about CHUNK_VALUES values: every layer is a few
    # passes over memory, and a working set that stays in cache is up to 2x faster than one big batch.
    per_image = max(int(np.prod(layer.get_output_variable().shape)) for layer in layers)
    step = n if trace else max(MIN_CHUNK_IMAGES, CHUNK_VALUES // per_image)
    outputs = list(hls_model.outputs)
    parts = [_run(layers, ctx, [xi[i:i + step] for xi in xs], hls_model.inputs, outputs, trace)
             for i in range(0, max(n, 1), step)]
    ys = [np.concatenate([p[0][k] for p in parts]) if len(parts) > 1 else parts[0][0][k] for k in range(len(outputs))]
    y = ys[0] if len(ys) == 1 else ys
    return (y, parts[0][1]) if trace else y


def _check_shape(layer, out: Tensor) -> None:
    """The layer's result must have the shape hls4ml declares for its output variable: anything
    else means the emulator computed a different tensor than the firmware."""
    declared = tuple(int(d) for d in layer.get_output_variable().shape)
    got = out.shape[1:]
    if got != declared:
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({layer.class_name}): emulated result has shape {got}, hls4ml declares "
            f"{declared}; not emulated")


def _layer_types(layer) -> tuple[list[FixedType], list[FixedType]]:
    """The layer's own fixed-point types (accum_t, result_t, tables, ...) and its weights' types;
    non-fixed ones (an exponent type, uint index types the kernels never compute in) are left out."""
    memo = getattr(layer, "memo", None)
    if memo is not None and "types" in memo:
        return memo["types"]
    own, weights = [], []
    for key, var in layer.types.items():
        try:
            own.append(fixed_type(var.precision, key))
        except UnsupportedLayerError:
            pass
    for key, var in layer.weights.items():
        try:
            weights.append(fixed_type(var.type.precision, key))
        except UnsupportedLayerError:
            pass
    if memo is not None:
        memo["types"] = own, weights
    return own, weights


def wide_reason(layer, ins: list[Tensor]) -> str | None:
    """Why the layer's arithmetic may leave int64 (then it runs on Python ints), or None.

    Conservative: any type, any input x weight product type, or the alignment of all of them on
    one binary point (integer bits + fractional bits, what a sum of those values needs) wider than
    INT64_WIDTH bits. Widths, not values, decide, so the choice is the same for every input."""
    own, weights = _layer_types(layer)
    inputs = [t.type for t in ins]
    types = own + weights + inputs + [mult_type(a, w) for a in inputs for w in weights]
    widest = max(types, key=lambda t: t.width)
    if widest.width > INT64_WIDTH:
        return f"{widest} is wider than {INT64_WIDTH} bits"
    span = max(t.integer for t in types) + max(t.frac for t in types) + 1
    if span > INT64_WIDTH:
        return f"aligning its values needs {span} bits"
    return None


def _wide_inputs(layer, ins: list[Tensor], reason: str) -> list[Tensor]:
    """The inputs as Python-int codes for a layer whose widths exceed int64; a layer whose kernel
    has no exact Python-int path is refused, named, when a type is wider than int64 (a span alone
    leaves it on int64: those kernels do not align values of different types in one sum)."""
    fn = str(layer.get_attr("activation", "")).lower()
    if layer.class_name not in WIDE_OK or (layer.class_name == "Activation" and fn not in WIDE_ACTIVATIONS):
        if "aligning" in reason:
            return ins
        what = f"{layer.class_name}({fn})" if layer.class_name == "Activation" else layer.class_name
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({what}): {reason}; arbitrary-width emulation covers "
            f"{', '.join(sorted(WIDE_OK))} (Activation: {', '.join(sorted(WIDE_ACTIVATIONS))})")
    return [t.objects() for t in ins]


def _run(layers, ctx: Context, xs: list[np.ndarray], input_names, result_names, trace: bool):
    tensors: dict[str, Tensor] = {}
    traced: dict[str, np.ndarray] = {}
    feeds = dict(zip(input_names, xs))
    for layer in layers:
        try:
            if layer.class_name == "Input":
                out = input_layer(layer, [], ctx, feeds[layer.outputs[0]])
            else:
                ins = [tensors[name] for name in layer.inputs]
                if layer.class_name not in PAD_AWARE:
                    ins = [t.padded() for t in ins]
                if layer.class_name not in FLOAT_CODES:
                    ins = [t.ints() for t in ins]
                reason = wide_reason(layer, ins)
                if reason is not None:
                    ins = _wide_inputs(layer, ins, reason)
                out = HANDLERS[layer.class_name](layer, ins, ctx)
        except UnsupportedLayerError as err:
            if repr(layer.name) in str(err):
                raise
            raise UnsupportedLayerError(f"layer {layer.name!r} ({layer.class_name}): {err}") from err
        except (ValueError, IndexError, np.AxisError, OverflowError, TypeError) as err:  # an emulator gap, named
            raise UnsupportedLayerError(
                f"layer {layer.name!r} ({layer.class_name}) is not emulated for these shapes or values: {err}") from err
        _check_shape(layer, out)
        for name in layer.outputs:
            tensors[name] = out
        if trace:
            traced[layer.name] = out.type.to_float(out.padded().raw)
    ys = []
    for name in result_names:
        result = tensors[name].padded()
        ys.append(result.type.to_float(result.raw))
    return ys, traced
