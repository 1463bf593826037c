"""Run a converted hls4ml ModelGraph layer by layer with the integer kernels of `layers`."""

from __future__ import annotations

import numpy as np

from sim.emulate.fixed import EmulateInputError, UnsupportedLayerError
from sim.emulate.layers import FLOAT_CODES, HANDLERS, PAD_AWARE, Context, Tensor, input_layer

CHUNK_VALUES = 4_000_000  # measured on MobileNet 224 (800k values per image): 4-5 images per chunk beat 1 and 16


def check_supported(hls_model) -> None:
    """Raise UnsupportedLayerError naming the first layer the emulator cannot reproduce."""
    for layer in hls_model.get_layers():
        if layer.class_name != "Input" and layer.class_name not in HANDLERS:
            raise UnsupportedLayerError(
                f"layer {layer.name!r} of type {layer.class_name} is not emulated; "
                f"supported: {', '.join(sorted(HANDLERS))}")


def _io_type(hls_model) -> str:
    io = str(hls_model.config.get_config_value("IOType", "io_parallel"))
    if io not in ("io_parallel", "io_stream"):
        raise UnsupportedLayerError(f"IOType {io!r} is not emulated")
    return io


def emulate(hls_model, x: np.ndarray, *, trace: bool = False):
    """The firmware's outputs for inputs `x` (N, *input_shape), computed bit-exactly.

    Returns float64 values of the output fixed-point codes, shape (N, *output_shape); with
    trace=True also {layer name: float64 output} for every layer. Raises
    UnsupportedLayerError for any layer or precision the emulator does not reproduce.
    """
    check_supported(hls_model)
    ctx = Context(io_type=_io_type(hls_model))
    layers = hls_model.get_layers()
    input_layers = [layer for layer in layers if layer.class_name == "Input"]
    if len(input_layers) != 1 or len(hls_model.get_output_variables()) != 1:
        raise UnsupportedLayerError("only models with one input and one output are emulated")
    in_shape = tuple(int(d) for d in input_layers[0].get_output_variable().shape)
    x = np.asarray(x)
    if x.ndim == len(in_shape):
        x = x[None]
    if int(np.prod(x.shape[1:])) != int(np.prod(in_shape)):
        raise EmulateInputError(f"input of shape {x.shape} does not match the model input {in_shape}")
    x = x.reshape(x.shape[0], *in_shape)

    # Chunks of images whose largest layer output is about CHUNK_VALUES values: every layer is a few
    # passes over memory, and a working set that stays in cache is up to 2x faster than one big batch.
    per_image = max(int(np.prod(layer.get_output_variable().shape)) for layer in layers)
    step = len(x) if trace else max(1, CHUNK_VALUES // per_image)
    parts = [_run(layers, ctx, x[i:i + step], hls_model.outputs[0], trace) for i in range(0, max(len(x), 1), step)]
    y = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    return (y, parts[0][1]) if trace else y


def _run(layers, ctx: Context, x: np.ndarray, result_name: str, trace: bool):
    tensors: dict[str, Tensor] = {}
    traced: dict[str, np.ndarray] = {}
    for layer in layers:
        if layer.class_name == "Input":
            out = input_layer(layer, [], ctx, x)
        else:
            ins = [tensors[name] for name in layer.inputs]
            if layer.class_name not in PAD_AWARE:
                ins = [t.padded() for t in ins]
            if layer.class_name not in FLOAT_CODES:
                ins = [t.ints() for t in ins]
            out = HANDLERS[layer.class_name](layer, ins, ctx)
        for name in layer.outputs:
            tensors[name] = out
        if trace:
            traced[layer.name] = out.type.to_float(out.padded().raw)
    result = tensors[result_name].padded()
    y = result.type.to_float(result.raw)
    return y, traced
