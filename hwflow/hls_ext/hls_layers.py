"""hls4ml side of hwflow's extension layers: IR layers, Keras handlers, optimizer passes, C++ templates.

Registered with hls4ml's extension API by `hwflow.hls_ext.register()` (see its docstring). The
C++ is in nnet_hwflow.h next to this file (copied into every project as nnet_utils/nnet_hwflow.h).
"""

from __future__ import annotations

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.attributes import Attribute
from hls4ml.model.layers import Layer
from hls4ml.model.optimizer import OptimizerPass
from hls4ml.model.types import UnspecifiedPrecisionType

from hwflow.errors import CheckError

INCLUDE = ["nnet_utils/nnet_hwflow.h"]


# ----------------------------------------------------------------------------------- IR layers


class _ChannelMove(Layer):
    """A layer that only moves values: its output type is its input type (set by MatchInputPrecision)."""

    def _out(self, channels: int):
        inp = self.get_input_variable()
        shape = list(inp.shape[:-1]) + [channels]
        precision = inp.type.precision
        self.add_output_variable(shape, precision=None if isinstance(precision, UnspecifiedPrecisionType) else precision)


class ChannelShuffle(_ChannelMove):
    _expected_attributes = [Attribute("n_pix"), Attribute("n_chan"), Attribute("groups")]

    def initialize(self):
        self._out(self.get_attr("n_chan"))


class ChannelSlice(_ChannelMove):
    _expected_attributes = [Attribute("n_pix"), Attribute("n_chan"), Attribute("start"), Attribute("n_out")]

    def initialize(self):
        self._out(self.get_attr("n_out"))


class BoundedReLU(Layer):
    """min(max(x, 0), bound) into the layer's quantized result type (QKeras quantized_relu with
    relu_upper_bound and is_quantized_clip=False)."""

    _expected_attributes = [Attribute("n_in"), Attribute("bound")]

    def initialize(self):
        self.add_output_variable(self.get_input_variable().shape)  # result precision from the config (quantizer)


IR_LAYERS = {"ChannelShuffle": ChannelShuffle, "ChannelSlice": ChannelSlice, "BoundedReLU": BoundedReLU}


# ------------------------------------------------------------------------------- Keras handlers


def _pix_chan(shape) -> tuple[int, int]:
    dims = [int(d) for d in shape[1:]]
    n_pix = 1
    for d in dims[:-1]:
        n_pix *= d
    return n_pix, dims[-1]


def parse_channel_shuffle(keras_layer, input_names, input_shapes, data_reader):
    n_pix, n_chan = _pix_chan(input_shapes[0])
    layer = {"class_name": "ChannelShuffle", "name": keras_layer["config"]["name"], "n_pix": n_pix,
             "n_chan": n_chan, "groups": int(keras_layer["config"]["groups"]), "inputs": input_names}
    return layer, list(input_shapes[0])


def parse_channel_slice(keras_layer, input_names, input_shapes, data_reader):
    n_pix, n_chan = _pix_chan(input_shapes[0])
    size = int(keras_layer["config"]["size"])
    layer = {"class_name": "ChannelSlice", "name": keras_layer["config"]["name"], "n_pix": n_pix, "n_chan": n_chan,
             "start": int(keras_layer["config"]["start"]), "n_out": size, "inputs": input_names}
    return layer, list(input_shapes[0][:-1]) + [size]


KERAS_HANDLERS = {"ChannelShuffle": parse_channel_shuffle, "ChannelSlice": parse_channel_slice}


# ------------------------------------------------------------------------------- optimizer passes


class MatchInputPrecision(OptimizerPass):
    """Shuffle/slice output type = input type once the input is known (hls4ml's infer_precision_types
    would otherwise give an unknown layer class the model default, fixed<16,6>). Runs before
    infer_precision_types in the backend's optimize flow."""

    def match(self, node):
        if not isinstance(node, _ChannelMove):
            return False
        src, out = node.get_input_variable().type.precision, node.get_output_variable().type.precision
        return not isinstance(src, UnspecifiedPrecisionType) and isinstance(out, UnspecifiedPrecisionType)

    def transform(self, model, node):
        node.get_output_variable().type.precision = node.get_input_variable().type.precision
        return True


def _relu_bound(node) -> float | None:
    q = node.get_attr("activation_quantizer")
    if not isinstance(q, dict) or q.get("class_name") != "quantized_relu":
        return None
    cfg = q.get("config", {})
    # QKeras' get_config omits is_quantized_clip, so hls4ml cannot see it: a relu_upper_bound is taken to
    # be active (hwflow's Ops.relu6 always sets is_quantized_clip=False; `hwflow check` refuses the other case).
    if cfg.get("relu_upper_bound") is None or cfg.get("is_quantized_clip", False):
        return None
    return float(cfg["relu_upper_bound"])


class BoundedReluPass(OptimizerPass):
    """QKeras quantized_relu(..., relu_upper_bound=B, is_quantized_clip=False) -> BoundedReLU.

    hls4ml 1.3.0 converts that quantizer to a plain ReLU and drops B (its io_stream ReLU has no bound
    at all), so C-sim would differ from QKeras for every value above B."""

    def match(self, node):
        return node.class_name == "Activation" and node.get_attr("activation") == "relu" and _relu_bound(node) is not None

    def transform(self, model, node):
        bound = _relu_bound(node)
        if bound != int(bound):
            raise CheckError(f"layer {node.name}: relu_upper_bound {bound:g} is not an integer; hwflow's BoundedReLU "
                             f"converts integer bounds only (e.g. 6)")
        new = model.make_node("BoundedReLU", node.name, {"n_in": node.get_attr("n_in"), "bound": int(bound),
                                                         "activation_quantizer": node.get_attr("activation_quantizer")},
                              node.inputs.copy(), node.outputs.copy())
        model.replace_node(node, new)
        return True


class LinearQuantizerIntoParent(OptimizerPass):
    """A QKeras QActivation(quantized_bits(...)) after a conv/dense whose result type is 'auto': give the
    parent that result type, then hls4ml's eliminate_linear_activation drops the (now no-op) activation.

    Without this, hls4ml 1.3.0's merge_linear_activation removes the activation and keeps the parent's
    inferred full-width type (it only carries over QONNX 'quantizer' attributes, not QKeras
    'activation_quantizer'), so the quantization QKeras applies is lost. Casting the accumulator to the
    quantized type inside the conv is the same arithmetic as a separate cast."""

    @staticmethod
    def _chain(node) -> list:
        """The nodes between the quantizer and its conv/dense (QKeras' own 'linear' activation), then the conv."""
        chain, parent = [], node.get_input_node(node.inputs[0])
        while (parent is not None and parent.class_name == "Activation" and parent.get_attr("activation") == "linear"
               and not parent.get_attr("activation_quantizer")):
            chain.append(parent)
            parent = parent.get_input_node(parent.inputs[0])
        return chain + [parent]

    def match(self, node):
        if node.class_name != "Activation" or node.get_attr("activation") != "linear":
            return False
        q = node.get_attr("activation_quantizer")
        if not isinstance(q, dict) or q.get("class_name") not in ("linear", "quantized_bits"):
            return False
        if isinstance(node.get_output_variable().type.precision, UnspecifiedPrecisionType):
            return False
        chain = self._chain(node)
        return (chain[-1] is not None and chain[-1].class_name in ("Conv1D", "Conv2D", "DepthwiseConv2D", "Dense")
                and any(isinstance(n.get_output_variable().type.precision, UnspecifiedPrecisionType) for n in chain))

    def transform(self, model, node):
        for n in self._chain(node):
            n.get_output_variable().type.precision = node.get_output_variable().type.precision
        return True


# ------------------------------------------------------------------------------------ templates

_shuffle_config = """struct config{index} : nnet::channel_shuffle_config {{
    static const unsigned n_pix = {n_pix};
    static const unsigned n_chan = {n_chan};
    static const unsigned groups = {groups};
}};\n"""

_slice_config = """struct config{index} : nnet::channel_slice_config {{
    static const unsigned n_pix = {n_pix};
    static const unsigned n_chan = {n_chan};
    static const unsigned start = {start};
    static const unsigned n_out = {n_out};
}};\n"""

_bounded_relu_config = """struct config{index} : nnet::bounded_relu_config {{
    static const unsigned n_in = {n_in};
    static const int bound = {bound};
}};\n"""


def _config_template(layer_cls, text):
    class T(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_cls)
            self.template = text

        def format(self, node):
            return self.template.format(**self._default_config_params(node))

    T.__name__ = f"{layer_cls.__name__}ConfigTemplate"
    return T


def _function_template(layer_cls, fn: str):
    class T(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_cls, include_header=INCLUDE)
            self.template = f"nnet::{fn}<{{input_t}}, {{output_t}}, {{config}}>({{input}}, {{output}});"

        def format(self, node):
            return self.template.format(**self._default_function_params(node))

    T.__name__ = f"{layer_cls.__name__}FunctionTemplate"
    return T


TEMPLATES = [
    _config_template(ChannelShuffle, _shuffle_config), _function_template(ChannelShuffle, "channel_shuffle"),
    _config_template(ChannelSlice, _slice_config), _function_template(ChannelSlice, "channel_slice"),
    _config_template(BoundedReLU, _bounded_relu_config), _function_template(BoundedReLU, "bounded_relu"),
]

PASSES = {"hwflow_match_input_precision": MatchInputPrecision, "hwflow_bounded_relu": BoundedReluPass,
          "hwflow_linear_quantizer_into_parent": LinearQuantizerIntoParent}

__all__ = ["IR_LAYERS", "KERAS_HANDLERS", "TEMPLATES", "PASSES", "INCLUDE"]
