"""Layer factories injected into every model definition (timm's `act_layer`/`norm_layer` idea).

A family file writes its network once against `Ops`; `Ops(None)` yields the float Keras
layers, `Ops(plan)` the QKeras twins with the same names. Batch normalisation exists only in
the float model: the quantized model is the folded form the hardware computes (kernel and
bias absorb the BN scale/shift), so QAT trains exactly what hls4ml will implement and C-sim can
match it bit for bit. `fold_batchnorm` computes the folded weights that initialise it.
"""

from __future__ import annotations

import numpy as np

from hwflow.zoo.quant import QuantPlan

BN_SUFFIX = "_bn"
ACT_SUFFIX = "_relu"
Q_SUFFIX = "_q"


class Ops:
    def __init__(self, plan: QuantPlan | None):
        self.plan = plan

    @property
    def quantized(self) -> bool:
        return self.plan is not None

    def _q(self, name: str, what: str):
        spec = getattr(self.plan.get(name), what)
        if spec is None:
            raise KeyError(f"no {what} quantizer for layer {name!r}")
        return spec.build()

    def _norm(self, x, name: str, bn: bool):
        from tensorflow import keras

        if bn and not self.quantized:
            x = keras.layers.BatchNormalization(name=name + BN_SUFFIX)(x)
        return x

    def conv(self, x, name: str, filters: int, kernel: int, strides: int = 1, padding: str = "same", bn: bool = False):
        from tensorflow import keras

        if self.quantized:
            import qkeras

            x = qkeras.QConv2D(filters, kernel, strides=strides, padding=padding, use_bias=True, name=name,
                               kernel_quantizer=self._q(name, "weight"), bias_quantizer=self._q(name, "bias"))(x)
        else:
            x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=not bn, name=name)(x)
        return self._norm(x, name, bn)

    def depthwise(self, x, name: str, kernel: int, strides: int = 1, padding: str = "same", bn: bool = False):
        from tensorflow import keras

        if self.quantized:
            import qkeras

            x = qkeras.QDepthwiseConv2D(kernel, strides=strides, padding=padding, use_bias=True, name=name,
                                        depthwise_quantizer=self._q(name, "weight"),
                                        bias_quantizer=self._q(name, "bias"))(x)
        else:
            x = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, use_bias=not bn, name=name)(x)
        return self._norm(x, name, bn)

    def dense(self, x, name: str, units: int, bn: bool = False):
        from tensorflow import keras

        if self.quantized:
            import qkeras

            x = qkeras.QDense(units, name=name, kernel_quantizer=self._q(name, "weight"),
                              bias_quantizer=self._q(name, "bias"))(x)
        else:
            x = keras.layers.Dense(units, use_bias=not bn, name=name)(x)
        return self._norm(x, name, bn)

    def relu(self, x, name: str):
        """ReLU after layer `name` (named `<name>_relu`): unbounded in float, the configured
        quantized_relu in QKeras (bounded by its integer bits; never a Keras ReLU(max_value))."""
        from tensorflow import keras

        if self.quantized:
            import qkeras

            return qkeras.QActivation(self._q(name, "activation"), name=name + ACT_SUFFIX)(x)
        return keras.layers.Activation("relu", name=name + ACT_SUFFIX)(x)

    def relu6(self, x, name: str, bound: int = 6):
        """ReLU6 after layer `name`: Keras ReLU(6) in float; in QKeras the configured quantized_relu with
        relu_upper_bound=bound (is_quantized_clip=False, so the bound is what clips). hls4ml alone drops the
        bound; hwflow.hls_ext converts it to an exact BoundedReLU. Needs integer bits >= log2(bound)."""
        from tensorflow import keras

        if not self.quantized:
            return keras.layers.ReLU(float(bound), name=name + ACT_SUFFIX)(x)
        import qkeras

        spec = self.plan.get(name).activation
        if spec is None:
            raise KeyError(f"no activation quantizer for layer {name!r}")
        if 2 ** spec.integer < bound:
            raise ValueError(f"layer {name!r}: {spec} cannot represent the ReLU bound {bound}; use activation_integer "
                             f">= {(bound - 1).bit_length()}")
        q = qkeras.quantized_relu(spec.bits, spec.integer, relu_upper_bound=bound, is_quantized_clip=False)
        return qkeras.QActivation(q, name=name + ACT_SUFFIX)(x)

    def linear_q(self, x, name: str):
        """Quantize a linear output of layer `name` (named `<name>_q`): identity in float; in QKeras a signed
        quantized_bits(bits, integer) from the layer's activation spec (8 bits, integer 3 -> [-8, 8) in steps of
        1/16). Keeps MobileNetV2/MnasNet projections and ShuffleNet's depthwise outputs narrow in hardware
        (hwflow.hls_ext moves it into the conv's result type so hls4ml keeps it)."""
        from tensorflow import keras

        if not self.quantized:  # identity, so both twins have the same layer names
            return keras.layers.Activation("linear", name=name + Q_SUFFIX)(x)
        import qkeras

        spec = self.plan.get(name).activation
        if spec is None:
            raise KeyError(f"no activation quantizer for layer {name!r}")
        return qkeras.QActivation(qkeras.quantized_bits(spec.bits, spec.integer, alpha=1), name=name + Q_SUFFIX)(x)

    def add(self, inputs, name: str):
        """Residual sum (same layer in both twins; hls4ml infers an exact sum type from its inputs)."""
        from tensorflow import keras

        return keras.layers.Add(name=name)(list(inputs))


# Layer classes whose weights are quantized (weight + bias), by Keras class name.
KERNEL_LAYERS = ("Conv2D", "DepthwiseConv2D", "Dense", "QConv2D", "QDepthwiseConv2D", "QDense")


def kernel_layer_names(model) -> list[str]:
    return [l.name for l in model.layers if type(l).__name__ in KERNEL_LAYERS]


def fold_batchnorm(float_model) -> dict[str, list[np.ndarray]]:
    """Kernel layers of `float_model` -> [kernel, bias] with a following `<name>_bn` folded in."""
    names = {l.name for l in float_model.layers}
    return {layer.name: fold_layer(layer, float_model.get_layer(layer.name + BN_SUFFIX)
                                   if layer.name + BN_SUFFIX in names else None)
            for layer in float_model.layers if type(layer).__name__ in KERNEL_LAYERS}


def fold_layer(layer, bn=None) -> list[np.ndarray]:
    """[kernel, bias] of a Conv2D / DepthwiseConv2D / Dense layer with the BatchNormalization `bn`
    (applied right after it; None: none) folded in. The one folding rule (zoo and model files)."""
    w = layer.get_weights()
    kernel = w[0]
    depthwise = type(layer).__name__ in ("DepthwiseConv2D", "QDepthwiseConv2D")
    bias = w[1] if len(w) > 1 else np.zeros(kernel.shape[-1] if not depthwise
                                             else kernel.shape[2] * kernel.shape[3], dtype=kernel.dtype)
    if bn is not None:
        gamma, beta, mean, var = _bn_weights(bn)
        scale = gamma / np.sqrt(var + bn.epsilon)
        if depthwise:
            kh, kw, cin, mult = kernel.shape
            kernel = (kernel.reshape(kh, kw, cin * mult) * scale).reshape(kh, kw, cin, mult)
        else:
            kernel = kernel * scale
        bias = beta + (bias - mean) * scale
    return [kernel.astype(np.float32), bias.astype(np.float32)]


def _bn_weights(bn):
    """gamma, beta, moving mean, moving variance (a BN built with scale/center off has no gamma/beta)."""
    n = int(bn.moving_mean.shape[0])
    gamma = bn.gamma.numpy() if bn.gamma is not None else np.ones(n, np.float32)
    beta = bn.beta.numpy() if bn.beta is not None else np.zeros(n, np.float32)
    return gamma, beta, bn.moving_mean.numpy(), bn.moving_variance.numpy()
