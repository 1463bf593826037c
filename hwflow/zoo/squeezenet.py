"""SqueezeNet v1.0 and v1.1 (Iandola et al., 2016, arXiv:1602.07360).

Fire module: squeeze 1x1 -> (expand 1x1 | expand 3x3) -> concatenate, ReLU after every conv.
Late downsampling as in the paper: max-pools after conv1, fire4, fire8 (v1.0) or after conv1,
fire3, fire5 (v1.1); conv10 (1x1, one channel per class) -> ReLU -> global average pool.

Adaptation for hls4ml (the only one): the paper's overlapping 3x3/2 max-pool aborts hls4ml
1.3.0's C-simulation in io_stream, so `pool_size=2` (2x2/2, same output size up to rounding)
is what the io_stream configs use; `pool_size=3` keeps the paper's pooling and is fine in
io_parallel. `hwflow check` refuses 3x3/2 pooling with io_stream.
The logits are the global-average-pool output; softmax is applied on the host (it does not
change the argmax, and hls4ml's softmax lookup table moves probabilities by ~0.02).
"""

from __future__ import annotations

from hwflow.zoo import register
from hwflow.zoo.layers import Ops

# (squeeze, expand) channels of fire2..fire9 before the width multiplier (same in 1.0 and 1.1)
FIRES = [(16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256)]
# fire index after which a max-pool follows (the first pool follows conv1 in both variants)
POOL_AFTER = {"1.0": (4, 8), "1.1": (3, 5)}
STEM = {"1.0": (96, 7), "1.1": (64, 3)}  # conv1 filters, kernel


def _ch(c: int, width: float) -> int:
    return max(4, int(round(c * width)))


def _fire(ops: Ops, x, idx: int, squeeze: int, expand: int, bn: bool):
    from tensorflow import keras

    p = f"fire{idx}"
    s = ops.relu(ops.conv(x, f"{p}_squeeze", squeeze, 1, bn=bn), f"{p}_squeeze")
    e1 = ops.relu(ops.conv(s, f"{p}_expand1x1", expand, 1, bn=bn), f"{p}_expand1x1")
    e3 = ops.relu(ops.conv(s, f"{p}_expand3x3", expand, 3, padding="same", bn=bn), f"{p}_expand3x3")
    return keras.layers.Concatenate(name=f"{p}_concat")([e1, e3])


def _create_squeezenet(ops: Ops, variant: str, input_shape, classes: int, width: float, pool_size: int,
                       stem_stride: int, batchnorm: bool, dropout: float, depth: int = len(FIRES)):
    from tensorflow import keras

    if variant not in POOL_AFTER:
        raise ValueError(f"variant must be one of {sorted(POOL_AFTER)}")
    if not 1 <= int(depth) <= len(FIRES):
        raise ValueError(f"depth (fire modules) must be 1..{len(FIRES)}")
    stem_filters, stem_kernel = STEM[variant]
    inp = keras.Input(tuple(input_shape), name="image")
    x = ops.relu(ops.conv(inp, "conv1", _ch(stem_filters, width), stem_kernel, strides=stem_stride,
                          padding="same", bn=batchnorm), "conv1")

    def pool(x, n):
        return keras.layers.MaxPooling2D(pool_size, strides=2, padding="valid", name=f"pool{n}")(x)

    x = pool(x, 1)
    for i, (sq, ex) in enumerate(FIRES[:int(depth)]):
        idx = i + 2
        x = _fire(ops, x, idx, _ch(sq, width), _ch(ex, width), batchnorm)
        if idx in POOL_AFTER[variant]:
            x = pool(x, idx)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = ops.relu(ops.conv(x, "conv10", classes, 1, bn=False), "conv10")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, x, name=f"squeezenet_{variant.replace('.', '_')}")


@register("squeezenet", choices={"variant": tuple(POOL_AFTER)})
def squeezenet(quant=None, variant: str = "1.1", input_shape=(224, 224, 3), classes: int = 1000,
               width: float = 1.0, pool_size: int = 3, stem_stride: int = 2, batchnorm: bool = False,
               dropout: float = 0.5, depth: int = len(FIRES)):
    """SqueezeNet; `quant` (QuantPlan) selects the QKeras twin. Output: logits (no softmax).
    `depth`: the first `depth` fire modules (fire2..), for small members of the family."""
    return _create_squeezenet(Ops(quant), str(variant), input_shape, classes, width, pool_size, stem_stride,
                              batchnorm, dropout, depth)
