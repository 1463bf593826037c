"""MobileNetV2 (Sandler et al., 2018, arXiv:1801.04381).

Stem conv 3x3/2 -> 17 inverted residual blocks -> conv 1x1 (1280) -> global average pool ->
dense classifier (logits). Inverted residual: expansion 1x1 (t x channels) -> depthwise 3x3 ->
linear 1x1 projection; a residual Add when stride is 1 and the channel count is unchanged.
`alpha` is the width multiplier (channels rounded to multiples of 8, as in the paper's code).

Hardware forms in the QKeras twin (the float twin is the paper's network with BatchNorm):
- ReLU6 is `quantized_relu(bits, integer, relu_upper_bound=6)` (Ops.relu6), converted exactly by
  hwflow.hls_ext's BoundedReLU (hls4ml alone drops the bound);
- the linear projection output is quantized (Ops.linear_q, signed quantized_bits from the layer's
  activation spec), so residual sums stay narrow; hls4ml infers the exact Add type.
"""

from __future__ import annotations

from hwflow.zoo import register
from hwflow.zoo.layers import Ops

# (expansion t, output channels c, repeats n, first stride s) per stage, from the paper's Table 2
STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round to a multiple of `divisor`, never more than 10% below `v` (the reference implementation's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def inverted_residual(ops: Ops, x, name: str, out_ch: int, expansion: int, kernel: int, stride: int, act):
    """expand 1x1 -> act -> depthwise kxk -> act -> project 1x1 (linear, quantized) [-> + input].

    `act(ops, x, layer_name)` is the activation (ReLU6 for MobileNetV2, ReLU for MnasNet)."""
    in_ch = int(x.shape[-1])
    y = x
    if expansion != 1:
        y = act(ops, ops.conv(y, f"{name}_expand", in_ch * expansion, 1, bn=True), f"{name}_expand")
    y = act(ops, ops.depthwise(y, f"{name}_dw", kernel, strides=stride, bn=True), f"{name}_dw")
    y = ops.linear_q(ops.conv(y, f"{name}_project", out_ch, 1, bn=True), f"{name}_project")
    if stride == 1 and in_ch == out_ch:
        y = ops.add([x, y], f"{name}_add")
    return y


def relu6(ops: Ops, x, name: str):
    return ops.relu6(x, name)


def _create_mobilenet_v2(ops: Ops, input_shape, classes: int, alpha: float, stem_stride: int, last_channels: int,
                         dropout: float):
    from tensorflow import keras

    inp = keras.Input(tuple(input_shape), name="image")
    x = ops.relu6(ops.conv(inp, "conv1", make_divisible(32 * alpha), 3, strides=stem_stride, bn=True), "conv1")
    b = 0
    for t, c, n, s in STAGES:
        for i in range(n):
            b += 1
            x = inverted_residual(ops, x, f"b{b}", make_divisible(c * alpha), t, 3, s if i == 0 else 1, relu6)
    last = make_divisible(last_channels * alpha) if alpha > 1.0 else last_channels
    x = ops.relu6(ops.conv(x, "conv_last", last, 1, bn=True), "conv_last")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = ops.dense(x, "fc", classes)
    return keras.Model(inp, x, name="mobilenet_v2")


@register("mobilenet_v2")
def mobilenet_v2(quant=None, input_shape=(224, 224, 3), classes: int = 1000, alpha: float = 1.0, stem_stride: int = 2,
                 last_channels: int = 1280, dropout: float = 0.2):
    """MobileNetV2; `last_channels` < 1280 shrinks the final 1x1 conv (small test variants)."""
    if alpha <= 0:
        raise ValueError("alpha must be > 0")
    return _create_mobilenet_v2(Ops(quant), input_shape, classes, alpha, stem_stride, last_channels, dropout)
