"""MobileNet v1 (Howard et al., 2017, arXiv:1704.04861).

Stem conv 3x3/2 -> 13 depthwise-separable blocks (depthwise 3x3 -> BN -> ReLU -> pointwise
1x1 -> BN -> ReLU) -> global average pool -> dense classifier (logits; softmax on the host).
`alpha` is the width multiplier, any input resolution works (the network is convolutional
up to the global pool). The float model has BatchNorm; the QKeras twin is the BN-folded form.
"""

from __future__ import annotations

from hwflow.zoo import register
from hwflow.zoo.layers import Ops

# (pointwise filters, depthwise stride) of blocks 1..13
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1)]


def _ch(c: int, alpha: float) -> int:
    return max(8, int(c * alpha))


def _create_mobilenet(ops: Ops, input_shape, classes: int, alpha: float, depth: int, stem_stride: int,
                      dropout: float):
    from tensorflow import keras

    inp = keras.Input(tuple(input_shape), name="image")
    x = ops.relu(ops.conv(inp, "conv1", _ch(32, alpha), 3, strides=stem_stride, bn=True), "conv1")
    for i, (filters, stride) in enumerate(BLOCKS[:depth]):
        b = i + 1
        x = ops.relu(ops.depthwise(x, f"dw{b}", 3, strides=stride, bn=True), f"dw{b}")
        x = ops.relu(ops.conv(x, f"pw{b}", _ch(filters, alpha), 1, bn=True), f"pw{b}")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = ops.dense(x, "fc", classes)
    return keras.Model(inp, x, name="mobilenet_v1")


@register("mobilenet", choices={"depth": range(1, len(BLOCKS) + 1)})
def mobilenet(quant=None, input_shape=(224, 224, 3), classes: int = 1000, alpha: float = 1.0, depth: int = 13,
              stem_stride: int = 2, dropout: float = 0.001):
    """MobileNet v1; `depth` < 13 keeps only the first blocks (small test variants)."""
    if not 1 <= depth <= len(BLOCKS):
        raise ValueError(f"depth must be 1..{len(BLOCKS)}")
    return _create_mobilenet(Ops(quant), input_shape, classes, alpha, depth, stem_stride, dropout)
