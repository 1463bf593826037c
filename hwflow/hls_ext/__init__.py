"""hwflow's hls4ml extensions, registered through hls4ml's extension API.

    from hwflow import hls_ext
    hls_ext.register()          # idempotent; hwflow.convert calls it before every conversion

What it adds (hls4ml 1.3.0 cannot convert these otherwise):
- `ChannelShuffle(groups)` and `ChannelSlice(start, size)` (Keras layers in
  `hwflow.hls_ext.keras_layers`): ShuffleNet's channel shuffle and channel split, as pure
  permutations in C++ (io_parallel and io_stream; no multipliers, output type = input type).
- `BoundedReLU`: a QKeras `quantized_relu(bits, integer, relu_upper_bound=B,
  is_quantized_clip=False)` (ReLU6 with B=6) becomes min(max(x, 0), B) in C++; hls4ml alone
  turns it into an unbounded ReLU.

Registered: Keras handlers (`register_keras_v2_layer_handler`), IR layers (`register_layer`),
config + function-call templates (Vivado backend; Vitis and VivadoAccelerator run the Vivado
template flow), the C++ header (`register_source`, every backend), and two optimizer passes put
at the front of hls4ml's 'convert' flow (before its precision inference).
"""

from __future__ import annotations

from pathlib import Path

HEADER = Path(__file__).resolve().parent / "nnet_hwflow.h"
FLOW = "convert"  # hls4ml's backend-independent first flow; it ends with infer_precision_types

_registered = False


def register() -> None:
    """Make hls4ml know hwflow's extension layers (safe to call many times)."""
    global _registered
    if _registered:
        return
    from hls4ml.backends import get_backend
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers, register_keras_v2_layer_handler
    from hls4ml.model.flow import get_flow
    from hls4ml.model.layers import layer_map, register_layer
    from hls4ml.model.optimizer import get_available_passes, register_pass

    from hwflow.config import BACKENDS  # not at the top: hwflow.config -> hwflow.zoo -> shufflenet -> hls_ext
    from hwflow.hls_ext import hls_layers

    for name, handler in hls_layers.KERAS_HANDLERS.items():
        if name not in get_layer_handlers():
            register_keras_v2_layer_handler(name, handler)
    for name, cls in hls_layers.IR_LAYERS.items():
        if name not in layer_map:
            register_layer(name, cls)
    vivado = get_backend("Vivado")
    for template in hls_layers.TEMPLATES:
        vivado.register_template(template)
    for backend in BACKENDS:
        get_backend(backend).register_source(HEADER)
    # hls4ml's register_pass(flow=...) appends to the flow; these must run before
    # infer_precision_types, so they are inserted at the front of the (mutable) pass list.
    flow = get_flow(FLOW)
    for name, cls in hls_layers.PASSES.items():
        if name not in get_available_passes():
            register_pass(name, cls)
            flow.optimizers.insert(0, name)
    _registered = True
