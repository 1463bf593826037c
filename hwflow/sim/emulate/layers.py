"""One function per hls4ml layer class: (layer, input tensors, ctx) -> output tensor.

Each function reproduces the cast points of the nnet_utils C++ template that hls4ml 1.3.0
instantiates for that layer (Vitis/Vivado backends, io_parallel and io_stream); the template
is named in each docstring. Tensors are `Tensor(raw integer codes, FixedType)` with the batch
as axis 0 and hls4ml's channels_last layout after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hwflow.sim.emulate.fixed import (
    FixedType, UnsupportedLayerError, cast_codes, cast_raw, div_trunc, fit_scaled, float_dtype, from_float,
    from_float32_codes, mult_type, to_object,
)


@dataclass
class Tensor:
    """Codes of a fixed-point tensor: int64, or (for the convolution/activation chain, where it
    saves conversions around the float kernels) float32/float64 holding exact integers, or (in
    layers whose widths exceed int64, see graph.wide_reason) object arrays of Python ints."""

    raw: np.ndarray
    type: FixedType
    # zeros (top, bottom, left, right) still to add around raw: a ZeroPadding2D whose convolution
    # pads inside its kernel call instead of copying the tensor (see padded())
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape with the pending padding counted in (N, H, W, C)."""
        if not any(self.pad):
            return tuple(self.raw.shape)
        n, h, w, c = self.raw.shape
        pt, pb, pl, pr = self.pad
        return (n, h + pt + pb, w + pl + pr, c)

    def to(self, t: FixedType) -> "Tensor":
        if t == self.type:
            return self
        x = self.padded()
        return Tensor(cast_codes(x.raw, x.type.frac, t, x.type.width), t)

    def ints(self) -> "Tensor":
        if self.raw.dtype == np.int64 or self.raw.dtype == object:
            return self
        return Tensor(self.raw.astype(np.int64), self.type, self.pad)

    def objects(self) -> "Tensor":
        """The codes as Python ints (exact at any width)."""
        return Tensor(to_object(self.raw), self.type, self.pad)

    def padded(self) -> "Tensor":
        """The tensor with its pending zero padding materialised."""
        return Tensor(_pad_codes(self.raw, self.pad), self.type) if any(self.pad) else self


@dataclass(frozen=True)
class Context:
    io_type: str  # io_parallel | io_stream


def fixed_type(precision, where: str) -> FixedType:
    """hls4ml PrecisionType -> FixedType; anything not plain ap_fixed/ap_int is unsupported."""
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    if not isinstance(precision, (FixedPrecisionType, IntegerPrecisionType)):
        raise UnsupportedLayerError(
            f"{where}: precision {precision} ({type(precision).__name__}) is not emulated")
    width = int(precision.width)
    integer = int(getattr(precision, "integer", width))
    rnd = getattr(precision, "rounding_mode", None)
    sat = getattr(precision, "saturation_mode", None)
    bits = getattr(precision, "saturation_bits", None) or 0
    if int(bits) != 0:
        raise UnsupportedLayerError(f"{where}: saturation bits N={bits} in {precision} not emulated")
    return FixedType(width, integer, bool(precision.signed),
                     str(rnd).replace("AP_", "") if rnd is not None else "TRN",
                     str(sat).replace("AP_", "") if sat is not None else "WRAP")


def _type(layer, name: str) -> FixedType:
    memo = getattr(layer, "memo", None)  # graph.LayerView: once per emulate() call
    if memo is None:
        return _read_type(layer, name)
    key = ("type", name)
    if key not in memo:
        memo[key] = _read_type(layer, name)
    return memo[key]


def _read_type(layer, name: str) -> FixedType:
    if name == "result_t":
        return fixed_type(layer.get_output_variable().type.precision, f"layer {layer.name!r} result_t")
    if name not in layer.types:
        raise UnsupportedLayerError(f"layer {layer.name!r} ({layer.class_name}) has no {name}")
    return fixed_type(layer.types[name].precision, f"layer {layer.name!r} {name}")


def _weight(layer, key: str) -> Tensor:
    """A weight as C-sim loads it: text `'{:.Ff}'.format(v)` -> double -> ap_fixed(double)."""
    var = layer.weights[key]
    t = fixed_type(var.type.precision, f"layer {layer.name!r} weight {key!r}")
    cached = getattr(var, "_emulate_codes", None)  # (data object, type, Tensor)
    if cached is not None and cached[0] is var.data and cached[1] == t:
        return cached[2]
    tensor = _load_weight(var, t)
    var._emulate_codes = (var.data, t, tensor)
    return tensor


def _load_weight(var, t: FixedType) -> Tensor:
    data = np.asarray(var.data, dtype=np.float64)
    scaled = np.ldexp(data, t.frac)
    if not np.array_equal(scaled, np.round(scaled)):
        # Off the type's grid: the decimal rounding of the weight files decides (see
        # hls4ml WeightVariable.precision_fmt), so go through the same text.
        fmt = var.precision_fmt
        data = np.array([float(fmt.format(v)) for v in data.ravel()]).reshape(data.shape)
    return Tensor(from_float(data, t), t)


def _sequential_sum(terms: np.ndarray, frac: int, acc: FixedType, init: np.ndarray | None) -> np.ndarray:
    """acc = init; for t in terms (axis 0): acc = (acc_t)(acc + t). Vectorised over the rest.

    With WRAP and a rounding that commutes with adding grid values (TRN/RND/RND_MIN_INF), the
    per-step casts equal one cast of each term followed by a modular sum; otherwise loop.
    """
    shift_invariant = acc.rounding in ("TRN", "RND", "RND_MIN_INF") or frac <= acc.frac
    if acc.saturation == "WRAP" and shift_invariant:
        total = cast_raw(terms, frac, acc).sum(axis=0)
        if init is not None:
            total = total + init
        return cast_raw(total, acc.frac, acc)
    y = np.zeros(terms.shape[1:], np.int64) if init is None else init
    for t in terms:
        f = max(frac, acc.frac)
        y = cast_raw((y << np.int64(f - acc.frac)) + (t << np.int64(f - frac)), f, acc)
    return y


def _tree_sum(terms: list[np.ndarray], acc: FixedType) -> np.ndarray:
    """nnet::reduce with Op_add<accum_t>: balanced tree, each node cast back to accum_t."""
    n = len(terms)
    if n == 1:
        return terms[0]
    if acc.saturation == "WRAP":
        return cast_raw(np.sum(terms, axis=0), acc.frac, acc)
    left = 1 << int(np.floor(np.log2(n - 1))) if n > 1 else 0
    return cast_raw(_tree_sum(terms[:left], acc) + _tree_sum(terms[left:], acc), acc.frac, acc)


def _exact_float_dtype(bound: float):
    """A float dtype in which every partial sum of integer terms whose absolute values add up to
    at most `bound` is an exact integer, whatever the summation order (fixed.float_dtype of the
    bound's bits); None when neither float32 nor float64 is exact."""
    return float_dtype(int(bound).bit_length()) if np.isfinite(bound) else None


def _abs_max(raw: np.ndarray) -> float:
    return float(max(-raw.min(), raw.max())) if raw.size else 0.0


def _input_bound(raw: np.ndarray, t: FixedType | None, taps: float) -> float:
    """max |code| * taps: from the input's type when that already allows float32 (no pass over
    the data), else from the data (a tighter bound that may still allow a float type)."""
    if t is not None:
        by_type = max(-t.raw_min, t.raw_max) * taps
        if _exact_float_dtype(by_type) is np.float32:
            return by_type
    return _abs_max(raw) * taps


def _int_matmul(x: np.ndarray, w: np.ndarray, t: FixedType | None = None) -> tuple[np.ndarray, float]:
    """Exact x @ w for integer codes (M, K) x (K, J) and a bound on |result|: float32/float64 BLAS
    when exact (see _exact_float_dtype), else int64 (wraps mod 2**64: still exact mod any
    accum_t width; the bound is then inf); object codes (wide layers) multiply as Python ints."""
    bound = _input_bound(x, t, float(np.abs(w).sum(axis=0).max(initial=0)))
    dt = _exact_float_dtype(bound)
    if dt is None:
        if x.dtype == object or w.dtype == object:
            return to_object(x) @ to_object(w), float("inf")
        return x.astype(np.int64, copy=False) @ w, float("inf")
    return x.astype(dt, copy=False) @ w.astype(dt), bound


def _int_conv(xr: np.ndarray, w: np.ndarray, strides: tuple[int, int], out_hw: tuple[int, int],
              depthwise: bool, pads: tuple[int, int, int, int] = (0, 0, 0, 0),
              t: FixedType | None = None) -> tuple[np.ndarray, float] | None:
    """Exact integer convolution of codes xr (N,H,W,C), zero-padded by `pads` (top, bottom, left,
    right), with kernel codes w (kh,kw,C,F) (or (kh,kw,C,1) depthwise), by TensorFlow's float
    kernels, and a bound on |result|; None when no float type is exact for these values."""
    import tensorflow as tf

    taps = np.abs(w).sum(axis=(0, 1, 2) if not depthwise else (0, 1)).max(initial=0)
    bound = _input_bound(xr, t, float(taps))
    dt = _exact_float_dtype(bound)
    if dt is None:
        return None
    tx, tw = xr.astype(dt, copy=False), w.astype(dt)  # numpy in: no tf.constant copy
    st = [1, strides[0], strides[1], 1]
    padding = [[0, 0], list(pads[:2]), list(pads[2:]), [0, 0]] if any(pads) else "VALID"
    y = (tf.nn.depthwise_conv2d(tx, tw, st, padding) if depthwise else tf.nn.conv2d(tx, tw, st, padding)).numpy()
    y = y[:, : out_hw[0], : out_hw[1]]
    if y.shape[1:3] != tuple(out_hw):
        return None
    return y, bound


def _accumulate_exact(products: np.ndarray, bound: float, p_type: FixedType, bias: np.ndarray | None,
                      acc: FixedType) -> np.ndarray:
    """(accum_t)(bias + sum of products) from the exact sums of products (codes in p_type's frac,
    |sums| <= bound, any code representation), when accum_t holds every product and wraps."""
    k = acc.frac - p_type.frac
    total = bound * 2.0 ** k + (_abs_max(bias) if bias is not None else 0.0)
    bits = int(total).bit_length() if np.isfinite(total) else 64
    dt = float_dtype(bits) if products.dtype != np.int64 else None
    if dt is None:  # int64: shifts and the wrap are exact modulo 2**64; a wider accum_t takes Python ints
        s = to_object(products) if acc.wide or products.dtype == object else products.astype(np.int64)
        if k:
            s <<= k
        if bias is not None:
            s += bias
        return cast_raw(s, acc.frac, acc)
    s = products.astype(dt, copy=False)
    if k:
        s *= dt(2.0 ** k)
    if bias is not None:
        s += bias.astype(dt)
    return cast_codes(s, acc.frac, acc, bits)


def _matmul_accumulate(x: Tensor, w: Tensor, b: Tensor | None, acc: FixedType, name: str) -> np.ndarray:
    """acc[j] = (accum_t)bias[j]; acc[j] += (accum_t)(x[i] * w[i, j]); codes in acc's frac.

    x.raw: (M, K); w.raw: (K, J). Matches dense_latency / dense_resource (every product is
    cast to accum_t, the bias is cast to accum_t, the sum wraps in accum_t).
    """
    p_type = mult_type(x.type, w.type)
    bias = cast_raw(b.raw, b.type.frac, acc) if b is not None else None
    k = x.raw.shape[-1]
    if acc.holds(p_type) and acc.saturation == "WRAP":
        # Exact integer dot products; the wrap to accum_t commutes with the sum.
        return _accumulate_exact(*_int_matmul(x.raw, w.raw, x.type), p_type, bias, acc)
    x = x.ints()
    if acc.saturation != "WRAP" and acc.holds(p_type):
        xmax = max(abs(x.type.raw_min), x.type.raw_max)
        bound = xmax * float(np.abs(w.raw).sum(axis=0).max(initial=0)) * 2.0 ** (acc.frac - p_type.frac)
        if bias is not None:
            bound += float(np.abs(bias).max(initial=0))
        if bound <= acc.raw_max and -bound >= acc.raw_min:
            # cannot overflow: the order of the saturating adds does not matter
            s = _int_matmul(x.raw, w.raw)[0]
            s = s.astype(np.int64) if s.dtype.kind == "f" else s
            s = (s << (acc.frac - p_type.frac)) + (bias if bias is not None else 0)
            return s
        raise UnsupportedLayerError(
            f"layer {name!r}: accum_t {acc} saturates and may overflow; the firmware's "
            f"accumulation order is not emulated")
    # Products need rounding into accum_t: cast each product, one input at a time.
    out = np.zeros((x.raw.shape[0], w.raw.shape[1]), np.int64) if bias is None else \
        np.broadcast_to(bias, (x.raw.shape[0], w.raw.shape[1])).copy()
    if acc.saturation != "WRAP":
        raise UnsupportedLayerError(
            f"layer {name!r}: accum_t {acc} with rounding products and saturation is not emulated")
    for i in range(k):
        prod = x.raw[:, i:i + 1] * w.raw[i:i + 1, :]
        out = out + cast_raw(prod, p_type.frac, acc)
    return cast_raw(out, acc.frac, acc)


def _check_product(layer) -> None:
    for key in ("weight", "bias"):
        if key in layer.weights:
            fixed_type(layer.weights[key].type.precision, f"layer {layer.name!r} {key}")


# ---------------------------------------------------------------------------- layers

def input_layer(layer, inputs, ctx, x: np.ndarray) -> Tensor:
    t = _type(layer, "result_t")
    dt = float_dtype(t.width)  # narrow codes travel as floats (see Tensor)
    if dt is not None and x.dtype == np.float32:
        codes = from_float32_codes(x, t)
        if codes is not None:
            return Tensor(codes.astype(dt, copy=False), t)
    codes = from_float(x, t)
    return Tensor(codes.astype(dt) if dt is not None else codes, t)


def dense(layer, inputs, ctx) -> Tensor:
    """nnet_dense_latency.h / nnet_dense_resource.h (and nnet_dense_stream.h wrappers)."""
    (x,) = inputs
    _check_product(layer)
    w = _weight(layer, "weight")
    if layer.get_attr("_weights_transposed", False):
        w = Tensor(w.raw.T, w.type)
    b = _weight(layer, "bias") if "bias" in layer.weights else None
    acc = _type(layer, "accum_t")
    lead = x.raw.shape[:-1]
    flat = Tensor(x.raw.reshape(-1, x.raw.shape[-1]), x.type)
    s = _matmul_accumulate(flat, w, b, acc, layer.name)
    res = _type(layer, "result_t")
    return Tensor(cast_codes(s, acc.frac, res, acc.width).reshape(*lead, -1), res)


def _layer_pads(layer) -> tuple[int, int, int, int]:
    return tuple(int(layer.get_attr(k, 0)) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right"))


def _pending_pads(x: Tensor, layer) -> tuple[int, int, int, int]:
    """A convolution's total zero padding: the tensor's pending padding plus the layer's own."""
    return tuple(a + b for a, b in zip(x.pad, _layer_pads(layer)))


def _pad(raw: np.ndarray, layer, value: int = 0) -> np.ndarray:
    return _pad_codes(raw, _layer_pads(layer), value)


def _pad_codes(raw: np.ndarray, pads: tuple[int, int, int, int], value: int = 0) -> np.ndarray:
    pt, pb, pl, pr = pads
    if pt == pb == pl == pr == 0:
        return raw
    n, h, w, c = raw.shape
    out = np.full((n, h + pt + pb, w + pl + pr, c), value, raw.dtype)  # faster than np.pad
    out[:, pt:pt + h, pl:pl + w] = raw
    return out


def _windows(raw: np.ndarray, layer, kh: int, kw: int) -> np.ndarray:
    """(N, OH, OW, C, kh, kw) strided view of the (already padded) input."""
    sh, sw = int(layer.get_attr("stride_height")), int(layer.get_attr("stride_width"))
    oh, ow = int(layer.get_attr("out_height")), int(layer.get_attr("out_width"))
    v = np.lib.stride_tricks.sliding_window_view(raw, (kh, kw), axis=(1, 2))
    return v[:, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw]


def _window_max(raw: np.ndarray, layer, kh: int, kw: int) -> np.ndarray:
    """Max over every (kh, kw) window of the (already padded) input: one np.maximum per kernel tap
    over strided slices (several times faster than reducing a sliding-window view)."""
    sh, sw = int(layer.get_attr("stride_height")), int(layer.get_attr("stride_width"))
    oh, ow = int(layer.get_attr("out_height")), int(layer.get_attr("out_width"))
    taps = [raw[:, i: i + (oh - 1) * sh + 1: sh, j: j + (ow - 1) * sw + 1: sw] for i in range(kh) for j in range(kw)]
    if len(taps) == 1:
        return taps[0].copy()
    m = np.maximum(taps[0], taps[1])  # the first tap pair makes the output: no copy pass
    for v in taps[2:]:
        np.maximum(m, v, out=m)
    return m


def _check_layout(layer) -> None:
    if layer.get_attr("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(f"layer {layer.name!r}: channels_first is not emulated")
    if int(layer.get_attr("dilation_height", 1)) != 1 or int(layer.get_attr("dilation_width", 1)) != 1:
        raise UnsupportedLayerError(f"layer {layer.name!r}: dilation is not emulated")


def conv2d(layer, inputs, ctx) -> Tensor:
    """nnet_conv2d_latency.h / _resource.h (io_parallel), nnet_conv_stream.h (io_stream):
    every output pixel is a dense() over its kh*kw*C window; padding is zeros."""
    (x,) = inputs
    _check_layout(layer)
    _check_product(layer)
    kh, kw = int(layer.get_attr("filt_height")), int(layer.get_attr("filt_width"))
    w = _weight(layer, "weight")
    wr = w.raw
    if layer.get_attr("_weights_transposed", False):
        wr = np.transpose(wr, (1, 2, 3, 0))  # (F,H,W,C) -> (H,W,C,F)
    cin = x.raw.shape[-1]
    if wr.shape[:3] != (kh, kw, cin):
        raise UnsupportedLayerError(f"layer {layer.name!r}: weight shape {wr.shape} is not (kh, kw, C, F)")
    b = _weight(layer, "bias") if "bias" in layer.weights else None
    acc = _type(layer, "accum_t")
    res = _type(layer, "result_t")
    sh, sw = int(layer.get_attr("stride_height")), int(layer.get_attr("stride_width"))
    oh, ow = int(layer.get_attr("out_height")), int(layer.get_attr("out_width"))
    n = x.raw.shape[0]
    p_type = mult_type(x.type, w.type)
    if (kh, kw) != (1, 1) and acc.saturation == "WRAP" and acc.holds(p_type):
        # exact products summed by TensorFlow's convolution (no im2col or padding copy), one wrap
        products = _int_conv(x.raw, wr, (sh, sw), (oh, ow), depthwise=False, pads=_pending_pads(x, layer), t=x.type)
        if products is not None:
            bias = cast_raw(b.raw, b.type.frac, acc) if b is not None else None
            s = _accumulate_exact(*products, p_type, bias, acc)
            return Tensor(s if res == acc else cast_codes(s, acc.frac, res, acc.width), res)
    xr = _pad(x.padded().raw, layer)
    if kh == kw == 1:
        cols = xr[:, : (oh - 1) * sh + 1: sh, : (ow - 1) * sw + 1: sw]
    else:
        cols = np.moveaxis(_windows(xr, layer, kh, kw), 3, -1)  # (N,OH,OW,kh,kw,C)
    flat = Tensor(np.ascontiguousarray(cols).reshape(n * oh * ow, -1), x.type)
    s = _matmul_accumulate(flat, Tensor(wr.reshape(-1, wr.shape[-1]), w.type), b, acc, layer.name)
    s = s if res == acc else cast_codes(s, acc.frac, res, acc.width)
    return Tensor(s.reshape(n, oh, ow, -1), res)


def depthwise_conv2d(layer, inputs, ctx) -> Tensor:
    """nnet_sepconv2d_latency.h (io_parallel) / nnet_sepconv_stream.h depthwise_product
    (io_stream): per channel, products cast to accum_t, bias cast to accum_t, sum, cast."""
    (x,) = inputs
    _check_layout(layer)
    _check_product(layer)
    if int(layer.get_attr("depth_multiplier", 1)) != 1:
        raise UnsupportedLayerError(f"layer {layer.name!r}: depth_multiplier != 1 is not emulated")
    kh, kw = int(layer.get_attr("filt_height")), int(layer.get_attr("filt_width"))
    w = _weight(layer, "weight")
    cin = x.raw.shape[-1]
    wr = w.raw
    if layer.get_attr("_weights_transposed", False):
        wr = np.transpose(wr, (1, 2, 3, 0))
    if wr.shape != (kh, kw, cin, 1):
        raise UnsupportedLayerError(
            f"layer {layer.name!r} (DepthwiseConv2D): weight shape {tuple(wr.shape)} is not "
            f"({kh}, {kw}, {cin}, 1) (hls4ml fused a BatchNormalization into it incorrectly?)")
    wr = wr[..., 0]
    acc = _type(layer, "accum_t")
    p_type = mult_type(x.type, w.type)
    oh, ow = int(layer.get_attr("out_height")), int(layer.get_attr("out_width"))
    # mult[i] = (accum_t)(x * w) in kernel raster order, acc = (accum_t)bias, acc += mult[i]
    bias = None
    if "bias" in layer.weights:
        b = _weight(layer, "bias")
        bias = cast_raw(b.raw, b.type.frac, acc)
    if acc.saturation == "WRAP" and acc.holds(p_type):
        # every product fits accum_t exactly and the wrap commutes with the sum
        sh, sw = int(layer.get_attr("stride_height")), int(layer.get_attr("stride_width"))
        products = _int_conv(x.raw, wr[..., None], (sh, sw), (oh, ow), depthwise=True, pads=_pending_pads(x, layer),
                             t=x.type)
        if products is None:
            win = _windows(_pad(x.padded().ints().raw, layer), layer, kh, kw)
            s = np.zeros(win.shape[:4], win.dtype)  # (N,OH,OW,C); int64 wraps exactly, objects do not wrap
            for i in range(kh):
                for j in range(kw):
                    s += win[..., i, j] * wr[i, j]
            products = (s, float("inf"))
        s = _accumulate_exact(*products, p_type, bias, acc)
        res = _type(layer, "result_t")
        return Tensor(s if res == acc else cast_codes(s, acc.frac, res, acc.width), res)
    win = _windows(_pad(x.padded().ints().raw, layer), layer, kh, kw)  # (N,OH,OW,C,kh,kw), a view
    terms = [cast_raw(win[..., i, j] * wr[i, j], p_type.frac, acc) for i in range(kh) for j in range(kw)]
    acc_raw = np.zeros(terms[0].shape, np.int64) + (0 if bias is None else bias)
    if acc.saturation == "WRAP":
        s = cast_raw(acc_raw + np.sum(terms, axis=0), acc.frac, acc)
    else:
        s = acc_raw
        for t in terms:
            s = cast_raw(s + t, acc.frac, acc)
    res = _type(layer, "result_t")
    return Tensor(cast_raw(s, acc.frac, res), res)


def activation(layer, inputs, ctx) -> Tensor:
    """nnet_activation.h / _stream.h: linear, relu (x > 0 ? x : 0), relu6-style relu_max."""
    (x,) = inputs
    fn = str(layer.get_attr("activation", "")).lower()
    res = _type(layer, "result_t")
    if fn == "linear":
        return x.to(res)
    if fn == "relu":
        if not res.signed and res.saturation == "SAT":
            # the cast's clip at 0 does the relu: a negative rounds to <= 0 and saturates to 0
            return Tensor(cast_codes(x.raw, x.type.frac, res, x.type.width), res)
        return Tensor(cast_codes(np.maximum(x.raw, 0), x.type.frac, res, x.type.width), res)
    if fn == "relu6":  # x < 0 ? 0 : x > 6 ? 6 : x
        clipped = np.clip(x.raw, 0, 6 << x.type.frac)
        return Tensor(cast_codes(clipped, x.type.frac, res, x.type.width), res)
    if fn in ("sigmoid", "tanh"):
        return _table_activation(layer, x.ints(), fn, res)
    if fn == "elu":
        return _elu(layer, x, res, None)
    raise UnsupportedLayerError(
        f"layer {layer.name!r} ({layer.class_name}): activation {fn!r} is not emulated "
        f"(emulated: linear, relu, relu6, sigmoid, tanh, elu)")


def _param_value(layer, key: str = "activ_param") -> float:
    """The activation parameter as the C++ source spells it (`{param}` of the function template:
    Python's float text, read back by the compiler as a double)."""
    return float(str(layer.get_attr(key, 1.0)))


def _align(a: np.ndarray, fa: int, b: np.ndarray, fb: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Two code arrays on a common number of fractional bits (exact left shifts)."""
    f = max(fa, fb)
    return a << np.int64(f - fa), b << np.int64(f - fb), f


def parametrized_activation(layer, inputs, ctx) -> Tensor:
    """nnet_activation.h / _stream.h leaky_relu (x > 0 ? x : alpha * x), thresholded_relu
    (x > theta ? x : 0) and elu (x >= 0 ? x : alpha * elu_table[index]), the parameter converted
    from the literal to param_t, every product in full precision then assigned to res_T."""
    (x,) = inputs
    fn = str(layer.get_attr("activation", "")).lower()
    res = _type(layer, "result_t")
    if fn == "elu":
        return _elu(layer, x, res, _param_value(layer))
    param_t = fixed_type(layer.get_attr("param_t").precision, f"layer {layer.name!r} param_t")
    p = int(from_float(np.array(_param_value(layer)), param_t))
    kept = cast_raw(x.raw, x.type.frac, res)
    if fn == "leakyrelu":
        scaled = cast_raw(x.raw * p, x.type.frac + param_t.frac, res)
        return Tensor(np.where(x.raw > 0, kept, scaled), res)
    if fn == "thresholdedrelu":
        xa, ta, _ = _align(x.raw, x.type.frac, np.int64(p), param_t.frac)
        return Tensor(np.where(xa > ta, kept, 0), res)
    raise UnsupportedLayerError(f"layer {layer.name!r} (ParametrizedActivation): activation {fn!r} is not emulated "
                                f"(emulated: LeakyReLU, ThresholdedReLU, ELU)")


def _elu(layer, x: Tensor, res: FixedType, alpha: float | None) -> Tensor:
    """elu: index = (int)(x * table_size / -8) (exact when table_size % 8 == 0; int conversion
    truncates toward zero), capped at table_size - 1; res = alpha * (table_t)table[index], alpha
    from the literal as param_t (ap_uint<1> 1 for Activation('elu'))."""
    from hwflow.sim.emulate.tables import lut

    x = x.ints()
    size = int(layer.get_attr("table_size"))
    table_t = _type(layer, "table_t")
    if size % 8 or x.type.integer + int(np.log2(max(size // 8, 1))) > 31:
        raise UnsupportedLayerError(f"layer {layer.name!r}: elu with table_size {size} on {x.type} is not emulated "
                                    f"(table_size must be a multiple of 8; data * table_size must fit an int)")
    table = lut("elu", table_t, size)
    if alpha is None:
        a_code, a_frac = np.int64(1), 0
    else:
        param_t = fixed_type(layer.get_attr("param_t").precision, f"layer {layer.name!r} param_t")
        a_code, a_frac = np.int64(from_float(np.array(alpha), param_t)), param_t.frac
    mag = -x.raw * (size // 8)  # -x * table_size / 8, exact; positive where used
    f = x.type.frac
    index = mag >> f if f >= 0 else mag << -f
    index = np.clip(index, 0, size - 1)
    neg = cast_raw(table[index] * a_code, table_t.frac + a_frac, res)
    return Tensor(np.where(x.raw >= 0, cast_raw(x.raw, x.type.frac, res), neg), res)


def prelu(layer, inputs, ctx) -> Tensor:
    """nnet_activation.h / _stream.h prelu: x > 0 ? x : alpha[i] * x, alpha per element (n_in order)."""
    (x,) = inputs
    res = _type(layer, "result_t")
    a = _weight(layer, "param")
    if a.raw.size != int(np.prod(x.raw.shape[1:])):
        raise UnsupportedLayerError(f"layer {layer.name!r}: PReLU alpha of {a.raw.size} values for "
                                    f"{x.raw.shape[1:]} inputs is not emulated")
    alpha = a.raw.reshape(x.raw.shape[1:])
    scaled = cast_raw(x.raw * alpha, x.type.frac + a.type.frac, res)
    return Tensor(np.where(x.raw > 0, cast_raw(x.raw, x.type.frac, res), scaled), res)


def hard_activation(layer, inputs, ctx) -> Tensor:
    """nnet_activation.h / _stream.h hard_sigmoid / hard_tanh: `auto y = slope * x + shift` (full
    precision, slope/shift converted from their literals to slope_t/shift_t), y clipped to [0, 1];
    res = y (sigmoid) or res = 2 * y - 1 (tanh)."""
    from hwflow.sim.emulate.fixed import plus_type

    (x,) = inputs
    fn = str(layer.get_attr("activation", "")).lower()
    res = _type(layer, "result_t")
    slope_t, shift_t = _type_attr(layer, "slope_t"), _type_attr(layer, "shift_t")
    slope = np.int64(from_float(np.array(_param_value(layer, "slope")), slope_t))
    shift = np.int64(from_float(np.array(_param_value(layer, "shift")), shift_t))
    p_type = mult_type(slope_t, x.type)
    y_type = plus_type(p_type, shift_t)
    prod, sh, f = _align(x.raw * slope, p_type.frac, shift, shift_t.frac)
    y = prod + sh
    one = cast_raw(np.array([1 << f]), f, y_type)[0] << np.int64(f - y_type.frac)  # `y = 1` in y's type
    y = np.where(y > (1 << f), one, np.where(y < 0, 0, y))
    if fn == "hard_sigmoid":
        return Tensor(cast_raw(y, f, res), res)
    if fn == "hard_tanh":
        return Tensor(cast_raw(2 * y - (1 << f), f, res), res)
    raise UnsupportedLayerError(f"layer {layer.name!r} (HardActivation): {fn!r} is not emulated "
                                f"(emulated: hard_sigmoid, hard_tanh)")


def _type_attr(layer, key: str) -> FixedType:
    return fixed_type(layer.get_attr(key).precision, f"layer {layer.name!r} {key}")


def resize(layer, inputs, ctx) -> Tensor:
    """nnet_image.h / _stream.h resize_nearest: output (i, j) = input (i * y_ratio >> 16,
    j * x_ratio >> 16) with ratio = (in << 16) / out + 1 (io_stream: integer upscaling only, the
    same pixels); values copied as data_T."""
    (x,) = inputs
    if str(layer.get_attr("algorithm", "nearest")) != "nearest":
        raise UnsupportedLayerError(f"layer {layer.name!r}: resize {layer.get_attr('algorithm')!r} is not emulated")
    h, w = int(layer.get_attr("in_height")), int(layer.get_attr("in_width"))
    oh, ow = int(layer.get_attr("out_height")), int(layer.get_attr("out_width"))
    if ctx.io_type == "io_stream" and (oh % h or ow % w):
        raise UnsupportedLayerError(f"layer {layer.name!r}: io_stream resize by a non-integer ratio")
    rows = (np.arange(oh) * (((h << 16) // oh) + 1)) >> 16
    cols = (np.arange(ow) * (((w << 16) // ow) + 1)) >> 16
    return Tensor(x.raw[:, rows][:, :, cols], x.type)


def _table_activation(layer, x: Tensor, fn: str, res: FixedType) -> Tensor:
    """nnet_activation.h / _stream.h sigmoid and tanh: `int data_round = data * table_size / D;
    index = data_round + H * table_size / D` clipped to the table (D, H = 16, 8 for sigmoid over
    [-8, 8), 8, 4 for tanh over [-4, 4)), then `(res_T)table[index]`. The ap_fixed -> int
    conversion truncates toward zero (C semantics, ap_fixed_base::to_ap_int_base)."""
    from hwflow.sim.emulate.tables import lut

    size = int(layer.get_attr("table_size"))
    d, h = (16, 8) if fn == "sigmoid" else (8, 4)
    table_t = _type(layer, "table_t")
    if size % d or x.type.integer + int(np.log2(size // d)) > 31:
        raise UnsupportedLayerError(f"layer {layer.name!r}: {fn} with table_size {size} on {x.type} is not emulated "
                                    f"(table_size must be a multiple of {d}; data * table_size must fit an int)")
    table = lut(fn, table_t, size)
    scaled = x.raw * (size // d)  # exact: the division by D of data * table_size is then exact too
    f = x.type.frac
    if f > 0:
        data_round = np.where(scaled < 0, -((-scaled) >> f), scaled >> f)
    else:
        data_round = scaled << -f
    index = np.clip(data_round + h * size // d, 0, size - 1)
    return Tensor(cast_raw(table[index], table_t.frac, res), res)


def _softmax_config(layer) -> tuple[str, dict, dict, str]:
    """What the firmware's softmax config struct says (implementation, sizes, types, exp_scale),
    read from the text hls4ml's own config template writes for this layer: hls4ml decides several
    of these there (exp_table_size capped for signed inputs, inv_inp_t and inp_norm_t defaults)."""
    import re

    from hls4ml.backends.fpga.fpga_backend import FPGABackend
    from hls4ml.backends.vivado.passes.core_templates import SoftmaxConfigTemplate

    text = SoftmaxConfigTemplate().format(layer)
    impl = re.search(r"softmax_implementation::(\w+)", text).group(1)
    sizes = {k: int(v) for k, v in re.findall(r"static const unsigned (\w+) = (\d+);", text)}
    by_name = {t.name: t.precision for t in layer.types.values()}
    types = {}
    for type_text, alias in re.findall(r"typedef (.+?) (\w+);", text):
        precision = by_name.get(type_text) or FPGABackend.convert_precision_string(type_text)
        types[alias] = fixed_type(precision, f"layer {layer.name!r} {alias}")
    scale = re.search(r"exp_scale = ([^;]+);", text).group(1).strip()
    return impl, sizes, types, scale


def _top_bits(raw: np.ndarray, t: FixedType, n: int) -> np.ndarray:
    """softmax_idx_from_real_val: the top n bits of a value's code, as an unsigned index."""
    if t.width < n:
        raise UnsupportedLayerError(f"softmax table address of {n} bits from {t} (narrower) is not emulated")
    return (raw & ((1 << t.width) - 1)) >> (t.width - n)


def _ceillog2(x: int) -> int:
    return 1 if x <= 2 else 1 + _ceillog2((x + 1) // 2)  # nnet_helpers.h ceillog2


def softmax(layer, inputs, ctx) -> Tensor:
    """nnet_activation.h / _stream.h softmax over the last axis: implementations latency,
    stable (x_max - x in inp_norm_t addresses the exp table), argmax. exp_res = (accum_t)
    exp_table[top bits]; exp_sum = reduce<Op_add<accum_t>> (adder tree) assigned to inv_inp_t;
    res = (res_T)(exp_res * invert_table[top bits of exp_sum])."""
    from hwflow.sim.emulate.tables import softmax_tables

    (x,) = inputs
    res = _type(layer, "result_t")
    memo = getattr(layer, "memo", {})
    if "softmax" not in memo:
        memo["softmax"] = _softmax_config(getattr(layer, "layer", layer))
    impl, sizes, types, scale = memo["softmax"]
    if sizes.get("n_inner", 1) != 1:
        raise UnsupportedLayerError(f"layer {layer.name!r}: softmax over an axis other than the last is not emulated")
    if impl == "argmax":  # res[i] = 0; res[first index of the maximum] = 1
        out = np.zeros_like(x.raw)
        np.put_along_axis(out, np.argmax(x.raw, axis=-1)[..., None], 1, axis=-1)
        return Tensor(out * from_float(np.array(1.0), res), res)
    if impl not in ("latency", "stable"):
        raise UnsupportedLayerError(f"layer {layer.name!r}: softmax implementation {impl!r} is not emulated "
                                    f"(emulated: latency, stable, argmax)")
    acc, exp_t, inv_t, inv_inp = types["accum_t"], types["exp_table_t"], types["inv_table_t"], types["inv_inp_t"]
    exp_size, inv_size = sizes["exp_table_size"], sizes["inv_table_size"]
    if impl == "stable":
        norm_t = types["inp_norm_t"]
        top = x.raw.max(axis=-1, keepdims=True)
        addr_t, addr = norm_t, cast_raw(top - x.raw, x.type.frac, norm_t)  # d_xi_xmax = x_max - x
    else:
        addr_t, addr = x.type, x.raw
    exp_table, inv_table = softmax_tables(exp_t, exp_size, addr_t, impl == "stable", scale, inv_t, inv_size, inv_inp)
    exp_res = cast_raw(exp_table[_top_bits(addr, addr_t, _ceillog2(exp_size))], exp_t.frac, acc)
    total = _tree_sum([exp_res[..., j] for j in range(exp_res.shape[-1])], acc)
    exp_sum = cast_raw(total, acc.frac, inv_inp)
    inv = inv_table[_top_bits(exp_sum, inv_inp, _ceillog2(inv_size))]
    return Tensor(cast_raw(exp_res * inv[..., None], acc.frac + inv_t.frac, res), res)


def batchnorm(layer, inputs, ctx) -> Tensor:
    """nnet_batchnorm.h normalize(): res = (res_t)(x * scale + bias), full-precision inside."""
    (x,) = inputs
    if layer.get_attr("data_format", "channels_last") != "channels_last":
        raise UnsupportedLayerError(f"layer {layer.name!r}: channels_first is not emulated")
    if _is_exponent(layer.weights["scale"]):
        return _apply_po2(layer, x)
    s, b = _weight(layer, "scale"), _weight(layer, "bias")
    p_type = mult_type(x.type, s.type)
    f = max(p_type.frac, b.type.frac)
    res = _type(layer, "result_t")
    sr, br = s.raw.reshape(-1), b.raw.reshape(-1)  # broadcast on the channel axis (n_filt) or elementwise
    # |x * s * 2^k + b * 2^m| < 2^bits: in a float type of that many mantissa bits every product
    # and sum below is exact (see fixed.float_dtype), so the cast can stay on float codes
    xmax = max(abs(x.type.raw_min), x.type.raw_max)
    bound = xmax * _abs_max(sr) * 2.0 ** (f - p_type.frac) + _abs_max(br) * 2.0 ** (f - b.type.frac)
    bits = int(bound).bit_length()
    shift = f - res.frac
    dt = float_dtype(bits + max(0, -shift), res.width)
    if dt is not None and x.raw.dtype != object:
        # the cast's power-of-two scaling folded into scale and bias: y = total * 2**-shift exactly
        # (the same mantissas as the exact integer sum), then rounded and fitted (fixed.fit_scaled)
        xs = x.raw.astype(dt, copy=False)
        y = xs * (sr * 2.0 ** (f - p_type.frac - shift)).astype(dt)
        y += (br * 2.0 ** (f - b.type.frac - shift)).astype(dt)
        return Tensor(fit_scaled(y, res, bits - shift, rounded=shift > 0), res)
    p = x.ints().raw * sr
    if p.dtype == object:
        br = to_object(br)
    total = (p << (f - p_type.frac)) + (br << (f - b.type.frac))
    return Tensor(cast_raw(total, f, res), res)


def _is_exponent(var) -> bool:
    from hls4ml.model.types import ExponentPrecisionType

    return isinstance(var.type.precision, ExponentPrecisionType)


def _apply_po2(layer, x: Tensor) -> Tensor:
    """normalize() with power-of-two scales (QKeras alpha='auto_po2' / quantized_bits without alpha):
    product::weight_exponential, r_T = ap_fixed<2*(We+Wx), We+Wx>; y = (r_T)x << exponent (a negative
    exponent shifts right, flooring); sign 0 negates; res = (res_t)(y + bias). The scale file holds
    {sign = |s| >= 0, exponent = (int)log2|s|} (hls4ml ExponentWeightVariable._format)."""
    var = layer.weights["scale"]
    scale = np.asarray(var.data, np.float64).reshape(-1)
    if not np.all(scale != 0) or not np.all(np.isfinite(scale)):
        raise UnsupportedLayerError(f"layer {layer.name!r}: a power-of-two scale of 0 is not emulated")
    we = int(var.type.precision.width)
    exps = (np.log2(np.abs(scale)) / np.log2(2.0)).astype(int)
    # ap_int<We> holds the exponent (wraps)
    exps = cast_raw(exps.astype(np.int64), 0, FixedType(we, we, bool(var.type.precision.signed)))
    sign = scale >= 0
    r_frac = we + x.type.width  # r_T's fractional bits
    r_width = 2 * (we + x.type.width)
    shift_in = r_frac - x.type.frac
    xr = x.raw.astype(np.int64)
    y = xr << np.int64(shift_in) if shift_in >= 0 else xr >> np.int64(-shift_in)
    up = int(max(exps.max(), 0))
    bound_bits = x.type.width + max(shift_in, 0) + up
    if bound_bits >= min(r_width, 62):
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: power-of-two scaling of {x.type} (r_T of {r_width} bits) may wrap or exceed int64")
    left = np.maximum(exps, 0).astype(np.int64)
    right = np.maximum(-exps, 0).astype(np.int64)
    y = (y << left) >> right  # broadcast over the channel (n_filt) or element axis
    y = np.where(sign, y, -y)
    b = _weight(layer, "bias")
    f = max(r_frac, b.type.frac)
    if max(bound_bits + f - r_frac, b.type.width + f - b.type.frac) >= 62:
        raise UnsupportedLayerError(f"layer {layer.name!r}: bias alignment exceeds int64")
    total = (y << np.int64(f - r_frac)) + (b.raw.reshape(-1) << np.int64(f - b.type.frac))
    res = _type(layer, "result_t")
    return Tensor(cast_raw(total, f, res), res)


def _pool_accum(layer, x: Tensor) -> FixedType:
    return _type(layer, "accum_t") if "accum_t" in layer.types else x.type


def pooling2d(layer, inputs, ctx) -> Tensor:
    """Max/average pooling: nnet_pooling.h pooling2d_cl (io_parallel: max on data_T then
    (accum_t), average `accum_t y += x; y /= n`) and nnet_pooling_stream.h (io_stream: the
    window is cast to accum_t first; average is a tree sum / N)."""
    (x,) = inputs
    _check_layout(layer)
    op = str(layer.get_attr("pool_op", "")).lower()
    kh, kw = int(layer.get_attr("pool_height")), int(layer.get_attr("pool_width"))
    acc = _pool_accum(layer, x)
    res = _type(layer, "result_t")
    pads = [int(layer.get_attr(k, 0)) for k in ("pad_top", "pad_bottom", "pad_left", "pad_right")]
    if any(pads) and ctx.io_type == "io_stream":
        raise UnsupportedLayerError(f"layer {layer.name!r}: padded pooling in io_stream is not emulated")
    if op == "max":
        # pad_val<data_T, Max>(): only the MSB set (most negative if signed, 2**(W-1) if not)
        pad_raw = x.type.raw_min if x.type.signed else 1 << (x.type.width - 1)
        xr = _pad(x.raw, layer, pad_raw)
        if ctx.io_type == "io_stream" and not acc.holds(x.type):  # a cast that is not monotonic first
            m = cast_raw(_windows(xr.astype(np.int64) if xr.dtype.kind == "f" else xr, layer, kh, kw),
                         x.type.frac, acc).max(axis=(-2, -1))
            return Tensor(cast_raw(m, acc.frac, res), res)
        # io_parallel: max on data_T, then cast; io_stream: the cast is an exact shift, so it commutes
        m = _window_max(xr, layer, kh, kw)
        m = cast_codes(m, x.type.frac, acc, x.type.width)
        return Tensor(cast_codes(m, acc.frac, res, acc.width), res)
    x = x.ints()
    if op != "average":
        raise UnsupportedLayerError(f"layer {layer.name!r}: pool_op {op!r} is not emulated")
    if ctx.io_type == "io_stream":
        win = cast_raw(_windows(x.raw, layer, kh, kw), x.type.frac, acc)
        terms = [win[..., i, j] for i in range(kh) for j in range(kw)]
        total = _tree_sum(terms, acc)
        q = cast_raw(div_trunc(total, kh * kw), acc.frac, acc)
        return Tensor(cast_raw(q, acc.frac, res), res)
    if any(pads) and not layer.get_attr("count_pad", False):
        ones = _windows(_pad(np.ones_like(x.raw[..., :1]), layer), layer, kh, kw).sum(axis=(-2, -1))
    else:
        ones = np.int64(kh * kw)
    win = _windows(_pad(x.raw, layer), layer, kh, kw)
    terms = np.stack([win[..., i, j] for i in range(kh) for j in range(kw)])
    total = _sequential_sum(terms, x.type.frac, acc, None)
    q = np.where(total < 0, -(np.abs(total) // ones), np.abs(total) // ones)
    return Tensor(cast_raw(cast_raw(q, acc.frac, acc), acc.frac, res), res)


def global_pooling2d(layer, inputs, ctx) -> Tensor:
    """nnet_pooling.h global_pooling2d_cl / nnet_pooling_stream.h global_pooling2d_cl:
    average = sequential (accum_t) sum over H*W, then code / (H*W) truncated; max = max."""
    (x,) = inputs
    _check_layout(layer)
    op = str(layer.get_attr("pool_op", "")).lower()
    acc = _pool_accum(layer, x)
    res = _type(layer, "result_t")
    n, h, w, c = x.raw.shape
    flat = np.moveaxis(x.raw.reshape(n, h * w, c), 1, 0)  # (H*W, N, C) in raster order
    if op == "max":
        if ctx.io_type == "io_stream":
            m = np.maximum(cast_raw(flat, x.type.frac, acc).max(axis=0), acc.raw_min)
        else:
            m = cast_raw(flat.max(axis=0), x.type.frac, acc)
        out = cast_raw(m, acc.frac, res)
    elif op == "average":
        terms = cast_raw(flat, x.type.frac, acc) if ctx.io_type == "io_stream" else flat
        frac = acc.frac if ctx.io_type == "io_stream" else x.type.frac
        total = _sequential_sum(terms, frac, acc, None)
        out = cast_raw(div_trunc(total, h * w), acc.frac, res)
    else:
        raise UnsupportedLayerError(f"layer {layer.name!r}: pool_op {op!r} is not emulated")
    if layer.get_attr("keepdims", False):
        out = out.reshape(n, 1, 1, c)
    return Tensor(out, res)


def zero_padding2d(layer, inputs, ctx) -> Tensor:
    """nnet_padding.h / _stream.h: zeros around, data copied as res_t."""
    (x,) = inputs
    _check_layout(layer)
    res = _type(layer, "result_t")
    y = x.to(res)
    # left pending: a following convolution pads inside its kernel, anything else materialises it
    return Tensor(y.raw, res, _pending_pads(y, layer))


def concatenate(layer, inputs, ctx) -> Tensor:
    """nnet_merge.h / _stream.h concatenate: each input copied as res_t, joined on `axis`."""
    res = _type(layer, "result_t")
    axis = _concat_axis(layer, inputs[0].raw.ndim - 1)
    parts = [t.to(res).raw for t in inputs]
    kinds = {p.dtype for p in parts}
    if np.dtype(object) in kinds:
        parts = [to_object(p) for p in parts]
    elif len(kinds) > 1:  # mixed: float64 holds every float32 code exactly; int64 next to floats stays int
        common = np.int64 if np.dtype(np.int64) in kinds else np.float64
        parts = [p.astype(common, copy=False) for p in parts]
    return Tensor(np.concatenate(parts, axis=axis), res)


def _concat_axis(layer, rank: int) -> int:
    """The numpy axis (batch first) nnet::concatenate{1,2,3}d joins on. hls4ml 1.3.0 passes the
    Keras `axis` unchanged, so it counts the batch (1..rank, or -rank..-1); the C++ picks the last
    axis for rank or -1, the middle one of three for 2 or -2, and the first for anything else."""
    axis = int(layer.get_attr("axis", -1))
    if rank == 1:
        return 1
    if rank == 2:
        return 2 if axis in (2, -1) else 1
    if rank == 3:
        return 3 if axis in (3, -1) else 2 if axis in (2, -2) else 1
    raise UnsupportedLayerError(f"layer {layer.name!r}: concatenate of rank-{rank} tensors is not emulated")


def merge(layer, inputs, ctx) -> Tensor:
    """nnet_merge.h add/subtract/maximum/minimum: full-precision op, one cast to res_t."""
    op = str(layer.get_attr("op", "")).lower()
    a, b = inputs
    res = _type(layer, "result_t")
    f = max(a.type.frac, b.type.frac)
    ar = a.raw << np.int64(f - a.type.frac)
    br = b.raw << np.int64(f - b.type.frac)
    if op == "add":
        return Tensor(cast_raw(ar + br, f, res), res)
    if op == "subtract":
        return Tensor(cast_raw(ar - br, f, res), res)
    if op in ("maximum", "minimum"):
        pick = ar > br if op == "maximum" else ar < br
        out = np.where(pick, cast_raw(a.raw, a.type.frac, res), cast_raw(b.raw, b.type.frac, res))
        return Tensor(out, res)
    if op == "multiply":
        pt = mult_type(a.type, b.type)
        return Tensor(cast_raw(a.raw * b.raw, pt.frac, res), res)
    raise UnsupportedLayerError(f"layer {layer.name!r}: merge op {op!r} is not emulated")


def reshape(layer, inputs, ctx) -> Tensor:
    (x,) = inputs
    res = _type(layer, "result_t")
    shape = tuple(int(d) for d in layer.get_output_variable().shape)
    return Tensor(x.to(res).raw.reshape(x.raw.shape[0], *shape), res)


def passthrough(layer, inputs, ctx) -> Tensor:
    """Clone / Repack (io_stream plumbing): values are copied unchanged."""
    (x,) = inputs
    return x


def channel_shuffle(layer, inputs, ctx) -> Tensor:
    """hwflow.hls_ext channel_shuffle: output channel j = input channel (j % g) * (C / g) + j / g."""
    (x,) = inputs
    res = _type(layer, "result_t")
    c, g = int(layer.get_attr("n_chan")), int(layer.get_attr("groups"))
    src = [(j % g) * (c // g) + j // g for j in range(c)]
    return Tensor(x.to(res).raw[..., src], res)


def channel_slice(layer, inputs, ctx) -> Tensor:
    """hwflow.hls_ext channel_slice: channels [start, start + n_out) of every pixel."""
    (x,) = inputs
    res = _type(layer, "result_t")
    start, n = int(layer.get_attr("start")), int(layer.get_attr("n_out"))
    return Tensor(x.to(res).raw[..., start:start + n], res)


def bounded_relu(layer, inputs, ctx) -> Tensor:
    """hwflow.hls_ext bounded_relu: v <= 0 ? 0 : v >= bound ? bound : v, each assigned to res_t."""
    (x,) = inputs
    res = _type(layer, "result_t")
    clipped = np.clip(x.raw, 0, int(layer.get_attr("bound")) << x.type.frac)  # the same as the two tests
    return Tensor(cast_codes(clipped, x.type.frac, res, x.type.width), res)


# layers whose handlers also compute exactly on object codes (Python ints), for widths beyond int64
# (graph.wide_reason); Activation only for the functions in WIDE_ACTIVATIONS
WIDE_OK = {"Dense", "Conv2D", "Conv2DBatchnorm", "PointwiseConv2D", "DepthwiseConv2D", "Activation", "BatchNormalization",
           "Pooling2D", "GlobalPooling2D", "ZeroPadding2D", "Concatenate", "Merge", "Reshape", "Clone", "Repack",
           "ChannelShuffle", "ChannelSlice", "BoundedReLU"}
WIDE_ACTIVATIONS = {"linear", "relu", "relu6"}
# layers whose handlers take float-held codes (see Tensor); the others get int64 codes
FLOAT_CODES = {"Conv2D", "Conv2DBatchnorm", "PointwiseConv2D", "DepthwiseConv2D", "Activation", "ZeroPadding2D", "Clone", "Repack",
               "BoundedReLU", "Concatenate", "BatchNormalization", "Pooling2D", "Dense", "Reshape"}
# layers whose handlers take a pending zero padding (Tensor.pad); the others get it materialised
PAD_AWARE = {"Conv2D", "Conv2DBatchnorm", "PointwiseConv2D", "DepthwiseConv2D", "ZeroPadding2D", "Clone", "Repack"}

HANDLERS: dict[str, Callable] = {
    "Dense": dense,
    "Conv2D": conv2d,
    "Conv2DBatchnorm": conv2d,  # QConv2DBatchnorm: hls4ml folds the statistics into the weights and bias
    "PointwiseConv2D": conv2d,
    "DepthwiseConv2D": depthwise_conv2d,
    "Activation": activation,
    "Softmax": softmax,
    "ParametrizedActivation": parametrized_activation,
    "PReLU": prelu,
    "HardActivation": hard_activation,
    "Resize": resize,
    "BatchNormalization": batchnorm,
    "ApplyAlpha": batchnorm,
    "Pooling2D": pooling2d,
    "GlobalPooling2D": global_pooling2d,
    "ZeroPadding2D": zero_padding2d,
    "Concatenate": concatenate,
    "Merge": merge,
    "Reshape": reshape,
    "Clone": passthrough,
    "Repack": passthrough,
    # hwflow's own layers (hwflow/hls_ext, C++ in nnet_hwflow.h)
    "ChannelShuffle": channel_shuffle,
    "ChannelSlice": channel_slice,
    "BoundedReLU": bounded_relu,
}
