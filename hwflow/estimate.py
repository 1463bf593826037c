"""Resources, latency and initiation interval of a converted hls4ml model, without synthesis.

`estimate(hls_model, board=None, clock_period_ns=None) -> Estimate` walks the layers of an
hls4ml 1.3.0 `ModelGraph` (converted, not written, not compiled) and models each one the way
the nnet_utils templates implement it:

- multipliers: `multiplier_limit = ceil(n_in*n_out/RF) - n_zeros/RF` (nnet_dense_latency.h
  ALLOCATION pragma; nnet_dense_resource.h `block_factor` for the Resource strategy); conv
  layers reuse one such kernel per pixel (line buffer in io_stream, im2col partitions in
  io_parallel), depthwise layers have kernel*channels products.
- DSP vs LUT (the bit-width rule): a product whose narrower operand has at most
  `lut_mult_max_bits` bits becomes fabric logic. With the Latency strategy the weights are
  compile-time constants, so HLS also turns a product whose weight has at most
  `const_lut_max_bits[tool]` significant bits (zeros stripped) into shift-adds, and drops
  zero weights; this uses the real weight values of the model. Wide products take
  ceil(a/A)*ceil(b/B) DSPs (DSP48E1 25x18, DSP48E2 27x18); 2 MACs per DSP when both
  operands fit 8 bits and the calibration enables packing.
- BRAM_18K: weights of Resource-strategy layers (ROM `block_factor` wide, RF deep), softmax
  and other lookup tables, and io_stream FIFOs (hls4ml makes every stream H*W deep).
- latency/II: io_parallel is one pipelined function (II = slowest layer, latency = sum plus a
  per-call overhead); io_stream is a dataflow region whose interval is the slowest layer and
  whose latency is that layer's cycles plus a fill time per layer (the reports show stages
  overlapping, not adding up).
- LUT/FF: linear in a few per-layer features (bits of LUT products, adders, elementwise
  datapath, reuse muxes), with coefficients fitted on real reports.

The free constants live in `hwflow/estimate_calibration.json`, written by
`benchmarks/calibrate_estimator.py`, which also measures the error against real reports.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from hwflow.boards import Board, board_for_part, get_board
from hwflow.errors import ConfigError, ReportError

CALIBRATION_PATH = Path(__file__).with_name("estimate_calibration.json")
RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")
LUT_FEATURES = ("lutmul_bits", "add_bits", "elem_bits", "mux_bits", "dsp", "layer")


@dataclass(frozen=True)
class Calibration:
    """The free constants of the model (see the module docstring); defaults are hand-set."""

    lut_mult_max_bits: int = 8
    const_lut_max_bits: dict = field(default_factory=lambda: {"vivado_hls": 4, "vitis": 3})
    dsp_packing: bool = False
    dense_depth_ns: float = 4.0
    softmax_depth_ns: float = 20.0
    table_act_depth_ns: float = 5.0
    parallel_call_overhead: float = 0.75
    stream_fill_per_layer: float = 3.0
    fifo_bram_min_bits: int = 4096
    # relative weights of the LUT/FF features (physical priors) and one fitted scale per io_type
    lut_coef: dict = field(default_factory=lambda: dict(zip(LUT_FEATURES, (0.5, 1.0, 1.5, 0.5, 5.0, 50.0))))
    ff_coef: dict = field(default_factory=lambda: dict(zip(LUT_FEATURES, (0.1, 0.5, 0.3, 0.2, 10.0, 30.0))))
    lut_scale: dict = field(default_factory=lambda: {"io_parallel": 1.0, "io_stream": 1.0})
    ff_scale: dict = field(default_factory=lambda: {"io_parallel": 1.0, "io_stream": 1.0})

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> "Calibration":
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReportError(f"{path}: cannot read the estimator calibration ({exc})") from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.get("constants", {}).items() if k in known})


@dataclass
class LayerEstimate:
    name: str
    class_name: str
    kind: str  # dense, conv, depthwise, separable, pool, gpool, act, softmax, merge, concat, bn, elem, free, unknown
    reuse_factor: int = 1
    strategy: str = "latency"
    macs: int = 0  # multiply-accumulates per image
    multipliers: int = 0  # multiplier instances after reuse
    dsp: int = 0
    lut: int = 0
    ff: int = 0
    bram_18k: int = 0
    uram: int = 0
    latency: int = 0  # cycles for one image through this layer
    ii: int = 1  # cycles before this layer accepts the next image
    features: dict = field(default_factory=dict)
    note: str = ""


@dataclass
class Roofline:
    macs_per_image: int
    peak_macs_per_s: float  # board DSPs x MACs/DSP x clock
    images_per_s: float  # clock / II of the design
    achieved_macs_per_s: float
    share: float  # achieved / peak


@dataclass
class Estimate:
    layers: list[LayerEstimate]
    totals: dict[str, int]
    latency_cycles: int
    ii_cycles: int
    clock_period_ns: float
    io_type: str
    backend: str
    part: str
    board: str | None
    utilisation: dict[str, float] | None  # percent of the board
    binding_resource: str | None
    fits: bool | None
    roofline: Roofline | None
    unknown_layers: list[str]

    @property
    def latency_us(self) -> float:
        return self.latency_cycles * self.clock_period_ns / 1000.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["latency_us"] = self.latency_us
        return d


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


def _significant_bits(values, precision):
    """Per weight: bits between the highest and lowest set bit of |q| (0 for zero weights)."""
    import numpy as np

    q = np.abs(np.round(np.asarray(values, dtype=np.float64).ravel() * 2.0 ** _frac(precision))).astype(np.int64)
    q = np.minimum(q, 2 ** min(_bits(precision), 62) - 1)
    nz = q > 0
    out = np.zeros(q.shape, dtype=np.int64)
    if nz.any():
        v = q[nz]
        low = np.log2(v & -v).astype(np.int64)  # trailing zeros
        high = np.floor(np.log2(v)).astype(np.int64)
        out[nz] = high - low + 1
    return out


def _dsp_per_product(a: int, b: int, family7: bool) -> int:
    big, small = max(a, b), min(a, b)
    port_a = 25 if family7 else 27
    return math.ceil(big / port_a) * math.ceil(small / 18)


def _fifo_bram(depth: int, width: int, cal: Calibration) -> int:
    """BRAM_18K of one FIFO; small ones become SRL/LUTRAM (HLS's own choice, threshold calibrated)."""
    if depth * width <= cal.fifo_bram_min_bits or depth <= 2:
        return 0
    # BRAM18 aspect ratios: 16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18, 512x36
    for d, w in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)):
        if depth <= d:
            return math.ceil(width / w)
    return math.ceil(width / 1) * math.ceil(depth / 16384)


# --- per-layer models --------------------------------------------------------------------

_KINDS = {
    "Dense": "dense",
    "Conv1D": "conv", "Conv2D": "conv", "PointwiseConv1D": "conv", "PointwiseConv2D": "conv",
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
}
_TABLE_ACTS = ("sigmoid", "tanh", "softplus", "softsign", "elu", "selu")


class _Ctx:
    def __init__(self, io_type: str, clock: float, tool: str, family7: bool, cal: Calibration):
        self.io_type, self.clock, self.tool, self.family7, self.cal = io_type, clock, tool, family7, cal

    def cycles(self, ns: float) -> int:
        return max(0, math.ceil(ns / self.clock - 1e-9))


def _product_model(le, ctx, weights, w_prec, a_bits, n_products, rf, strategy, n_zeros=0):
    """Multipliers, DSPs and LUT-product bits of one weight-times-data kernel."""
    cal = ctx.cal
    w_bits = _bits(w_prec)
    mult_limit = max(1, math.ceil(n_products / rf) - n_zeros // rf)
    le.multipliers = mult_limit
    per = _dsp_per_product(a_bits, w_bits, ctx.family7)
    narrow = _is_shift(w_prec) or min(a_bits, w_bits) <= cal.lut_mult_max_bits
    if narrow:
        le.dsp, lut_bits = 0, mult_limit * a_bits * w_bits
    elif strategy == "latency" and weights is not None:
        sig = _significant_bits(weights, w_prec)
        thr = cal.const_lut_max_bits.get(ctx.tool, 4)
        n_dsp_w = int((sig > thr).sum())
        dsp_mults = min(n_dsp_w, mult_limit)
        le.dsp = dsp_mults * per
        lut_w = sig[(sig > 0) & (sig <= thr)]
        lut_bits = int(a_bits * lut_w.sum() * min(1.0, mult_limit / max(1, sig.size)))
    else:
        le.dsp, lut_bits = mult_limit * per, 0
    if cal.dsp_packing and max(a_bits, w_bits) <= 8 and le.dsp:
        le.dsp = math.ceil(le.dsp / 2)
    le.features["lutmul_bits"] = le.features.get("lutmul_bits", 0) + lut_bits
    le.features["dsp"] = le.features.get("dsp", 0) + le.dsp
    le.features["mux_bits"] = le.features.get("mux_bits", 0) + (
        mult_limit * (a_bits + w_bits) * math.ceil(math.log2(rf)) if rf > 1 else 0)
    return mult_limit


def _weight_bram(w_prec, n_weights, rf, strategy):
    """Resource strategy: weights reshaped `block_factor` wide, RF deep (nnet_dense_resource.h)."""
    if strategy != "resource" or n_weights == 0:
        return 0
    block = math.ceil(n_weights / rf)
    width = block * _bits(w_prec)
    depth_blocks = math.ceil(rf / 512)
    return math.ceil(width / 36) * depth_blocks if rf > 1 else 0


def _layer(layer, ctx: _Ctx) -> LayerEstimate:
    import numpy as np

    cls = layer.class_name
    kind = _KINDS.get(cls, "unknown")
    rf = int(layer.get_attr("reuse_factor", 1) or 1)
    strategy = str(layer.get_attr("strategy", "latency") or "latency").lower()
    le = LayerEstimate(layer.name, cls, kind, reuse_factor=rf, strategy=strategy)
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
    f = le.features
    f["layer"] = 1
    cal = ctx.cal

    if kind in ("dense", "conv", "depthwise", "separable"):
        parts = []  # (weights, precision, products per kernel call, n_zeros)
        if kind == "separable":
            for key in ("depthwise", "pointwise"):
                w = layer.weights[key]
                parts.append((w.data, w.type.precision, int(w.data.size), 0))
        elif kind == "depthwise":
            # products = kernel x channels x multiplier, whatever layout hls4ml stores the weights in
            # (1.3.0 keeps a (kh, kw, C, C) array for bias-less depthwise layers, zero off the diagonal)
            w = layer.weights["weight"]
            k = int(layer.get_attr("filt_height", 1) or 1) * int(layer.get_attr("filt_width", 1) or 1)
            n_prod = k * in_shape[-1] * int(layer.get_attr("depth_multiplier", 1) or 1)
            data = w.data.ravel()
            if data.size > n_prod:
                data = data[data != 0][:n_prod]
            parts.append((data, w.type.precision, n_prod, 0))
        else:
            w = layer.weights["weight"]
            parts.append((w.data, w.type.precision, int(w.data.size), int(layer.get_attr("n_zeros", 0) or 0)))
        n_calls = 1 if kind == "dense" else pixels_out  # kernel evaluations per image
        if kind == "dense" and len(in_shape) > 1:  # dense over the last axis of a tensor
            n_calls = pixels_in
        le.macs = sum(p[2] for p in parts) * n_calls
        if not stream and kind != "dense":
            n_part = int(layer.get_attr("n_partitions", pixels_out) or pixels_out)
            unroll = max(1, pixels_out // max(1, n_part))  # pixels computed in parallel per partition
        else:
            n_part, unroll = 1, 1
        for data, prec, n_prod, nz in parts:
            part = LayerEstimate(le.name, cls, kind)
            le.multipliers += _product_model(part, ctx, data, prec, a_bits, n_prod, rf, strategy, nz) * unroll
            le.dsp += part.dsp * unroll
            for k, v in part.features.items():
                f[k] = f.get(k, 0) + v * unroll
            le.bram_18k += _weight_bram(prec, n_prod, rf, strategy)
        f["add_bits"] = le.multipliers * acc_bits
        depth = rf - 1 + ctx.cycles(cal.dense_depth_ns) + (2 if strategy == "resource" else 0)
        if stream and kind != "dense":
            # one PIPELINE II=RF iteration per input pixel (conv_2d_buffer_cl / conv_1d_buffer_cl)
            le.ii = pixels_in * rf
            le.latency = le.ii + depth
            f["elem_bits"] = in_shape[-1] * a_bits * max(1, int(layer.get_attr("filt_height", 1) or 1))
        elif stream:  # dense on a stream: read n_in elements, then one kernel call
            le.ii = max(pixels_in, rf)
            le.latency = pixels_in + depth
        else:
            le.ii = n_part * rf
            le.latency = (n_part - 1) * rf + depth + 1 if n_part > 1 else depth
        if stream and kind in ("conv", "depthwise", "separable"):
            fh = int(layer.get_attr("filt_height", 1) or 1)
            in_w = int(layer.get_attr("in_width", 1) or 1)
            # line buffer: ap_shift_reg<in_width> x (filt_height-1) x channels, SRL unless large
            le.bram_18k += sum(_fifo_bram(in_w, a_bits, cal) for _ in range(max(fh - 1, 0) * in_shape[-1]))
    elif kind == "softmax":
        n = int(layer.get_attr("n_in", chans_out) or chans_out)
        le.bram_18k = math.ceil(n / 2) + 1  # exp table read n-wide (dual-port copies) + inv table
        le.dsp = 1 if n > 1 else 0
        le.latency = ctx.cycles(cal.softmax_depth_ns) + (n if stream else 0)
        le.ii = n if stream else 1
        f["elem_bits"] = n * out_bits
    elif kind in ("act", "bn", "elem", "merge", "concat", "pool", "gpool"):
        width_elems = chans_out if stream else n_out_elems
        in_elems = in_shape[-1] if stream else int(np.prod(in_shape))
        act = str(layer.get_attr("activation", "") or "").lower()
        if kind == "act" and act in _TABLE_ACTS:
            le.bram_18k = 1
            depth = ctx.cycles(cal.table_act_depth_ns)
        elif kind == "bn":
            depth = ctx.cycles(cal.dense_depth_ns)
            wprec = layer.weights["scale"].type.precision if "scale" in layer.weights else None
            if wprec is not None and not _is_shift(wprec) and min(a_bits, _bits(wprec)) > cal.lut_mult_max_bits:
                le.dsp = width_elems * _dsp_per_product(a_bits, _bits(wprec), ctx.family7)
            le.multipliers = width_elems
            le.macs = n_out_elems
        elif kind in ("pool", "gpool"):
            ph = int(layer.get_attr("pool_height", 1) or 1) * int(layer.get_attr("pool_width", 1) or 1)
            if kind == "gpool":
                ph = max(1, pixels_in)
            f["add_bits"] = (chans_out if stream else n_out_elems) * acc_bits * (1 if kind == "gpool" else ph)
            depth = 1 + (ctx.cycles(2.0 * math.log2(max(ph, 2))) if kind == "pool" else 1)
        else:
            depth = 0 if kind in ("act", "elem", "concat") else 1
        f["elem_bits"] = f.get("elem_bits", 0) + max(width_elems, in_elems) * out_bits
        if stream:
            pixels = max(pixels_in, pixels_out)
            le.ii = pixels
            le.latency = pixels + depth
        else:
            le.latency, le.ii = depth, 1
    if stream and kind != "free":
        # the output stream: hls4ml sizes every FIFO to H*W (fpga_types.py StreamVariableConverter)
        le.bram_18k += _fifo_bram(pixels_out, chans_out * out_bits, cal)
    for res, coef, scale in (("lut", cal.lut_coef, cal.lut_scale), ("ff", cal.ff_coef, cal.ff_scale)):
        value = scale.get(ctx.io_type, 1.0) * sum(coef.get(k, 0.0) * v for k, v in f.items())
        setattr(le, res, int(round(value)) if kind != "free" else 0)
    return le


# --- whole network -----------------------------------------------------------------------


def _tool(backend: str) -> str:
    return "vivado_hls" if backend.lower() in ("vivado", "vivadoaccelerator") else "vitis"


def estimate(hls_model, board: Board | str | None = None, clock_period_ns: float | None = None,
             calibration: Calibration | None = None) -> Estimate:
    """Per-layer and total resources, latency and II of a converted hls4ml `ModelGraph`.

    `board`: a Board, a board name from hwflow.boards, or None for the board whose part the
    model was converted for (no utilisation when no board matches). `clock_period_ns`: the
    model's ClockPeriod when None.
    """
    if isinstance(board, str):
        board = get_board(board, where="estimate --board")
    cal = calibration or Calibration.load()
    cfg = hls_model.config
    part = str(cfg.get_config_value("Part") or "")
    backend = str(getattr(getattr(cfg, "backend", None), "name", None) or cfg.get_config_value("Backend") or "Vitis")
    io_type = str(cfg.get_config_value("IOType") or "io_parallel")
    if board is None and part:
        board = board_for_part(part)
    clock = float(clock_period_ns or cfg.get_config_value("ClockPeriod") or (board.clock_period_ns if board else 5.0))
    if clock <= 0:
        raise ConfigError(f"estimate: clock_period_ns must be > 0, got {clock}")
    family7 = (board.part if board else part).lower().startswith("xc7")
    ctx = _Ctx(io_type, clock, _tool(backend), family7, cal)
    layers = [_layer(layer, ctx) for layer in hls_model.get_layers()]
    totals = {r: sum(getattr(le, r.lower()) for le in layers) for r in RESOURCES}
    active = [le for le in layers if le.kind not in ("free", "unknown")]
    if io_type == "io_stream":
        ii = max((le.ii for le in active), default=1)
        latency = ii + int(round(cal.stream_fill_per_layer * len(active)))
        slowest = max(active, key=lambda le: le.ii, default=None)
        if slowest is not None:  # layers after a full-tensor barrier cannot overlap with it
            latency += sum(le.latency - le.ii for le in active if le is not slowest and le.latency > le.ii)
    else:
        ii = max((le.ii for le in active), default=1)
        latency = sum(le.latency for le in active) + int(round(cal.parallel_call_overhead * len(active)))
    utilisation = binding = fits = roofline = None
    if board is not None:
        avail = board.resources
        utilisation = {r: (100.0 * totals[r] / avail[r]) if avail[r] else (math.inf if totals[r] else 0.0)
                       for r in RESOURCES}
        binding = max(utilisation, key=lambda r: utilisation[r])
        fits = all(v <= 100.0 for v in utilisation.values())
        macs = sum(le.macs for le in layers)
        f_hz = 1e9 / clock
        peak = board.dsp * (2 if cal.dsp_packing else 1) * f_hz  # DSP-bound: every DSP one MAC per cycle
        ips = f_hz / max(ii, 1)
        roofline = Roofline(macs, peak, ips, ips * macs, (ips * macs / peak) if peak else 0.0)
    return Estimate(layers, totals, int(latency), int(ii), clock, io_type, backend, part,
                    board.name if board else None, utilisation, binding, fits, roofline,
                    [le.name for le in layers if le.kind == "unknown"])



def add_parser(subparsers) -> None:
    """Registers `hwflow estimate` (defined in hwflow.estimate_report, imported here for hwflow.cli)."""
    from hwflow.estimate_report import add_parser as _add_parser

    _add_parser(subparsers)


def write_reports(est: Estimate, out_dir: Path, title: str) -> dict[str, Path]:
    """estimate.md / estimate.json / estimate.png in out_dir (see hwflow.estimate_report)."""
    from hwflow.estimate_report import write_reports as _write

    return _write(est, out_dir, title)
