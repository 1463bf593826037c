"""hwflow.sim.emulate: bit-exact against ap_fixed (g++) and against hls4ml's own C simulation."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hwflow.sim.emulate import FixedType, UnsupportedLayerError, cast_codes, cast_raw, from_float
from hwflow.sim.emulate.fixed import div_trunc

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
CIFAR = SHARED / "data" / "cifar10-jpg" / "test"


# --------------------------------------------------------------------- fast: cast semantics

# Codes with 2 fractional bits cast to 0 fractional bits: value = raw / 4.
#                   -2.75 -2.5 -2.25 -1.5 -0.5  0.5  1.5  2.25 2.5  2.75
SRC = np.array([-11, -10, -9, -6, -2, 2, 6, 9, 10, 11])
ROUNDING_EXPECTED = {
    "TRN":         [-3, -3, -3, -2, -1, 0, 1, 2, 2, 2],
    "TRN_ZERO":    [-2, -2, -2, -1, 0, 0, 1, 2, 2, 2],
    "RND":         [-3, -2, -2, -1, 0, 1, 2, 2, 3, 3],
    "RND_ZERO":    [-3, -2, -2, -1, 0, 0, 1, 2, 2, 3],
    "RND_INF":     [-3, -3, -2, -2, -1, 1, 2, 2, 3, 3],
    "RND_MIN_INF": [-3, -3, -2, -2, -1, 0, 1, 2, 2, 3],
    "RND_CONV":    [-3, -2, -2, -2, 0, 0, 2, 2, 2, 3],
}


@pytest.mark.parametrize("mode", sorted(ROUNDING_EXPECTED))
def test_rounding_modes_hand_computed(mode):
    t = FixedType(8, 8, True, mode, "WRAP")
    assert cast_raw(SRC, 2, t).tolist() == ROUNDING_EXPECTED[mode]


# ap_fixed<4,4> (range -8..7) and ap_ufixed<4,4> (0..15) from integers.
OVF_SRC = np.array([-20, -9, -8, -1, 0, 7, 8, 15, 16, 25])
SATURATION_EXPECTED = {
    ("WRAP", True):      [-4, 7, -8, -1, 0, 7, -8, -1, 0, -7],
    ("SAT", True):       [-8, -8, -8, -1, 0, 7, 7, 7, 7, 7],
    ("SAT_ZERO", True):  [0, 0, -8, -1, 0, 7, 0, 0, 0, 0],
    ("SAT_SYM", True):   [-7, -7, -7, -1, 0, 7, 7, 7, 7, 7],
    ("WRAP", False):     [12, 7, 8, 15, 0, 7, 8, 15, 0, 9],
    ("SAT", False):      [0, 0, 0, 0, 0, 7, 8, 15, 15, 15],
    ("SAT_ZERO", False): [0, 0, 0, 0, 0, 7, 8, 15, 0, 0],
    ("SAT_SYM", False):  [0, 0, 0, 0, 0, 7, 8, 15, 15, 15],
}


@pytest.mark.parametrize("mode,signed", sorted(SATURATION_EXPECTED))
def test_saturation_modes_hand_computed(mode, signed):
    t = FixedType(4, 4, signed, "TRN", mode)
    assert cast_raw(OVF_SRC, 0, t).tolist() == SATURATION_EXPECTED[(mode, signed)]


def test_rounding_carry_then_saturation():
    # 7.75 rounds up to 8, which overflows ap_fixed<4,4,RND,SAT> -> 7 and wraps -> -8.
    assert cast_raw(np.array([31]), 2, FixedType(4, 4, True, "RND", "SAT")).tolist() == [7]
    assert cast_raw(np.array([31]), 2, FixedType(4, 4, True, "RND", "WRAP")).tolist() == [-8]


def test_float_held_codes_cast_like_int64_codes():
    """cast_codes on float32/float64 arrays of exact integers (the emulator's fast representation)
    equals cast_raw (checked against g++ below) for every mode, widths up to 40 bits (the float64
    path) and the extremes of each source type."""
    import itertools

    from hwflow.sim.emulate.fixed import ROUNDING_MODES, SATURATION_MODES

    rng = np.random.default_rng(1)
    for (w2, i2, s2), (w, i, s) in itertools.product(
            [(16, 6, True), (12, 4, False), (22, 7, True), (30, 10, True), (40, 12, True)],
            [(8, 3, True), (8, 3, False), (5, 5, True), (22, 10, True), (24, 12, True), (16, 2, False)]):
        lo, hi = (-(1 << (w2 - 1)), 1 << (w2 - 1)) if s2 else (0, 1 << w2)
        raws = np.concatenate([rng.integers(lo, hi, 500), [lo, hi - 1, 0, 1, lo + 1, hi - 2, (lo + hi) // 2]])
        for q, o in itertools.product(ROUNDING_MODES, SATURATION_MODES):
            t = FixedType(w, i, s, q, o)
            expected = cast_raw(raws, w2 - i2, t)
            for dt in [d for d, m in ((np.float32, 24), (np.float64, 53)) if w2 <= m]:
                got = cast_codes(raws.astype(dt), w2 - i2, t, w2)
                assert np.array_equal(got, expected), f"{dt.__name__} codes of fixed<{w2},{i2}> to {t}"


def test_from_float_matches_hand_values():
    t = FixedType(8, 0, False, "RND_CONV", "SAT")  # the image input type: codes = x * 256
    x = np.array([0.0, 1 / 512, 3 / 512, 0.5, 0.99999, 1.5, -0.1])
    assert from_float(x, t).tolist() == [0, 0, 2, 128, 255, 255, 0]
    t2 = FixedType(6, 3, True, "TRN", "WRAP")
    assert from_float(np.array([-0.01, 3.9, 4.0, -4.125]), t2).tolist() == [-1, 31, -32, 31]


def test_div_trunc_truncates_toward_zero():
    assert div_trunc(np.array([-7, -6, 7, 36, -37]), 6).tolist() == [-1, -1, 1, 6, -6]


def test_invalid_type_is_a_typed_error():
    with pytest.raises(UnsupportedLayerError, match="width 2000 is outside 1..1024"):
        FixedType(2000, 10)
    with pytest.raises(UnsupportedLayerError, match="rounding mode 'RND_X'"):
        FixedType(8, 3, True, "RND_X")


# --------------------------------------------------------------------- slow: against g++

@pytest.mark.slow
def test_cast_and_float_conversion_match_gxx_ap_fixed(tmp_path):
    """Every rounding x saturation mode on 5 type pairs, 200 random codes and doubles each,
    against the ap_types headers hls4ml ships, compiled with g++."""
    import hls4ml

    ap_types = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    pairs = [((16, 6, True), (8, 3, True)), ((16, 6, True), (8, 3, False)),
             ((12, 4, False), (6, 4, True)), ((10, 2, True), (12, 5, True)),
             ((20, 4, True), (5, 5, True))]
    modes = [(q, o) for q in ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
             for o in ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")]
    rng = np.random.default_rng(0)
    n = 200
    cases, body = [], []
    for (w2, i2, s2), (w, i, s) in pairs:
        lo, hi = (-(1 << (w2 - 1)), 1 << (w2 - 1)) if s2 else (0, 1 << w2)
        raws = rng.integers(lo, hi, n)
        dbl = rng.normal(0, 2.0 ** i, n) * rng.choice([1, 1e-3, 10], n)
        dbl[:30] = np.round(dbl[:30] * 2 ** (w - i + 1)) / 2 ** (w - i + 1)  # exact ties
        for q, o in modes:
            cases.append(((w2, i2), FixedType(w, i, s, q, o), raws, dbl))
            st = f"ap_fixed_base<{w2},{i2},{str(s2).lower()}>"
            dt = f"ap_fixed_base<{w},{i},{str(s).lower()},AP_{q},AP_{o},0>"
            body.append(
                f"{{ long long r[] = {{{','.join(map(str, raws))}}}; "
                f"double d[] = {{{','.join(repr(float(v)) for v in dbl)}}};\n"
                f"for (int k = 0; k < {n}; k++) {{ {st} a; a.V = r[k]; {dt} b = a; {dt} c(d[k]); "
                f"printf(\"%lld %lld\\n\", (long long)b.V, (long long)c.V); }} }}")
    src = tmp_path / "check.cpp"
    src.write_text("#include <ap_fixed.h>\n#include <cstdio>\nint main() {\n" + "\n".join(body) + "\nreturn 0; }\n")
    exe = tmp_path / "check"
    subprocess.run(["g++", "-O0", "-I", str(ap_types), str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    got = np.array(out, dtype=np.int64).reshape(len(cases), n, 2)
    for k, ((w2, i2), t, raws, dbl) in enumerate(cases):
        codes = got[k] & ((1 << t.width) - 1)
        if t.signed:
            codes = np.where(codes >= 1 << (t.width - 1), codes - (1 << t.width), codes)
        assert np.array_equal(cast_raw(raws, w2 - i2, t), codes[:, 0]), f"cast to {t}"
        for dt in (np.float32, np.float64):  # the float-held codes of the convolution chain
            fcodes = cast_codes(raws.astype(dt), w2 - i2, t, w2)
            assert fcodes.dtype.kind == "f" and np.array_equal(fcodes, codes[:, 0]), f"{dt.__name__} codes to {t}"
        assert np.array_equal(from_float(dbl, t), codes[:, 1]), f"double to {t}"


# --------------------------------------------------------------------- slow: against C-sim

def _cifar_images(count: int) -> np.ndarray:
    from PIL import Image

    paths = sorted(CIFAR.glob("*/0000.jpg"))[:count]
    assert len(paths) == count, f"expected {count} CIFAR images under {CIFAR}"
    return np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 256 for p in paths])


def _random_weights(model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            g, b, mu, var = layer.get_weights()
            layer.set_weights([g, b, mu, np.abs(var) + 0.5])


def _squeeze_parallel():
    """io_parallel / Latency: same-padded conv, 3x3 s2 max pool, a fire module, unfused
    batch norm, strided depthwise, GAP, dense; non-default modes on several casts."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    L = tf.keras.layers
    q = quantized_bits(8, 0, alpha=1)
    i = L.Input((32, 32, 3), name="input_1")
    x = QConv2D(8, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="conv1")(i)
    x = QActivation(quantized_relu(8, 3), name="relu1")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool1")(x)
    s = QActivation(quantized_relu(6, 2), name="sq_relu")(
        QConv2D(4, 1, kernel_quantizer=q, bias_quantizer=q, name="sq")(x))
    a = QActivation(quantized_relu(8, 3), name="e1_relu")(
        QConv2D(4, 1, kernel_quantizer=q, bias_quantizer=q, name="e1")(s))
    b = QActivation(quantized_relu(8, 3), name="e3_relu")(
        QConv2D(4, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="e3")(s))
    x = L.Concatenate(name="cat")([a, b])
    x = L.BatchNormalization(name="bn")(x)
    x = QDepthwiseConv2D(3, strides=2, padding="same", depthwise_quantizer=q, bias_quantizer=q, name="dw")(x)
    x = QActivation(quantized_relu(8, 3), name="dw_relu")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = QDense(10, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    model = tf.keras.Model(i, x)
    precisions = {
        ("conv1", "result"): "fixed<12,4,RND,SAT>",
        ("sq", "result"): "fixed<10,3,RND_ZERO,SAT_SYM>",
        ("e3", "result"): "fixed<10,3,RND_INF,SAT_ZERO>",
        ("e1", "result"): "fixed<9,3,RND_MIN_INF,WRAP>",
        ("gap", "accum"): "fixed<10,6,RND_CONV,SAT>",   # rounds every step, saturates
        ("fc", "accum"): "fixed<24,10,RND_CONV,WRAP>",  # fewer fractional bits than the products
        ("bn", "result"): "fixed<12,5,TRN_ZERO,SAT>",
    }
    return model, "io_parallel", "Latency", precisions, {}


def _squeeze_stream():
    """io_stream / Resource with reuse factors > 1: 2x2 max and average pooling, fire module,
    residual Add, ReLU, depthwise, GAP with a narrow wrapping accumulator, dense."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, QDepthwiseConv2D, quantized_bits, quantized_relu

    L = tf.keras.layers
    q = quantized_bits(8, 0, alpha=1)
    i = L.Input((32, 32, 3), name="input_1")
    x = QConv2D(8, 3, strides=2, padding="same", kernel_quantizer=q, bias_quantizer=q, name="conv1")(i)
    x = QActivation(quantized_relu(8, 3), name="relu1")(x)
    x = L.MaxPooling2D(2, name="pool1")(x)
    s = QActivation(quantized_relu(6, 2), name="sq_relu")(
        QConv2D(4, 1, kernel_quantizer=q, bias_quantizer=q, name="sq")(x))
    a = QActivation(quantized_relu(8, 3), name="e1_relu")(
        QConv2D(4, 1, kernel_quantizer=q, bias_quantizer=q, name="e1")(s))
    b = QActivation(quantized_relu(8, 3), name="e3_relu")(
        QConv2D(4, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="e3")(s))
    x = L.Concatenate(name="cat")([a, b])
    y = QDepthwiseConv2D(3, padding="same", depthwise_quantizer=q, bias_quantizer=q, name="dw")(x)
    y = L.Activation("relu", name="dw_relu")(y)
    x = L.Add(name="add")([x, y])
    x = L.AveragePooling2D(2, name="avg")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = QDense(10, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    model = tf.keras.Model(i, x)
    precisions = {
        ("conv1", "result"): "fixed<12,4,RND_CONV,SAT>",
        ("add", "result"): "fixed<10,4,RND,SAT_SYM>",
        ("avg", "result"): "fixed<9,4,RND_INF,SAT>",
        ("avg", "accum"): "fixed<12,6,TRN,WRAP>",
        ("gap", "accum"): "fixed<10,3,TRN,WRAP>",  # overflows: the firmware wraps
        ("dw", "result"): "fixed<14,5,RND_MIN_INF,SAT_ZERO>",
    }
    reuse = {"conv1": 9, "e3": 4, "sq": 2, "fc": 8}
    return model, "io_stream", "Resource", precisions, reuse


def _lut_activations(io_type: str):
    """sigmoid and tanh lookup tables (table types with rounding and saturation, a non-default
    table size) on conv outputs spanning both tables' ranges, then GAP and dense."""
    import tensorflow as tf
    from qkeras import QConv2D, QDense, quantized_bits

    L = tf.keras.layers
    q = quantized_bits(8, 0, alpha=1)
    i = L.Input((32, 32, 3), name="input_1")
    x = QConv2D(8, 3, strides=2, kernel_quantizer=q, bias_quantizer=q, name="conv1")(i)
    x = L.Activation("sigmoid", name="sig")(x)
    x = QConv2D(8, 3, strides=2, kernel_quantizer=q, bias_quantizer=q, name="conv2")(x)
    x = L.Activation("tanh", name="th")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = QDense(10, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    model = tf.keras.Model(i, x)
    precisions = {
        ("conv1", "result"): "fixed<14,5,RND,SAT>",
        ("conv2", "result"): "fixed<12,3>",
        ("gap", "accum"): "fixed<20,8>",
    }
    tables = {"sig": {"TableSize": 512, "table_t": "ufixed<10,1,RND_CONV,SAT>"}, "th": {"table_t": "fixed<12,2,RND,SAT>"}}
    return model, io_type, "Latency", precisions, {}, tables


def _convert(builder, out_dir):
    import hls4ml

    model, io_type, strategy, precisions, reuse, *extra = builder()
    _random_weights(model, seed=3)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    cfg["Model"]["Strategy"] = strategy
    cfg["LayerName"]["input_1"]["Precision"]["result"] = "ufixed<8,0,RND_CONV,SAT>"
    for (name, key), prec in precisions.items():
        cfg["LayerName"][name]["Precision"][key] = prec
    for name, rf in reuse.items():
        cfg["LayerName"][name]["ReuseFactor"] = rf
    if strategy == "Resource":
        cfg["LayerName"]["dw"]["Strategy"] = "Latency"
    for name, attrs in (extra[0] if extra else {}).items():  # hls4ml config keys, as they are
        cfg["LayerName"][name].update(attrs)
    return hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", io_type=io_type, output_dir=str(out_dir))


@pytest.mark.slow
@pytest.mark.parametrize("builder", [_squeeze_parallel, _squeeze_stream, lambda: _lut_activations("io_parallel"),
                                     lambda: _lut_activations("io_stream")],
                         ids=["parallel", "stream", "lut-parallel", "lut-stream"])
def test_emulate_equals_csim_bit_for_bit(builder, tmp_path):
    from hwflow.sim.emulate import emulate

    hls_model = _convert(builder, tmp_path / "prj")
    hls_model.compile()
    rng = np.random.default_rng(7)
    x_rand = (rng.integers(0, 256, (64, 32, 32, 3)) / 256).astype(np.float32)
    x = np.concatenate([x_rand, _cifar_images(10)])
    expected = hls_model.predict(x)
    got = emulate(hls_model, x).reshape(expected.shape)
    assert np.unique(expected).size > 20  # a real spread of outputs, not all zeros or saturated
    mismatches = int(np.sum(got.astype(expected.dtype) != expected))
    assert mismatches == 0, f"{mismatches} of {expected.size} outputs differ"
    # A perturbed weight must be visible (the comparison is not vacuous).
    layer = next(layer for layer in hls_model.get_layers() if layer.name == "fc")
    layer.weights["bias"].data = layer.weights["bias"].data + 2 ** -6
    assert not np.array_equal(emulate(hls_model, x).reshape(expected.shape), expected)


@pytest.mark.slow
def test_unsupported_layer_is_named(tmp_path):
    import hls4ml
    import tensorflow as tf

    from hwflow.sim.emulate import check_supported

    i = tf.keras.layers.Input((8, 2))
    x = tf.keras.layers.Conv1D(4, 3, name="c1d")(i)
    model = tf.keras.Model(i, x)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", output_dir=str(tmp_path / "prj"))
    with pytest.raises(UnsupportedLayerError, match="'c1d' of type Conv1D is not emulated; supported: Activation"):
        check_supported(hls_model)


# ------------------------------------------- issue 18: concatenate axes, two inputs, more layer kinds

class _FakeLayer:
    """The few ModelGraph layer methods the emulator's graph walker and concatenate use."""

    def __init__(self, name, attrs, shape=None):
        self.name, self.class_name, self.attributes, self._shape = name, "Concatenate", attrs, shape

    def get_attr(self, key, default=None):
        return self.attributes.get(key, default)

    def get_output_variable(self):
        return type("Var", (), {"shape": self._shape})()


@pytest.mark.parametrize("rank,axis,expected", [
    (3, 1, 1), (3, 2, 2), (3, 3, 3), (3, -1, 3), (3, -2, 2), (3, -3, 1),
    (2, 1, 1), (2, 2, 2), (2, -1, 2), (2, -2, 1), (1, -1, 1), (1, 1, 1)])
def test_concatenate_axis_counts_the_batch(rank, axis, expected):
    """hls4ml 1.3.0 keeps Keras's axis (batch = 0); nnet_merge.h picks the joined axis from it."""
    from hwflow.sim.emulate.layers import Tensor, _concat_axis, concatenate

    assert _concat_axis(_FakeLayer("cat", {"axis": axis}), rank) == expected
    t = FixedType(8, 3)
    a = Tensor(np.arange(2 * 3 ** rank).reshape(2, *[3] * rank), t)
    layer = _FakeLayer("cat", {"axis": axis})
    layer.types = {}
    layer.get_output_variable = lambda: type("V", (), {"type": type("T", (), {"precision": _prec(t)})()})()
    out = concatenate(layer, [a, a], None)
    assert out.raw.shape[expected] == 6 and np.array_equal(np.concatenate([a.raw, a.raw], axis=expected), out.raw)


def _prec(t: FixedType):
    from hls4ml.model.types import FixedPrecisionType

    return FixedPrecisionType(t.width, t.integer, t.signed)


def test_result_shape_must_equal_the_declared_shape():
    from hwflow.sim.emulate.graph import _check_shape
    from hwflow.sim.emulate.layers import Tensor

    t = Tensor(np.zeros((2, 4, 6, 2)), FixedType(8, 3))
    _check_shape(_FakeLayer("ok", {}, [4, 6, 2]), t)
    with pytest.raises(UnsupportedLayerError, match=r"layer 'cat1' \(Concatenate\): emulated result has shape "
                                                    r"\(4, 6, 2\), hls4ml declares \(8, 6, 2\)"):
        _check_shape(_FakeLayer("cat1", {}, [8, 6, 2]), t)
    # a pending zero padding counts
    _check_shape(_FakeLayer("zp", {}, [6, 8, 2]), Tensor(np.zeros((2, 4, 6, 2)), FixedType(8, 3), (1, 1, 0, 2)))


def _q():
    from qkeras import quantized_bits

    return quantized_bits(8, 0, alpha=1)


def _concat_axes_parallel():
    """Two inputs; Concatenate on every 3-D axis (1, 2, 3, -1, -2, -3) and every 2-D axis (after
    Reshape), each flattened and joined (1-D concatenates) into one dense layer."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_relu

    L, q = tf.keras.layers, _q()
    i1, i2 = L.Input((4, 6, 3), name="in_a"), L.Input((4, 6, 3), name="in_b")
    a = QActivation(quantized_relu(8, 3), name="ra")(QConv2D(2, 1, kernel_quantizer=q, bias_quantizer=q, name="ca")(i1))
    b = QActivation(quantized_relu(8, 3), name="rb")(QConv2D(2, 1, kernel_quantizer=q, bias_quantizer=q, name="cb")(i2))
    tag = lambda ax: str(ax).replace("-", "m")  # noqa: E731
    outs = [L.Flatten(name=f"f{tag(ax)}")(L.Concatenate(axis=ax, name=f"cat{tag(ax)}")([a, b]))
            for ax in (1, 2, 3, -1, -2, -3)]
    r1 = L.Reshape((24, 4), name="r1")(L.Concatenate(axis=-1, name="c3d")([a, b]))
    r2 = L.Reshape((24, 4), name="r2")(L.Concatenate(axis=-2, name="c3e")([a, b]))
    outs += [L.Flatten(name=f"g{tag(ax)}")(L.Concatenate(axis=ax, name=f"c2d{tag(ax)}")([r1, r2])) for ax in (1, 2, -1, -2)]
    x = outs[0]
    for k, o in enumerate(outs[1:]):
        x = L.Concatenate(name=f"j{k}")([x, o])
    x = QDense(10, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    return tf.keras.Model([i1, i2], x), "io_parallel"


def _concat_axes_stream():
    """io_stream (at most 7 clones of a tensor): every 3-D axis, each followed by a 1x1 conv and
    Flatten so that any misplaced pixel changes the dense outputs."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_relu

    L, q = tf.keras.layers, _q()
    i1, i2 = L.Input((4, 6, 3), name="in_a"), L.Input((4, 6, 3), name="in_b")
    a = QActivation(quantized_relu(8, 3), name="ra")(QConv2D(2, 1, kernel_quantizer=q, bias_quantizer=q, name="ca")(i1))
    b = QActivation(quantized_relu(8, 3), name="rb")(QConv2D(2, 1, kernel_quantizer=q, bias_quantizer=q, name="cb")(i2))
    outs = []
    for ax in (1, 2, -1, -2, -3):
        tag = str(ax).replace("-", "m")
        c = L.Concatenate(axis=ax, name=f"cat{tag}")([a, b])
        c = QConv2D(2, 1, kernel_quantizer=q, bias_quantizer=q, name=f"k{tag}")(c)
        outs.append(L.Flatten(name=f"fl{tag}")(c))
    x = outs[0]
    for k, o in enumerate(outs[1:]):
        x = L.Concatenate(name=f"j{k}")([x, o])
    x = QDense(10, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    return tf.keras.Model([i1, i2], x), "io_stream"


def _constructs(io_type):
    """QConv2DBatchnorm, LeakyReLU, quantized_bits(8, 0) (alpha None) and alpha='auto_po2'
    (ApplyAlpha with power-of-two scales 1/8, 1/16), ELU, UpSampling2D (Resize), PReLU,
    ThresholdedReLU, quantized_tanh / quantized_sigmoid (HardActivation), Flatten, dense."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QConv2DBatchnorm, QDense, quantized_bits, quantized_sigmoid, quantized_tanh

    L, q = tf.keras.layers, _q()
    i = L.Input((8, 8, 3), name="input_1")
    x = QConv2DBatchnorm(6, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="cbn")(i)
    x = L.LeakyReLU(0.1, name="leaky")(x)
    x = QConv2D(6, 3, padding="same", kernel_quantizer=quantized_bits(8, 0), bias_quantizer=q, name="c2")(x)
    x = L.ELU(0.7, name="elu")(x)
    x = L.UpSampling2D(2, name="up")(x)
    x = QConv2D(6, 3, strides=2, kernel_quantizer=quantized_bits(8, 0, alpha="auto_po2"), bias_quantizer=q, name="c3")(x)
    x = L.PReLU(name="prelu")(x)
    x = L.ThresholdedReLU(0.2, name="thr")(x)
    x = QActivation(quantized_tanh(8), name="qtanh")(x)
    x = QConv2D(6, 3, kernel_quantizer=q, bias_quantizer=q, name="c4")(x)
    x = QActivation(quantized_sigmoid(8), name="qsig")(x)
    x = L.Flatten(name="flat")(x)
    x = QDense(10, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    return tf.keras.Model(i, x), io_type


@pytest.mark.slow
@pytest.mark.parametrize("builder", [_concat_axes_parallel, _concat_axes_stream, lambda: _constructs("io_parallel"),
                                     lambda: _constructs("io_stream")],
                         ids=["concat-parallel", "concat-stream", "constructs-parallel", "constructs-stream"])
def test_issue18_models_equal_csim(builder, tmp_path):
    import hls4ml

    from hwflow.sim.emulate import emulate

    model, io_type = builder()
    rng = np.random.default_rng(3)
    # small c2/c3 kernels: their power-of-two alphas become 1/8 and 1/16 (right shifts)
    model.set_weights([np.abs(v) + 0.5 if "variance" in w.name else v * (0.06 if w.name.startswith(("c2/k", "c3/k")) else 1)
                       for w in model.weights for v in [rng.normal(0, 0.5, w.shape).astype(np.float32)]])
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", io_type=io_type, output_dir=str(tmp_path / "prj"))
    kinds = {layer.class_name for layer in hls_model.get_layers()}
    if "c3" in hls_model.graph:
        assert {"Conv2DBatchnorm", "ParametrizedActivation", "PReLU", "HardActivation", "Resize", "ApplyAlpha"} <= kinds
        scales = np.asarray(hls_model.graph["c3_alpha"].weights["scale"].data).reshape(-1)
        assert set(scales.tolist()) - {1.0}  # real shifts
    hls_model.compile()
    xs = [(rng.integers(-256, 256, (48, *i.shape[1:])) / 64).astype(np.float32) for i in model.inputs]
    x = xs if len(xs) > 1 else xs[0]
    expected = hls_model.predict(x)
    got = emulate(hls_model, x).reshape(expected.shape).astype(expected.dtype)  # C-sim returns float32
    assert np.unique(expected).size > 100
    assert int(np.sum(got != expected)) == 0, f"{int(np.sum(got != expected))} of {expected.size} outputs differ"
    layer = hls_model.graph["fc"]
    layer.weights["bias"].data = layer.weights["bias"].data + 2 ** -6
    assert not np.array_equal(emulate(hls_model, x).reshape(expected.shape), expected)


@pytest.mark.slow
@pytest.mark.parametrize("io_type,impl,custom", [
    ("io_parallel", "stable", True), ("io_stream", "stable", False), ("io_parallel", "latency", False),
    ("io_stream", "latency", True), ("io_stream", "argmax", False)])
def test_softmax_tables_equal_csim(tmp_path, io_type, impl, custom):
    """Softmax's exp and invert tables, adder tree and product, against C-sim on 300 random inputs
    spread over the table's range; `custom`: rounding/saturating table types, a 512-entry table."""
    import hls4ml
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    from hwflow.sim.emulate import emulate

    i = tf.keras.layers.Input((16,), name="inp")
    x = QDense(10, kernel_quantizer=quantized_bits(8, 0, alpha=1), bias_quantizer=quantized_bits(8, 0, alpha=1),
               name="fc")(i)
    model = tf.keras.Model(i, tf.keras.layers.Activation("softmax", name="sm")(x))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 1.0, w.shape).astype(np.float32) for w in model.get_weights()])
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    sm = cfg["LayerName"]["sm"]
    sm["Implementation"] = impl
    if custom:
        sm.update(exp_table_t="ap_fixed<16,7,AP_RND,AP_SAT>", inv_table_t="ap_ufixed<14,4,AP_RND_CONV,AP_SAT>",
                  TableSize=512)
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", io_type=io_type, output_dir=str(tmp_path / "prj"))
    if custom:
        assert str(hls_model.graph["sm"].types["exp_table_t"].precision).startswith("fixed<16,7,RND,SAT")
    hls_model.compile()
    x_in = (rng.integers(-512, 512, (300, 16)) / 128).astype(np.float32)
    expected = hls_model.predict(x_in)
    got = emulate(hls_model, x_in).reshape(expected.shape)
    assert np.unique(expected).size >= (2 if impl == "argmax" else 12)
    assert int(np.sum(got != expected)) == 0


# ------------------------------------------- issue 18: accumulators wider than int64 (Python ints)

def _wide_auto(io_type):
    """hls4ml's `auto` types on chained layers without quantized activations grow past 64 bits:
    3 x conv 3x3 -> conv 1x1 -> Add of the last two -> max pool -> Flatten -> dense (accum > 100 bits, its
    result cast to a rounding, saturating 18-bit type), a wide dense next to a relu'd one, Concatenate
    of the two, dense (auto, > 100 bits)."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    L = tf.keras.layers
    q = quantized_bits(16, 6, alpha=1)
    i = L.Input((6, 6, 2), name="input_1")
    x = QConv2D(3, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="c1")(i)
    x = QConv2D(3, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="c2")(x)
    a = QConv2D(3, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="c3")(x)
    b = QConv2D(3, 1, kernel_quantizer=q, bias_quantizer=q, name="c4")(a)
    x = L.Add(name="add")([a, b])
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Flatten(name="flat")(x)
    d = QDense(12, kernel_quantizer=q, bias_quantizer=q, name="d1")(x)
    r = QActivation(quantized_relu(10, 4), name="r1")(QDense(8, kernel_quantizer=q, bias_quantizer=q, name="d2")(d))
    w = QDense(8, kernel_quantizer=q, bias_quantizer=q, name="d3")(x)
    x = L.Concatenate(name="cat")([r, w])
    x = QDense(5, kernel_quantizer=q, bias_quantizer=q, name="fc")(x)
    return tf.keras.Model(i, x), io_type


@pytest.mark.slow
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_accumulators_wider_than_int64_equal_csim(io_type, tmp_path):
    """Bit-exact against C-sim (double and float outputs) on a model whose `auto` types reach
    70-140 bits; those layers run on Python ints, the narrow ones stay int64/float."""
    import hls4ml

    from hwflow.sim.emulate import emulate
    from hwflow.sim.emulate.graph import wide_reason  # noqa: F401  (the rule under test)

    model, io_type = _wide_auto(io_type)
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 1.5, w.shape).astype(np.float32) for w in model.get_weights()])
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    cfg["LayerName"]["input_1"]["Precision"]["result"] = "fixed<16,6>"
    cfg["LayerName"]["d1"]["Precision"]["result"] = "fixed<18,8,RND_CONV,SAT>"
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", io_type=io_type, output_dir=str(tmp_path / "prj"))
    widths = {layer.name: layer.get_output_variable().type.precision.width for layer in hls_model.get_layers()}
    assert widths["c3"] > 64 and widths["add"] > 100 and widths["cat"] > 100 and widths["d1"] == 18, widths
    hls_model.compile()
    x = rng.normal(0, 8, (64, 6, 6, 2))
    expected = hls_model.predict(x)  # double in, to_double out
    got = emulate(hls_model, x).reshape(expected.shape)
    assert np.unique(expected).size > 200
    assert int(np.sum(got != expected)) == 0, f"{int(np.sum(got != expected))} of {expected.size} outputs differ"
    x32 = x.astype(np.float32)
    expected32 = hls_model.predict(x32)  # float in, to_float out
    assert np.array_equal(emulate(hls_model, x32).reshape(expected32.shape).astype(np.float32), expected32)
    layer = hls_model.graph["c3"]  # a one-code change of a wide layer's bias shows
    layer.weights["bias"].data = layer.weights["bias"].data + 2 ** -9
    assert not np.array_equal(emulate(hls_model, x).reshape(expected.shape), expected)


def test_wide_casts_equal_int64_casts_and_are_exact():
    """The Python-int path (object codes) gives the int64 path's codes wherever both apply, and
    exact codes beyond int64 (checked against hand-computed big values)."""
    from hwflow.sim.emulate.fixed import ROUNDING_MODES, SATURATION_MODES

    rng = np.random.default_rng(2)
    raws = rng.integers(-(1 << 40), 1 << 40, 3000)
    for mode in ROUNDING_MODES:
        for sat in SATURATION_MODES:
            for shift in (7, 0, -5):
                t = FixedType(30, 10, True, mode, sat)
                narrow = cast_raw(raws, t.frac + shift, t)
                wide = cast_raw(raws.astype(object), t.frac + shift, t)
                assert wide.dtype == np.int64 and np.array_equal(narrow, wide), (mode, sat, shift)
    big = np.array([(1 << 100) + 3, -(1 << 90) - 1, 5], dtype=object)
    t = FixedType(96, 40, True, "RND", "WRAP")  # drop 2 fractional bits, then wrap at 96 bits
    got = cast_raw(big, t.frac + 2, t)
    assert got.dtype == object
    assert got.tolist() == [((1 << 98) + 1) % (1 << 96), -(1 << 88), 1]
    assert cast_raw(big, 0, FixedType(70, 70, True, "TRN", "SAT")).tolist() == [(1 << 69) - 1, -(1 << 69), 5]
    # a left shift past int64 into a saturating narrow type saturates (no silent int64 wrap)
    assert cast_raw(np.array([3, -3]), 0, FixedType(20, 0, True, "TRN", "SAT")).tolist() == [(1 << 19) - 1, -(1 << 19)]
    assert from_float(np.array([2.0 ** 70 + 2.0 ** 20, -1.5]), FixedType(100, 80)).tolist() == \
        [(1 << 90) + (1 << 40), -(3 << 19)]


def test_wide_layer_without_python_int_kernel_is_refused_by_name():
    from hwflow.sim.emulate.graph import _wide_inputs, wide_reason
    from hwflow.sim.emulate.layers import Tensor

    class Layer(_FakeLayer):
        types, weights = {}, {}

    t = Tensor(np.zeros((2, 4), np.int64), FixedType(80, 40))
    sm = Layer("probs", {})
    sm.class_name = "Softmax"
    reason = wide_reason(sm, [t])
    assert reason == "fixed<80,40,TRN,WRAP> is wider than 62 bits"
    with pytest.raises(UnsupportedLayerError, match=r"layer 'probs' \(Softmax\): fixed<80,40,TRN,WRAP> is wider "
                                                    r"than 62 bits; arbitrary-width emulation covers"):
        _wide_inputs(sm, [t], reason)
    act = Layer("act", {"activation": "sigmoid"})
    act.class_name = "Activation"
    with pytest.raises(UnsupportedLayerError, match=r"layer 'act' \(Activation\(sigmoid\)\)"):
        _wide_inputs(act, [t], reason)
    relu = Layer("r", {"activation": "relu"})
    relu.class_name = "Activation"
    assert _wide_inputs(relu, [t], reason)[0].raw.dtype == object
    assert wide_reason(relu, [Tensor(np.zeros((2, 4)), FixedType(16, 6))]) is None


@pytest.mark.slow
def test_refusals_name_the_layer(tmp_path):
    """On a converted model (no compile needed): a sigmoid table on a 100-bit input is refused
    naming it; a saturating accumulator the emulator cannot order names its dense layer."""
    import hls4ml
    import tensorflow as tf
    from qkeras import QDense, quantized_bits

    from hwflow.sim.emulate import emulate

    L, q = tf.keras.layers, quantized_bits(16, 6, alpha=1)
    i = L.Input((8,), name="inp")
    x = QDense(8, kernel_quantizer=q, bias_quantizer=q, name="d1")(i)
    x = QDense(8, kernel_quantizer=q, bias_quantizer=q, name="d2")(x)
    x = QDense(8, kernel_quantizer=q, bias_quantizer=q, name="d3")(x)
    x = L.Activation("sigmoid", name="sig")(x)
    model = tf.keras.Model(i, L.Activation("softmax", name="sm")(x))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    cfg["LayerName"]["inp"]["Precision"]["result"] = "fixed<16,6>"
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", output_dir=str(tmp_path / "prj"))
    assert hls_model.graph["d3"].get_output_variable().type.precision.width > 64
    with pytest.raises(UnsupportedLayerError, match=r"layer 'sig' \(Activation\(sigmoid\)\): fixed<\d+,\d+,TRN,WRAP> is "
                                                    r"wider than 62 bits"):
        emulate(hls_model, np.zeros((2, 8)))
    cfg["LayerName"]["d2"]["Precision"]["accum"] = "fixed<20,8,TRN,SAT>"
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", output_dir=str(tmp_path / "prj2"))
    with pytest.raises(UnsupportedLayerError, match=r"layer 'd2': accum_t fixed<20,8,TRN,SAT> .*not emulated"):
        emulate(hls_model, np.zeros((2, 8)))
