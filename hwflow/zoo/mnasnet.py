"""MnasNet-B1 (Tan et al., 2019, arXiv:1807.11626), without squeeze-and-excitation.

Stem conv 3x3/2 (32) -> separable conv (depthwise 3x3 -> linear 1x1, 16) -> six stacks of
inverted residual blocks (MBConv) with the searched kernels (3x3 and 5x5), expansions and
repeats -> conv 1x1 (1280) -> global average pool -> dense (logits). ReLU everywhere, as in the
paper (its QKeras form is the configured quantized_relu); the MBConv block and the hardware forms
(quantized linear projections, residual Add) are MobileNetV2's, see hwflow/zoo/mobilenet_v2.py.
`alpha` is the depth (width) multiplier.
"""

from __future__ import annotations

from hwflow.zoo import register
from hwflow.zoo.layers import Ops
from hwflow.zoo.mobilenet_v2 import inverted_residual, make_divisible

# (kernel, first stride, expansion, output channels, repeats) of the MBConv stacks (MnasNet-B1)
STACKS = [(3, 2, 3, 24, 3), (5, 2, 3, 40, 3), (5, 2, 6, 80, 3), (3, 1, 6, 96, 2), (5, 2, 6, 192, 4),
          (3, 1, 6, 320, 1)]


def relu(ops: Ops, x, name: str):
    return ops.relu(x, name)


def _create_mnasnet(ops: Ops, input_shape, classes: int, alpha: float, stem_stride: int, last_channels: int,
                    dropout: float):
    from tensorflow import keras

    inp = keras.Input(tuple(input_shape), name="image")
    x = ops.relu(ops.conv(inp, "conv1", make_divisible(32 * alpha), 3, strides=stem_stride, bn=True), "conv1")
    x = ops.relu(ops.depthwise(x, "sep_dw", 3, bn=True), "sep_dw")
    x = ops.linear_q(ops.conv(x, "sep_project", make_divisible(16 * alpha), 1, bn=True), "sep_project")
    b = 0
    for k, s, t, c, n in STACKS:
        for i in range(n):
            b += 1
            x = inverted_residual(ops, x, f"b{b}", make_divisible(c * alpha), t, k, s if i == 0 else 1, relu)
    x = ops.relu(ops.conv(x, "conv_last", last_channels, 1, bn=True), "conv_last")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = ops.dense(x, "fc", classes)
    return keras.Model(inp, x, name="mnasnet_b1")


@register("mnasnet")
def mnasnet(quant=None, input_shape=(224, 224, 3), classes: int = 1000, alpha: float = 1.0, stem_stride: int = 2,
            last_channels: int = 1280, dropout: float = 0.2):
    """MnasNet-B1 without SE; `last_channels` < 1280 shrinks the final 1x1 conv (small test variants)."""
    if alpha <= 0:
        raise ValueError("alpha must be > 0")
    return _create_mnasnet(Ops(quant), input_shape, classes, alpha, stem_stride, last_channels, dropout)
