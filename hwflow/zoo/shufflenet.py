"""ShuffleNet v2 (Ma et al., 2018, arXiv:1807.11164).

Stem conv 3x3/2 -> max-pool -> three stages of units (4, 8, 4) -> conv 1x1 -> global average pool
-> dense (logits). Basic unit (stride 1): channel split in two halves; the second goes through
1x1 conv -> ReLU -> depthwise 3x3 -> 1x1 conv -> ReLU; concatenate with the first half; channel
shuffle (2 groups). Down-sampling unit (stride 2): both branches see the whole input (left:
depthwise 3x3/2 -> 1x1 conv -> ReLU), concatenate, shuffle. `width` picks the paper's channel
table (0.5, 1.0, 1.5, 2.0); other widths scale the 1.0 row (small test variants).

Split and shuffle are `ChannelSlice` / `ChannelShuffle` (hwflow.hls_ext.keras_layers): the usual
5-D reshape + transpose shuffle does not convert in hls4ml 1.3.0; hwflow.hls_ext turns these into
multiplier-free permutations. In the QKeras twin the linear depthwise outputs are quantized
(Ops.linear_q) so the following 1x1 convs keep narrow inputs. As in squeezenet.py, `pool_size: 2`
replaces the paper's overlapping 3x3/2 max-pool for io_stream.
"""

from __future__ import annotations

from hwflow.zoo import register
from hwflow.zoo.layers import Ops

REPEATS = (4, 8, 4)
CHANNELS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024), 1.5: (176, 352, 704, 1024),
            2.0: (244, 488, 976, 2048)}


def channels_for(width: float) -> tuple[int, int, int, int]:
    """The paper's table for 0.5/1.0/1.5/2.0; other widths scale the 1.0 row (even counts, for the split)."""
    if width in CHANNELS:
        return CHANNELS[width]
    if width <= 0:
        raise ValueError("width must be > 0")
    return tuple(2 * max(4, round(c * width / 2)) for c in CHANNELS[1.0][:3]) + (CHANNELS[1.0][3],)


def _unit(ops: Ops, x, name: str, out_ch: int, stride: int):
    from tensorflow import keras

    from hwflow.hls_ext.keras_layers import ChannelShuffle, ChannelSlice

    in_ch = int(x.shape[-1])
    half = out_ch // 2
    if stride == 1:
        left = ChannelSlice(0, in_ch // 2, name=f"{name}_split_l")(x)
        right = ChannelSlice(in_ch // 2, in_ch - in_ch // 2, name=f"{name}_split_r")(x)
    else:
        left = ops.linear_q(ops.depthwise(x, f"{name}_l_dw", 3, strides=2, bn=True), f"{name}_l_dw")
        left = ops.relu(ops.conv(left, f"{name}_l_pw", half, 1, bn=True), f"{name}_l_pw")
        right = x
    right = ops.relu(ops.conv(right, f"{name}_pw1", half, 1, bn=True), f"{name}_pw1")
    right = ops.linear_q(ops.depthwise(right, f"{name}_dw", 3, strides=stride, bn=True), f"{name}_dw")
    right = ops.relu(ops.conv(right, f"{name}_pw2", out_ch - half, 1, bn=True), f"{name}_pw2")
    x = keras.layers.Concatenate(name=f"{name}_concat")([left, right])
    return ChannelShuffle(2, name=f"{name}_shuffle")(x)


def _create_shufflenet_v2(ops: Ops, input_shape, classes: int, width: float, stem_stride: int, pool_size: int,
                          last_channels: int, dropout: float):
    from tensorflow import keras

    stages = channels_for(width)
    inp = keras.Input(tuple(input_shape), name="image")
    x = ops.relu(ops.conv(inp, "conv1", 24, 3, strides=stem_stride, bn=True), "conv1")
    x = keras.layers.MaxPooling2D(pool_size, strides=2, padding="same" if pool_size > 2 else "valid", name="pool1")(x)
    for s, (repeats, out_ch) in enumerate(zip(REPEATS, stages[:3])):
        for i in range(repeats):
            x = _unit(ops, x, f"s{s + 2}u{i + 1}", out_ch, 2 if i == 0 else 1)
    x = ops.relu(ops.conv(x, "conv5", last_channels or stages[3], 1, bn=True), "conv5")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = ops.dense(x, "fc", classes)
    return keras.Model(inp, x, name="shufflenet_v2")


@register("shufflenet")
def shufflenet(quant=None, input_shape=(224, 224, 3), classes: int = 1000, width: float = 1.0, stem_stride: int = 2,
               pool_size: int = 3, last_channels: int = 0, dropout: float = 0.0):
    """ShuffleNet v2 (`width` 0.5 / 1.0 / 1.5 / 2.0); `pool_size: 2` for io_stream configs; `last_channels`
    (0 = the paper's 1024/2048) shrinks conv5 for small variants."""
    return _create_shufflenet_v2(Ops(quant), input_shape, classes, float(width), stem_stride, pool_size, last_channels,
                                 dropout)
