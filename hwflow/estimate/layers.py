"""Per-layer cost models of hwflow.estimate (csynth level): one function per hls4ml layer kind,
following hls4ml 1.3.0's nnet_utils templates (see the package docstring)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields

from hwflow.estimate.calibration import LUT_FEATURES, Calibration


@dataclass
class LayerEstimate:
    name: str
    class_name: str
    kind: str  # dense, conv, depthwise, separable, pool, gpool, act, softmax, merge, concat, bn, elem, free, unknown
    reuse_factor: int = 1
    strategy: str = "latency"
    macs: int = 0  # multiply-accumulates per image
    multipliers: int = 0  # multiplier instances after reuse (DSP- and LUT-mapped)
    dsp: int = 0
    lut: int = 0
    ff: int = 0
    bram_18k: int = 0  # everything, including fifo_bram_18k
    fifo_bram_18k: int = 0  # io_stream: of the layer's output FIFOs (in the top level in a report)
    uram: int = 0
    latency: int = 0  # cycles for one image through this layer
    ii: int = 1  # cycles before this layer accepts the next image
    # csynth's convention where it differs (io_stream Resource convolutions: the kernel's RF charged on
    # every input pixel, the loop's worst case); None: same as latency / ii. Calibration compares these
    # with reports; the flow (images/s, fit) uses latency / ii, what co-simulation and boards run.
    csynth_latency: int | None = None
    csynth_ii: int | None = None
    first_out: int = 0  # io_stream: cycles from its first input to its first output
    tail: int = 0  # io_stream: cycles from its last input to its last output
    inputs: list = field(default_factory=list)
    features: dict = field(default_factory=dict)  # LUT/FF features (LUT_FEATURES)
    kernels: list = field(default_factory=list)  # per weight kernel: the DSP model's inputs (calibration)
    # weight ROMs of Resource-strategy kernels: [depth (words), width (bits), BRAM_18K] each (the
    # Vivado-level projection moves shallow ones into LUTs, hwflow.estimate.vivado)
    roms: list = field(default_factory=list)
    fifos: list = field(default_factory=list)  # io_stream output FIFOs in BRAM: [depth, width (bits), BRAM_18K]
    vivado: dict = field(default_factory=dict)  # Vivado-level LUT/FF/DSP/BRAM_18K/URAM (hwflow.estimate.vivado)
    note: str = ""



# --- precision helpers -------------------------------------------------------------------


def _bits(precision) -> int:
    return int(getattr(precision, "width", 16) or 16)


def _frac(precision) -> int:
    integer = getattr(precision, "integer", None)
    return _bits(precision) - int(integer) if integer is not None else 0


def _is_shift(precision) -> bool:
    """Power-of-two or binary/ternary weights: products are shifts or sign flips, never DSPs."""
    name = type(precision).__name__
    return name in ("ExponentPrecisionType", "XnorPrecisionType") or _bits(precision) <= 2


@functools.lru_cache(maxsize=8192)
def dsp_share(w_bits: int, w_frac: int, fan_in: int, threshold: int, sigma_scale: float) -> tuple[float, float]:
    """(share of nonzero constant-weight products that HLS maps to DSPs, mean significant bits
    of the LUT-mapped ones), for weights q ~ N(0, sigma) clipped to w_bits (see module docstring).

    By hand with numpy (no library models HLS's constant-multiplier choice): enumerate |q|,
    weight by the normal density, count significant bits (highest set bit - lowest set bit + 1)."""
    import numpy as np

    qmax = 2 ** max(w_bits - 1, 1)
    sigma = max(sigma_scale * 2.0 ** w_frac * math.sqrt(2.0 / max(fan_in, 1)), 1e-6)
    top = int(min(qmax, math.ceil(8 * sigma) + 1, 1 << 20))
    q = np.arange(1, top + 1, dtype=np.int64)
    p = np.exp(-0.5 * (q / sigma) ** 2)
    if top == qmax:  # saturation: the tail beyond the range lands on the largest code
        p[-1] += max(0.0, math.erfc(qmax / (sigma * math.sqrt(2))) * sigma * math.sqrt(math.pi / 2))
    low = np.log2(q & -q).astype(np.int64)
    high = np.floor(np.log2(q)).astype(np.int64)
    sig = high - low + 1
    total = float(p.sum())
    if total <= 0:
        return 0.0, 0.0
    dsp = sig > threshold
    share = float(p[dsp].sum()) / total
    lut_p = p[~dsp]
    mean_lut_sig = float((lut_p * sig[~dsp]).sum() / lut_p.sum()) if lut_p.sum() > 0 else 0.0
    return share, mean_lut_sig


def _dsp_per_product(a: int, b: int, family7: bool) -> int:
    big, small = max(a, b), min(a, b)
    port_a = 25 if family7 else 27
    return math.ceil(big / port_a) * math.ceil(small / 18)


# BRAM18 aspect ratios: 512x36, 1Kx18, 2Kx9, 4Kx4, 8Kx2, 16Kx1
_BRAM18_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def _bram18(depth: int, width: int, max_width: int = 36) -> int:
    """BRAM_18K blocks of one depth x width memory, the widest aspect ratio up to `max_width`."""
    for d, w in _BRAM18_SHAPES:
        if w <= max_width and depth <= d:
            return math.ceil(width / w)
    return math.ceil(width / 1) * math.ceil(depth / 16384)


def _fifo_bram(depth: int, width: int, cal: Calibration, tool: str) -> int:
    """BRAM_18K of one FIFO `depth` x `width` bits; small ones are SRL (the tool's own choice, see
    Calibration.fifo_*)."""
    if depth * width <= cal.per_tool("fifo_bram_min_bits", tool) or depth <= cal.per_tool("fifo_srl_depth", tool):
        return 0
    return _bram18(depth, width, int(cal.per_tool("fifo_bram_width", tool)))


def stream_fifo_bram(depth: int, n_elems: int, elem_bits: int, cal: Calibration, tool: str) -> int:
    """BRAM_18K of one io_stream FIFO of `depth` words of nnet::array<T, n_elems>: n_elems FIFOs of
    T's width (Vivado HLS) or one of n_elems*T bits (Vitis HLS)."""
    if cal.per_tool("fifo_per_element", tool):
        return n_elems * _fifo_bram(depth, elem_bits, cal, tool)
    return _fifo_bram(depth, n_elems * elem_bits, cal, tool)


def _shift_reg_bram(depth: int, width: int, cal: Calibration) -> int:
    """BRAM_18K of one line-buffer ap_shift_reg; SRL up to `shift_reg_bram_min_bits`."""
    return 0 if depth * width <= cal.shift_reg_bram_min_bits or depth <= 2 else _bram18(depth, width)


# --- per-layer models --------------------------------------------------------------------

_KINDS = {
    "Dense": "dense",
    "Conv1D": "conv", "Conv2D": "conv", "Conv2DBatchnorm": "conv", "Conv1DBatchnorm": "conv", "PointwiseConv1D": "conv", "PointwiseConv2D": "conv",
    "DepthwiseConv1D": "depthwise", "DepthwiseConv2D": "depthwise",
    "SeparableConv1D": "separable", "SeparableConv2D": "separable",
    "Pooling1D": "pool", "Pooling2D": "pool",
    "GlobalPooling1D": "gpool", "GlobalPooling2D": "gpool",
    "Activation": "act", "ParametrizedActivation": "act", "PReLU": "act", "HardActivation": "act",
    "Softmax": "softmax",
    "Merge": "merge", "Concatenate": "concat",
    "BatchNormalization": "bn", "ApplyAlpha": "bn",
    "ZeroPadding1D": "elem", "ZeroPadding2D": "elem", "Resize": "elem", "Repack": "elem",
    "Clone": "elem", "Cropping1D": "elem", "Cropping2D": "elem", "Transpose": "elem",
    "Input": "free", "InputLayer": "free", "Reshape": "free",
    # hwflow.hls_ext: permutations (wiring, one pipeline stage in io_stream) and ReLU6 (two comparators)
    "ChannelShuffle": "elem", "ChannelSlice": "elem", "BoundedReLU": "act",
}
_TABLE_ACTS = ("sigmoid", "tanh", "softplus", "softsign", "elu", "selu")


class _Ctx:
    def __init__(self, io_type: str, clock: float, tool: str, family7: bool, cal: Calibration,
                 model_outputs: frozenset = frozenset()):
        self.io_type, self.clock, self.tool, self.family7, self.cal = io_type, clock, tool, family7, cal
        self.model_outputs = model_outputs  # top-level ports: no FIFO inside the design

    def cycles(self, ns: float) -> int:
        return max(0, math.ceil(ns / self.clock - 1e-9))


@dataclass
class _Kernel:
    """One weight-times-data kernel (a dense call; a conv's per-pixel product set)."""

    n_products: int
    n_zeros: int
    fan_in: int
    w_bits: int
    w_frac: int
    a_bits: int
    shift: bool
    rf: int
    strategy: str
    # significant bits of each nonzero weight code (weight_sig_bits), from the layer's actual
    # weights; None: the share of DSP-mapped products is modelled statistically (dsp_share)
    sig_bits: object = None


def weight_sig_bits(data, frac: int):
    """Significant bits (highest set bit - lowest set bit + 1) of each nonzero quantized weight
    code q = round(w * 2^frac). By hand with numpy: no library models HLS's constant multipliers."""
    import numpy as np

    q = np.abs(np.rint(np.asarray(data, dtype=np.float64).ravel() * 2.0 ** frac)).astype(np.int64)
    q = q[q > 0]
    if q.size == 0:
        return q
    low = np.log2((q & -q).astype(np.float64)).astype(np.int64)
    high = np.floor(np.log2(q.astype(np.float64))).astype(np.int64)
    return high - low + 1


def _weight_share(sig, threshold: int) -> tuple[float, float]:
    if sig is None or sig.size == 0:
        return 0.0, 0.0
    dsp = sig > threshold
    lut = sig[~dsp]
    return float(dsp.mean()), float(lut.mean()) if lut.size else 0.0


def kernel_dsp(k: _Kernel, ctx: _Ctx) -> dict:
    """DSP units, DSP-mapped products, multiplier limit, kernel interval and LUT-product bits."""
    cal = ctx.cal
    # Resource at RF 1: the weight ROM is fully partitioned (block_factor = n), every weight a
    # constant again, so HLS builds the same constant multipliers as for Latency
    constant = k.strategy == "latency" or k.rf == 1
    # zero weights (pruning) drop their products only where the weights are constants: the Resource
    # kernel at RF > 1 reads them from a ROM (nnet_dense_resource.h: block_factor products whatever
    # the values), so a pruned layer saves multipliers only in Latency (or at RF 1)
    zeros = k.n_zeros if constant else 0
    nnz = max(k.n_products - zeros, 0)
    limit = max(1, math.ceil(k.n_products / k.rf) - zeros // k.rf)
    per = _dsp_per_product(k.a_bits, k.w_bits, ctx.family7)
    # a narrow activation makes a product by a constant cheap in LUTs: the threshold rises by
    # `dsp_sig_per_input_bit` per activation bit below 16
    threshold = int(round(cal.dsp_min_sig_bits.get(ctx.tool, 4) + cal.dsp_sig_per_input_bit * max(0, 16 - k.a_bits)))
    if k.shift:
        share, lut_sig = 0.0, float(k.w_bits)
    elif not constant:
        # Resource: weights read from a ROM, a variable x variable product: LUTs only when both
        # operands are narrow
        share, lut_sig = (0.0, float(k.w_bits)) if max(k.a_bits, k.w_bits) <= cal.lut_mult_max_bits else (1.0, 0.0)
    elif min(k.a_bits, k.w_bits) <= cal.lut_mult_max_bits:
        share, lut_sig = 0.0, float(k.w_bits)
    elif k.sig_bits is not None:
        share, lut_sig = _weight_share(k.sig_bits, threshold)
    else:
        share, lut_sig = dsp_share(k.w_bits, k.w_frac, k.fan_in, threshold, float(cal.weight_sigma))
    dsp_products = share * nnz
    units = min(limit, math.ceil(dsp_products - 1e-9)) if dsp_products > 0 else 0
    # rounds: how often each DSP unit is used per kernel call (the schedule length of the products)
    rounds = max(1, math.ceil(dsp_products / units - 1e-9)) if units else 1
    binds = dsp_products > limit
    ii = k.rf  # PIPELINE II=RF
    if ctx.tool == "vivado_hls" and cal.vivado_ii_from_dsp and k.strategy == "latency" and k.rf > 1:
        # Vivado HLS relaxes PIPELINE II=RF of the Latency kernel: the DSP schedule when the
        # allocation limit binds, else a short schedule (`latency_rf_cycles`, fitted)
        ii = min(k.rf, max(rounds if binds else 1, int(cal.latency_rf_cycles)))
    share_div = max(ii, 1) if k.strategy == "resource" else 1  # Latency: LUT products are not shared
    dsp = units * per
    if cal.dsp_packing and max(k.a_bits, k.w_bits) <= 8 and dsp:
        dsp = math.ceil(dsp / 2)
    lut_products = nnz - dsp_products
    return {"dsp": dsp, "units": units, "limit": limit, "ii": ii, "rounds": rounds, "binds": binds, "share": share,
            # LUT-mapped products: shift-adds, shared over the interval when it is > 1
            # LUT-mapped products: by a constant (Latency: shift-adds of the weight's significant
            # bits) or variable x variable (Resource, narrow operands: a LUT multiplier)
            "lutmul": lut_products * k.a_bits * lut_sig / 16.0 / share_div if constant else 0.0,
            "lutvar": lut_products * k.a_bits * k.w_bits / 16.0 / share_div if not constant else 0.0,
            "share_div": share_div,
            "mux": (units * (k.a_bits + k.w_bits) * math.ceil(math.log2(k.rf))) / 16.0 if k.rf > 1 else 0}


def ff_density(clock_ns: float) -> float:
    """Pipeline registers scale with the clock frequency (a prior: HLS inserts a register stage
    per ~5 ns of logic), relative to a 5 ns clock."""
    return min(1.0, 5.0 / max(clock_ns, 1e-3))


def _weight_bram(w_prec, n_weights, rf, strategy):
    """Resource strategy: weights reshaped `block_factor` wide, RF deep (nnet_dense_resource.h)."""
    if strategy != "resource" or n_weights == 0:
        return 0
    block = math.ceil(n_weights / rf)
    width = block * _bits(w_prec)
    # RF words of block*bits: the BRAM18 aspect ratio that fits RF words (a deep, narrow ROM packs
    # into 1Kx18 ... 16Kx1 instead of stacking 512x36 blocks)
    return _bram18(rf, width) if rf > 1 else 0


def _attr(layer, key, default=1) -> int:
    return int(layer.get_attr(key, default) or default)


def _nzeros(w) -> int:
    n = getattr(w, "nzeros", 0)
    return max(int(n), 0) if n is not None else 0


def _out_fifos(layer, ctx: _Ctx) -> list[tuple[int, int, int]]:
    """(depth, elements per word, bits per element) of each output stream of a layer. The depth is the one on hls4ml's
    output variable (`var.pragma = ('stream', depth)`: H*W by default, fpga_types.py
    StreamVariableConverter, or whatever a FIFO-depth pass set); in-place streams (pragma None:
    reshape/flatten) and the model's output ports are no FIFO."""
    out = []
    for name in getattr(layer, "outputs", None) or []:
        if name in ctx.model_outputs:
            continue
        try:
            var = layer.get_output_variable(name)
        except (KeyError, AttributeError, TypeError):
            continue
        pragma = getattr(var, "pragma", None)
        if not (isinstance(pragma, (tuple, list)) and len(pragma) >= 2 and pragma[0] == "stream"):
            continue
        shape = [int(x) for x in var.shape]
        out.append((int(pragma[1]), shape[-1] if shape else 1, _bits(var.type.precision)))
    return out


def _layer(layer, ctx: _Ctx) -> LayerEstimate:
    import numpy as np

    cls = layer.class_name
    kind = _KINDS.get(cls, "unknown")
    rf = _attr(layer, "reuse_factor")
    strategy = str(layer.get_attr("strategy", "latency") or "latency").lower()
    le = LayerEstimate(layer.name, cls, kind, reuse_factor=rf, strategy=strategy,
                       inputs=list(getattr(layer, "inputs", []) or []))
    if kind == "unknown":
        le.note = f"unknown layer type {cls}: not estimated"
        return le
    out = layer.get_output_variable()
    out_shape = [int(s) for s in out.shape]
    out_bits = _bits(out.type.precision)
    n_out_elems = int(np.prod(out_shape))
    try:
        inp = layer.get_input_variable()
        in_shape = [int(s) for s in inp.shape]
        a_bits = _bits(inp.type.precision)
    except (AttributeError, IndexError, KeyError):
        in_shape, a_bits = out_shape, out_bits
    stream = ctx.io_type == "io_stream"
    pixels_in = int(np.prod(in_shape[:-1])) if len(in_shape) > 1 else 1
    pixels_out = int(np.prod(out_shape[:-1])) if len(out_shape) > 1 else 1
    chans_out = out_shape[-1]
    accum = layer.get_attr("accum_t")
    acc_bits = _bits(accum.precision) if accum is not None else out_bits
    f = dict.fromkeys(LUT_FEATURES, 0.0)
    f["layer"] = 1.0
    cal = ctx.cal
    kernel_depth = ctx.cycles(cal.dense_depth_ns)

    if kind in ("dense", "conv", "depthwise", "separable"):
        k_area = _attr(layer, "filt_height") * _attr(layer, "filt_width")
        parts = []  # (precision, products per kernel call, zeros, fan-in, weight variable)
        if kind == "separable":
            for key, fan in (("depthwise", k_area), ("pointwise", in_shape[-1])):
                w = layer.weights[key]
                parts.append((w.type.precision, int(w.data.size), _nzeros(w), fan, w))
        elif kind == "depthwise":
            # products = kernel x channels x multiplier, whatever layout hls4ml stores the weights in
            # (1.3.0 keeps a (kh, kw, C, C) array for bias-less depthwise layers, zero off the diagonal)
            w = layer.weights["weight"]
            n_prod = k_area * in_shape[-1] * _attr(layer, "depth_multiplier")
            zeros = max(0, _nzeros(w) - (int(w.data.size) - n_prod))
            parts.append((w.type.precision, n_prod, zeros, k_area, w))
        else:
            w = layer.weights["weight"]
            fan = int(w.data.size) // max(chans_out, 1)
            parts.append((w.type.precision, int(w.data.size), _nzeros(w), fan, w))
        n_calls = 1 if kind == "dense" else pixels_out  # kernel evaluations per image
        if kind == "dense" and len(in_shape) > 1:  # dense over the last axis of a tensor
            n_calls = pixels_in
        le.macs = sum(p[1] - p[2] for p in parts) * n_calls
        if not stream and kind != "dense":
            n_part = _attr(layer, "n_partitions", pixels_out)
            unroll = max(1, pixels_out // max(1, n_part))  # pixels computed in parallel per partition
        else:
            n_part, unroll = 1, 1
        kernel_ii, rounds, binds = 1, 1, False
        for prec, n_prod, nz, fan, wvar in parts:
            data = getattr(wvar, "data", None)
            sig = weight_sig_bits(data, _frac(prec)) if data is not None and (strategy == "latency" or rf == 1) else None
            k = _Kernel(n_prod, nz, fan, _bits(prec), _frac(prec), a_bits, _is_shift(prec), rf, strategy, sig)
            r = kernel_dsp(k, ctx)
            kd = {f.name: getattr(k, f.name) for f in fields(k) if f.name != "sig_bits"}
            le.kernels.append({**kd, **{x: r[x] for x in ("dsp", "units", "limit", "ii", "rounds", "share")},
                               "unroll": unroll})
            le.dsp += r["dsp"] * unroll
            le.multipliers += max(1, math.ceil((n_prod - nz) / rf)) * unroll
            f["lutmul"] += r["lutmul"] * unroll
            f["lutvar"] += r["lutvar"] * unroll
            f["mux"] += r["mux"] * unroll
            f["dsp"] += r["dsp"] * unroll
            # adder tree: shared over the interval like the multipliers (Resource: block_factor wide)
            f["add"] += (n_prod - nz) * acc_bits * unroll / 16.0 / r["share_div"]
            kernel_ii, rounds, binds = max(kernel_ii, r["ii"]), max(rounds, r["rounds"]), binds or r["binds"]
            rom_bram = _weight_bram(prec, n_prod, rf, strategy)
            le.bram_18k += rom_bram
            if rom_bram:
                le.roms.append([rf, math.ceil(n_prod / rf) * _bits(prec), rom_bram])
        # latency: the DSP schedule (rounds) plus the multiply/adder depth; an extra cycle for the
        # reuse multiplexers when the units are shared (RF=1 designs with all products in one round)
        steps = rounds if strategy == "latency" else kernel_ii
        extra = cal.reuse_extra_cycles if steps > 1 else 0
        k_lat = max(steps + kernel_depth - 1 + extra + (2 if strategy == "resource" else 0), 0)
        if stream and kind != "dense":
            # one PIPELINE II=RF iteration per input pixel (conv_2d_buffer_cl / conv_1d_buffer_cl);
            # Vivado HLS relaxes it to the DSP schedule (+ line-buffer overhead) when the limit binds
            if strategy == "resource":
                per_pixel = rf + cal.per_tool("stream_resource_extra", ctx.tool) if rf > 1 else \
                    cal.per_tool("stream_resource_rf1", ctx.tool)
            else:
                per_pixel = kernel_ii + (cal.stream_pixel_extra if binds and kernel_ii < rf else 0)
                per_pixel = max(per_pixel, cal.per_tool("stream_pixel_min", ctx.tool))
            le.ii = pixels_in * per_pixel
            if strategy == "resource" and pixels_out < pixels_in:
                # Resource: the loop over input pixels is not pipelined and compute_output_buffer_*d
                # calls the kernel only where a window ends (nnet_conv_stream.h): the other pixels only
                # shift the line buffer. Stride > 1 and valid borders are that much cheaper than the
                # worst case csynth reports (pixels_in x (RF + extra)); co-simulation and boards run this.
                le.csynth_ii, le.csynth_latency = le.ii, le.ii + k_lat
                le.ii = pixels_out * per_pixel + (pixels_in - pixels_out) * cal.stream_skip_cycles
            le.latency = le.ii + k_lat
            fh, fw = _attr(layer, "filt_height"), _attr(layer, "filt_width")
            in_w = _attr(layer, "in_width", in_shape[-2] if len(in_shape) > 2 else 1)
            le.first_out = ((fh - 1) * in_w + fw) * per_pixel + k_lat if len(in_shape) > 2 else fw * per_pixel + k_lat
            le.tail = k_lat + 1
            f["elem"] = in_shape[-1] * a_bits * max(1, fh) / 16.0
            # line buffer: ap_shift_reg<in_width> x (filt_height-1) x channels, SRL unless large
            le.bram_18k += max(fh - 1, 0) * in_shape[-1] * _shift_reg_bram(in_w, a_bits, cal)
            f["lbuf"] = max(fh - 1, 0) * in_w * in_shape[-1] * a_bits / 16.0
        elif stream:  # dense on a stream: read the input pixels, then one kernel call
            # the input vector held in registers, read by one multiplexer per product lane: at a reuse
            # factor above n_in the kernel has fewer lanes (block_factor) than outputs and the buffer is
            # registers with few LUTs (`inreg`: FF only), not a mux per output (`inbuf`: LUT and FF)
            in_bits = int(np.prod(in_shape)) * a_bits / 16.0
            block = math.ceil(sum(p[1] for p in parts) / max(rf, 1))
            lanes = min(1.0, block / max(chans_out, 1))
            f["inbuf"] = in_bits * lanes
            f["inreg"] = in_bits * (1.0 - lanes)
            le.ii = max(pixels_in, kernel_ii)
            le.latency = pixels_in + k_lat
            le.first_out = le.latency
            le.tail = k_lat + 1
        else:
            le.ii = n_part * kernel_ii
            le.latency = (n_part - 1) * kernel_ii + k_lat + 1 if n_part > 1 else max(k_lat, 0)
    elif kind == "softmax":
        n = _attr(layer, "n_in", chans_out)
        le.bram_18k = math.ceil(n / 2) + 1  # exp table read n-wide (dual-port copies) + inv table
        le.dsp = 1 if n > 1 else 0
        depth = 1 + ctx.cycles(cal.softmax_depth_ns)
        reads = pixels_in if stream else 0
        le.latency = depth + reads
        le.ii = max(reads, 1)
        le.first_out, le.tail = le.latency, depth
        f["elem"] = n * out_bits / 16.0
    elif kind in ("act", "bn", "elem", "merge", "concat", "pool", "gpool"):
        width_elems = chans_out if stream else n_out_elems
        in_elems = in_shape[-1] if stream else int(np.prod(in_shape))
        act = str(layer.get_attr("activation", "") or "").lower()
        if kind == "act" and act in _TABLE_ACTS:
            le.bram_18k = 1
            depth = ctx.cycles(cal.table_act_depth_ns)
        elif kind == "bn":
            depth = kernel_depth
            wprec = layer.weights["scale"].type.precision if "scale" in layer.weights else None
            if wprec is not None and not _is_shift(wprec) and min(a_bits, _bits(wprec)) > cal.lut_mult_max_bits:
                # one product per channel, limited to ceil(n/RF) multipliers (nnet_batchnorm.h)
                le.dsp = math.ceil(width_elems / max(rf, 1)) * _dsp_per_product(a_bits, _bits(wprec), ctx.family7)
            le.multipliers = width_elems
            le.macs = n_out_elems
            f["dsp"] = le.dsp
        elif kind in ("pool", "gpool"):
            ph = _attr(layer, "pool_height") * _attr(layer, "pool_width")
            if kind == "gpool":
                ph = max(1, pixels_in)
            f["add"] = (chans_out if stream else n_out_elems) * acc_bits * (1 if kind == "gpool" else ph) / 16.0
            depth = 1 + (ctx.cycles(2.0 * math.log2(max(ph, 2))) if kind == "pool" else 1)
        else:
            depth = 0 if kind in ("act", "elem", "concat") else 1
        f["elem"] += max(width_elems, in_elems) * out_bits / 16.0
        if stream:
            pixels = max(pixels_in, pixels_out)
            le.ii = pixels
            le.latency = pixels + depth
            le.first_out = pixels_in if kind == "gpool" else depth + 1
            le.tail = depth + 1
        else:
            le.latency, le.ii = depth, 1
    if stream and kind != "free":
        for depth, n, bits in _out_fifos(layer, ctx):
            b = stream_fifo_bram(depth, n, bits, cal, ctx.tool)
            le.fifo_bram_18k += b
            if b:
                le.fifos.append([depth, n * bits, b])
        le.bram_18k += le.fifo_bram_18k
    le.features = f
    for res, coef in (("lut", cal.coefs("lut_coef", ctx.tool)), ("ff", cal.coefs("ff_coef", ctx.tool))):
        value = sum(coef.get(k, 0.0) * v for k, v in f.items()) * (ff_density(ctx.clock) if res == "ff" else 1.0)
        setattr(le, res, int(round(value)) if kind != "free" else 0)
    return le

