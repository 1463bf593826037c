"""Run a converted hls4ml ModelGraph layer by layer with the integer kernels of `layers`."""

from __future__ import annotations

import numpy as np

from sim.emulate.fixed import EmulateInputError, UnsupportedLayerError
from sim.emulate.layers import HANDLERS, Context, Tensor, input_layer


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

    tensors: dict[str, Tensor] = {}
    traced: dict[str, np.ndarray] = {}
    for layer in layers:
        if layer.class_name == "Input":
            out = input_layer(layer, [], ctx, x)
        else:
            ins = [tensors[name] for name in layer.inputs]
            out = HANDLERS[layer.class_name](layer, ins, ctx)
        for name in layer.outputs:
            tensors[name] = out
        if trace:
            traced[layer.name] = out.type.to_float(out.raw)
    result_name = hls_model.outputs[0]
    result = tensors[result_name]
    y = result.type.to_float(result.raw)
    return (y, traced) if trace else y
