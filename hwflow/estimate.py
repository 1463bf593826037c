"""Resources, latency and initiation interval of a converted hls4ml model, without synthesis.

`estimate(hls_model, board=None, clock_period_ns=None) -> Estimate` walks the layers of an
hls4ml 1.3.0 `ModelGraph` (converted, not written, not compiled) and models each one the way
the nnet_utils templates implement it:

- multipliers: `multiplier_limit = ceil(n_in*n_out/RF) - n_zeros/RF` (nnet_dense_latency.h
  ALLOCATION pragma; nnet_dense_resource.h `block_factor` for the Resource strategy); conv
  layers reuse one such kernel per pixel (line buffer in io_stream, im2col partitions in
  io_parallel), depthwise layers have kernel*channels products. `n_zeros` are the model's
  real zero weights (pruning): HLS drops those products where the weights are constants (Latency,
  or Resource at RF 1); the Resource kernel at RF > 1 reads them from its ROM and keeps them.
- DSP vs LUT. Resource strategy: the weights are read from a ROM, a product is a DSP unless
  both operands are `lut_mult_max_bits` wide or narrower. Latency strategy: the weights are
  compile-time constants, and HLS builds a product by a constant with few significant bits
  (zeros stripped at both ends: powers of two, small values) as shift-adds in LUTs. The
  significant bits are counted on the layer's actual quantized weights (q = round(w * 2^frac)):
  a product is a DSP when q has more than `dsp_min_sig_bits[tool]` (+ `dsp_sig_per_input_bit`
  per activation bit below 16) significant bits. (`dsp_share`, the older statistical model of
  the same share from the precision alone, is kept for weights without data.) The DSP-mapped
  products share at most `multiplier_limit` DSPs; the LUT-mapped ones are not limited.
  Wide products take ceil(a/A)*ceil(b/B) DSPs (DSP48E1 25x18, DSP48E2 27x18).
- latency/II: a kernel's interval is RF (PIPELINE II=RF). Vivado HLS (<= 2020.1 reports)
  reports a shorter interval when the allocation limit binds: ceil(DSP products / limit)
  (on when the fit says so: `vivado_ii_from_dsp`). io_parallel is one pipelined function
  (latency = longest path of layer latencies plus a per-call overhead); io_stream is a
  dataflow region: interval = slowest layer, latency from a start/finish model per layer
  (first output after the line buffer fills, last output a `tail` after the last input).
- io_stream convolutions take cycles per input pixel by tool (`tool`: Vivado HLS or Vitis HLS,
  an input of `estimate`): Latency strategy at least `stream_pixel_min[tool]`, Resource RF +
  `stream_resource_extra[tool]` (`stream_resource_rf1[tool]` at RF 1).
- BRAM_18K: weights of Resource-strategy layers at RF > 1 (ROM `block_factor` wide, RF deep:
  nnet_dense_resource.h binds them `RESOURCE core=ROM_nP_BRAM`, and the fixtures' Memory tables
  show even 9-word ROMs in BRAM, e.g. 9 x 238 bits = 7 BRAM_18K), softmax and other lookup tables,
  and io_stream FIFOs of the depth on hls4ml's output variable (`var.pragma = ('stream', depth)`),
  none for in-place streams and the output port. FIFOs per tool (`Calibration.fifo_*`, fitted on
  the FIFO tables of real reports): Vivado HLS splits a stream into one FIFO per element, SRL up to
  512 bits, BRAM above; Vitis HLS keeps one wide FIFO. Line buffers (ap_shift_reg) are SRL.
- LUT/FF: linear in a few per-layer features (LUT products x bits, adder bits, DSPs, reuse
  muxes, elementwise bits, a per-layer constant); coefficients fitted (non-negative least
  squares, relative error) on per-layer numbers of real reports.

The free constants live in `hwflow/estimate_calibration.json`, written by
`benchmarks/calibrate_estimator.py`, which also measures the error against real reports.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from hwflow.boards import Board, board_for_part, get_board
from hwflow.errors import ConfigError, ReportError

CALIBRATION_PATH = Path(__file__).with_name("estimate_calibration.json")
RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")
LUT_FEATURES = ("lutmul", "add", "dsp", "mux", "elem", "layer", "inbuf", "lbuf", "lutvar")


@dataclass(frozen=True)
class Calibration:
    """The free constants of the model (see the module docstring); defaults are hand-set priors."""

    lut_mult_max_bits: int = 4
    weight_sigma: float = 0.4
    dsp_min_sig_bits: dict = field(default_factory=lambda: {"vivado_hls": 5, "vitis": 4})
    vivado_ii_from_dsp: bool = True
    dsp_packing: bool = False
    dsp_sig_per_input_bit: float = 0.0
    latency_rf_cycles: int = 1
    dense_depth_ns: float = 5.0
    reuse_extra_cycles: int = 1
    softmax_depth_ns: float = 15.0
    table_act_depth_ns: float = 5.0
    parallel_call_overhead: float = 0.6
    stream_pixel_extra: int = 0
    # io_stream convolutions, cycles per input pixel, per tool (Vivado HLS and Vitis HLS schedule
    # the line-buffer loop differently): Latency strategy at least `stream_pixel_min`; Resource
    # strategy RF + `stream_resource_extra` at RF > 1, `stream_resource_rf1` at RF = 1
    # (neutral priors: one cycle per pixel, RF cycles; kept by the fit where no design informs them)
    stream_pixel_min: dict = field(default_factory=lambda: {"vivado_hls": 1, "vitis": 1})
    stream_resource_extra: dict = field(default_factory=lambda: {"vivado_hls": 0, "vitis": 0})
    stream_resource_rf1: dict = field(default_factory=lambda: {"vivado_hls": 1, "vitis": 1})
    # io_stream FIFOs, per tool, read off the FIFO tables of the fixtures' top-level csynth reports
    # (benchmarks/calibrate_estimator.py `fifo_rows`): Vivado HLS splits the stream of an
    # nnet::array<T, N> into N FIFOs of T's width (`layerK_out_V_data_i_V`), SRL up to 512 bits,
    # BRAM above (even 32 deep x 24 bits), 18 bits wide per BRAM_18K; Vitis HLS keeps one FIFO of
    # N*T bits. A FIFO is SRL when depth*width <= `fifo_bram_min_bits` or depth <= `fifo_srl_depth`.
    fifo_bram_min_bits: dict = field(default_factory=lambda: {"vivado_hls": 4096, "vitis": 4096})
    fifo_srl_depth: dict = field(default_factory=lambda: {"vivado_hls": 2, "vitis": 2})
    fifo_per_element: dict = field(default_factory=lambda: {"vivado_hls": False, "vitis": False})
    fifo_bram_width: dict = field(default_factory=lambda: {"vivado_hls": 36, "vitis": 36})
    # line buffers (ap_shift_reg, one per channel and kernel row): SRL up to this many bits (the
    # fixtures' line buffers, up to 34 x 32 bits, are all SRL; none larger is in them)
    shift_reg_bram_min_bits: int = 4096
    # LUT/FF = sum(coef[k] * feature[k]) per layer (features: LUT_FEATURES); either one table or
    # one per tool ({"vivado_hls": {...}, "vitis": {...}}: the tools differ in logic per feature)
    lut_coef: dict = field(default_factory=lambda: dict(zip(LUT_FEATURES, (1.0, 1.0, 5.0, 0.5, 1.5, 50.0, 0.5, 0.1, 1.0))))
    ff_coef: dict = field(default_factory=lambda: dict(zip(LUT_FEATURES, (0.2, 0.3, 10.0, 0.2, 0.3, 30.0, 1.0, 0.1, 0.2))))

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> "Calibration":
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReportError(f"{path}: cannot read the estimator calibration ({exc})") from None
        known = {f.name for f in fields(cls)}
        consts = {k: v for k, v in raw.get("constants", {}).items() if k in known}
        for k in ("stream_pixel_min", "stream_resource_extra", "stream_resource_rf1", "fifo_bram_min_bits"):
            if k in consts and not isinstance(consts[k], dict):  # files before the per-tool tables
                consts[k] = {"vivado_hls": consts[k], "vitis": consts[k]}
        return cls(**consts)

    def coefs(self, name: str, tool: str) -> dict:
        table = getattr(self, name)
        if table and all(isinstance(v, dict) for v in table.values()):
            return table.get(tool) or next(iter(table.values()))
        return table

    def per_tool(self, name: str, tool: str) -> float:
        table = getattr(self, name)
        return table.get(tool, next(iter(table.values()))) if isinstance(table, dict) else table


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
    first_out: int = 0  # io_stream: cycles from its first input to its first output
    tail: int = 0  # io_stream: cycles from its last input to its last output
    inputs: list = field(default_factory=list)
    features: dict = field(default_factory=dict)  # LUT/FF features (LUT_FEATURES)
    kernels: list = field(default_factory=list)  # per weight kernel: the DSP model's inputs (calibration)
    note: str = ""


@dataclass
class Roofline:
    """DSP-bound roofline. `images_per_s` is the design as estimated; when it does not fit the
    board, `attainable_images_per_s` scales it down by its worst utilisation (a version with
    proportionally more reuse that fits), otherwise it equals `images_per_s`. `share` =
    attainable MACs/s / board peak (all DSPs, one MAC per cycle), capped at 1.0; `capped` says
    the uncapped value exceeded 1 (LUT-mapped multipliers carrying MACs beyond the DSP bound)."""

    macs_per_image: int
    peak_macs_per_s: float  # board DSPs x MACs/DSP x clock
    images_per_s: float  # clock / II of the design
    attainable_images_per_s: float
    achieved_macs_per_s: float  # attainable images/s x MACs per image
    share: float  # achieved / peak, <= 1.0
    capped: bool = False


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
    tool: str = "vitis"  # vivado_hls | vitis: whose io_stream schedule was modelled

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
            le.bram_18k += _weight_bram(prec, n_prod, rf, strategy)
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
            f["inbuf"] = int(np.prod(in_shape)) * a_bits / 16.0  # the input vector held in registers
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
        le.fifo_bram_18k = sum(stream_fifo_bram(depth, n, bits, cal, ctx.tool) for depth, n, bits in _out_fifos(layer, ctx))
        le.bram_18k += le.fifo_bram_18k
    le.features = f
    for res, coef in (("lut", cal.coefs("lut_coef", ctx.tool)), ("ff", cal.coefs("ff_coef", ctx.tool))):
        value = sum(coef.get(k, 0.0) * v for k, v in f.items()) * (ff_density(ctx.clock) if res == "ff" else 1.0)
        setattr(le, res, int(round(value)) if kind != "free" else 0)
    return le


# --- whole network -----------------------------------------------------------------------


def _tool(backend: str, tool: str | None = None) -> str:
    """Estimator tool key: `tool` names the HLS tool ("Vivado HLS 2019.2", "vitis", "vivado_hls");
    without it, the hls4ml backend's (Vivado -> Vivado HLS, Vitis -> Vitis HLS)."""
    if tool:
        t = tool.lower().replace("_", " ")
        if "vitis" in t:
            return "vitis"
        if "vivado" in t:
            return "vivado_hls"
        raise ConfigError(f"estimate: tool {tool!r} is not an HLS tool; valid: 'Vivado HLS <version>', "
                          "'Vitis HLS <version>', vivado_hls, vitis")
    return "vivado_hls" if backend.lower() in ("vivado", "vivadoaccelerator") else "vitis"


def _network_latency(layers: list[LayerEstimate], stream: bool, cal: Calibration) -> int:
    """Longest path through the layer graph (inputs by name; unknown inputs start at 0).

    io_parallel: finish = max(input finishes) + latency + call overhead.
    io_stream (dataflow): a layer starts when its inputs' first outputs arrive and finishes the
    later of (start + its own latency) and (last input + its tail)."""
    start: dict[str, float] = {}
    first: dict[str, float] = {}
    finish: dict[str, float] = {}
    end = 0.0
    for le in layers:
        ins = [n for n in le.inputs if n in finish]
        if le.kind in ("free", "unknown"):
            t = max((finish[n] for n in ins), default=0.0)
            s = max((first[n] for n in ins), default=0.0)
            start[le.name], first[le.name], finish[le.name] = s, s, t
            continue
        if stream:
            s = max((first[n] for n in ins), default=0.0)
            done = max(s + le.latency, max((finish[n] for n in ins), default=0.0) + le.tail)
            start[le.name], first[le.name], finish[le.name] = s, s + le.first_out, done + cal.parallel_call_overhead
        else:
            s = max((finish[n] for n in ins), default=0.0)
            start[le.name] = s
            first[le.name] = finish[le.name] = s + le.latency + cal.parallel_call_overhead
        end = max(end, finish[le.name])
    return int(round(end))


def estimate(hls_model, board: Board | str | None = None, clock_period_ns: float | None = None,
             calibration: Calibration | None = None, tool: str | None = None) -> Estimate:
    """Per-layer and total resources, latency and II of a converted hls4ml `ModelGraph`.

    `board`: a Board, a board name from hwflow.boards, or None for the board whose part the
    model was converted for (no utilisation when no board matches). `clock_period_ns`: the
    model's ClockPeriod when None. `tool`: the HLS tool that will synthesize it ("Vivado HLS
    2020.1", "Vitis HLS 2023.1", or vivado_hls / vitis); None: the backend's tool.
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
    outputs = frozenset(getattr(hls_model, "outputs", None) or [])
    ctx = _Ctx(io_type, clock, _tool(backend, tool), family7, cal, outputs)
    layers = [_layer(layer, ctx) for layer in hls_model.get_layers()]
    totals = {r: sum(getattr(le, r.lower()) for le in layers) for r in RESOURCES}
    active = [le for le in layers if le.kind not in ("free", "unknown")]
    ii = max((le.ii for le in active), default=1)
    latency = max(_network_latency(layers, io_type == "io_stream", cal), ii)
    utilisation = binding = fits = roofline = None
    if board is not None:
        avail = board.resources
        utilisation = {r: (100.0 * totals[r] / avail[r]) if avail[r] else (math.inf if totals[r] else 0.0)
                       for r in RESOURCES}
        binding = max(utilisation, key=lambda r: utilisation[r])
        fits = all(v <= 100.0 for v in utilisation.values())
        roofline = _roofline(layers, board, clock, ii, utilisation, cal)
    return Estimate(layers, totals, int(latency), int(ii), clock, io_type, backend, part,
                    board.name if board else None, utilisation, binding, fits, roofline,
                    [le.name for le in layers if le.kind == "unknown"], ctx.tool)


def _roofline(layers, board: Board, clock: float, ii: int, utilisation: dict, cal: Calibration) -> Roofline:
    macs = sum(le.macs for le in layers)
    f_hz = 1e9 / clock
    peak = board.dsp * (2 if cal.dsp_packing else 1) * f_hz  # DSP-bound: every DSP one MAC per cycle
    ips = f_hz / max(ii, 1)
    worst = max([v for v in utilisation.values() if math.isfinite(v)] + [0.0]) / 100.0
    attainable = ips / max(1.0, worst) if all(math.isfinite(v) for v in utilisation.values()) else 0.0
    raw = attainable * macs / peak if peak else 0.0
    return Roofline(macs, peak, ips, attainable, attainable * macs, min(raw, 1.0), raw > 1.0)
