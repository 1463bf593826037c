"""FIFO depths of an io_stream hls4ml design without RTL simulation.

hls4ml makes every io_stream FIFO H*W words deep (enough to hold a whole feature map), which is
most of the BRAM of a CNN design. Its own `fifo_depth_optimization` pass finds smaller depths by
RTL co-simulation (Vivado/Vitis HLS + a simulator). This module finds them from the token order
alone: each hls4ml stream layer is a fixed sequence of *steps*, each step reading a fixed number
of words from its input streams and writing a fixed number to its outputs (the loops of
nnet_conv_stream.h / nnet_pooling_stream.h / nnet_padding_stream.h / nnet_merge_stream.h /
nnet_stream.h / nnet_dense_stream.h and hwflow's nnet_hwflow.h, transcribed below). The network
is a Kahn process network with static read/write sequences (a marked graph), so

* `occupancy()` runs one image at full rate (every layer takes one step per cycle as soon as its
  words are there; the testbench writes one input word per cycle) with unbounded FIFOs: the step
  times are a max-plus recurrence, solved per layer with numpy (`t_k = k + cummax(b_k - k)`).
  A stream's peak occupancy is the most words it ever holds; the depth is that + `MARGIN`
  (the +1 hls4ml's own pass adds to its co-simulated maximum). With these depths the same
  schedule is feasible, so the design cannot deadlock, whatever the real cycle counts are
  (liveness of a marked graph does not depend on timing).
* `simulate()` runs the same steps with bounded FIFOs (a writer blocks on a full FIFO, a reader
  on an empty one) and reports a deadlock: the check that a depth is large enough.

Steps are atomic (a step needs all its input words and room for all its outputs), which never
gives the design more slack than the HLS pipelines have. Why by hand: no library models hls4ml's
stream layers (hls4ml's pass needs the Xilinx simulator; FINN's FIFO sizing needs FINN's own
RTL/rtlsim graph), and the C-simulation of hls::stream is unbounded, so it cannot see a deadlock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hwflow.config import FIFO_MODES
from hwflow.errors import ConfigError, ToolError
from hwflow.project import HlsProject

MARGIN = 1  # words above the peak occupancy (hls4ml's fifo_depth_optimization adds 1 as well)
PROFILING_DEPTH = 100_000  # what hls4ml's pass sets every FIFO to before co-simulating
REPORT_NAME = "fifo_depths"  # <name>.json / <name>.md in the project and in build/<model>/reports

_ELEMENTWISE = {"Activation", "BoundedReLU", "ReLU", "LeakyReLU", "ThresholdedReLU", "PReLU", "ELU", "Softmax",
                "HardActivation", "ParametrizedActivation", "BatchNormalization", "ChannelShuffle",
                "ChannelSlice", "Quant", "ApplyAlpha"}
_LINEBUFFER = {"Conv2D", "Conv2DBatchnorm", "DepthwiseConv2D", "SeparableConv2D", "PointwiseConv2D", "Pooling2D"}
_MERGE = {"Merge"}
_REDUCE = {"Dense", "GlobalPooling2D", "GlobalPooling1D"}
SUPPORTED = sorted(_ELEMENTWISE | _LINEBUFFER | _MERGE | _REDUCE | {"ZeroPadding2D", "Clone", "Concatenate",
                                                                     "Reshape", "Repack"})


@dataclass(frozen=True)
class Stream:
    key: str  # output name in the hls4ml graph (what layer.inputs/outputs list)
    var: str  # C++ variable name (layer5_out), what the STREAM pragma names
    producer: str  # layer name, or "<testbench>" for the model input
    consumer: str  # layer name, or "<testbench>" for the model output
    words: int  # words per image
    word_bits: int  # channels x bits of one word
    full_depth: int  # hls4ml's default (H*W)
    interface: bool  # model input/output: a port, not a FIFO inside the design


@dataclass
class Process:
    """One hls4ml stream layer: per step, words read from each input and written to each output."""

    name: str
    class_name: str
    inputs: list[str]
    outputs: list[str]
    reads: list[np.ndarray]
    writes: list[np.ndarray]
    cycles: np.ndarray | None = None  # cycles each step takes (timed schedule); None = 1 each

    @property
    def steps(self) -> int:
        return len((self.reads or self.writes)[0])


@dataclass
class Graph:
    streams: dict[str, Stream]
    processes: list[Process]  # in topological order
    source: str  # key of the model input stream
    sink: str  # key of the model output stream


@dataclass
class Deadlock:
    done_steps: dict[str, int]  # process -> steps completed
    blocked: list[str]  # one line per unfinished process: what it waits for

    def line(self) -> str:
        return f"deadlock: {'; '.join(self.blocked[:4])}" + (" ..." if len(self.blocked) > 4 else "")


@dataclass
class SimResult:
    ok: bool
    peak: dict[str, int]  # stream -> most words held
    deadlock: Deadlock | None = None


@dataclass
class FifoRow:
    var: str
    layer: str  # producer
    consumer: str
    words: int
    word_bits: int
    full_depth: int
    peak: int
    depth: int  # written into the project
    timed_peak: int | None = None  # peak with RF-timed layers and the whole image waiting (cosim-like)
    cosim_depth: int | None = None

    @property
    def full_bits(self) -> int:
        return self.full_depth * self.word_bits

    @property
    def bits(self) -> int:
        return self.depth * self.word_bits


@dataclass
class FifoReport:
    mode: str  # auto | full | cosim
    rows: list[FifoRow] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        full = sum(r.full_bits for r in self.rows)
        bits = sum(r.bits for r in self.rows)
        return {"fifos": len(self.rows), "full_depth_words": sum(r.full_depth for r in self.rows),
                "depth_words": sum(r.depth for r in self.rows), "full_bits": full, "bits": bits}

    def to_json(self) -> dict:
        return {"mode": self.mode, "margin": MARGIN, "seconds": round(self.seconds, 3), "totals": self.totals,
                "notes": self.notes,
                "fifos": [{**asdict(r), "full_bits": r.full_bits, "bits": r.bits} for r in self.rows]}

    def markdown(self, title: str) -> str:
        t = self.totals
        cos = any(r.cosim_depth is not None for r in self.rows)
        lines = [f"# FIFO depths: {title}", "",
                 f"Mode `{self.mode}`: depth = peak occupancy of the token-level model (hwflow.fifo, one image at "
                 f"full rate) + {MARGIN}; `full` is hls4ml's default (H*W words)." if self.mode != "full" else
                 "Mode `full`: hls4ml's default depths (H*W words) are kept; the model's peak is shown for reference.",
                 "", f"Total: {t['fifos']} FIFOs, {t['full_bits']:,} bits at full depth -> {t['bits']:,} bits "
                     f"({100 * t['bits'] / max(t['full_bits'], 1):.1f}%)", "",
                 "`peak, RF-timed`: the same model with each layer's cycles from its reuse factor and the whole "
                 "image waiting at the input, as in hls4ml's co-simulation testbench (estimated, not a depth "
                 "hwflow writes: it is what a no-back-pressure profile would ask for).", "",
                 "| stream | layer | word bits | full depth | peak, RF-timed | peak | depth |"
                 + (" cosim |" if cos else ""),
                 "|---|---|---:|---:|---:|---:|---:|" + ("---:|" if cos else "")]
        for r in self.rows:
            lines.append(f"| {r.var} | {r.layer} | {r.word_bits} | {r.full_depth} | {r.timed_peak} | {r.peak} | "
                         f"{r.depth} |" + (f" {'-' if r.cosim_depth is None else r.cosim_depth} |" if cos else ""))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def write(self, folder: Path, title: str) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{REPORT_NAME}.json").write_text(json.dumps(self.to_json(), indent=1))
        (folder / f"{REPORT_NAME}.md").write_text(self.markdown(title))


# ------------------------------------------------------------------------------------ step patterns
# Each returns (reads per input, writes per output) as int arrays over the layer's steps.


def _linebuffer(h: int, w: int, kh: int, kw: int, sh: int, sw: int, rows_ignored: bool = False) -> np.ndarray:
    """compute_output_buffer_2d / compute_pool_buffer_2d: one input pixel per step; an output after the
    pixel that completes a window (x >= kw-1, y >= kh-1, on the stride grid). conv_2d_buffer_cl with a
    1-high kernel takes compute_output_buffer_1d, which has no row counter (`rows_ignored`)."""
    y, x = np.divmod(np.arange(h * w), w)
    out = (x >= kw - 1) & ((x - (kw - 1)) % sw == 0)
    if not rows_ignored:
        out &= (y >= kh - 1) & ((y - (kh - 1)) % sh == 0)
    return out.astype(np.int64)


def _zeropad(layer) -> tuple[np.ndarray, np.ndarray]:
    """zeropad2d_cl: one output word per step, a read only inside the copied region."""
    a = layer.get_attr
    oh, ow = a("out_height"), a("out_width")
    y, x = np.divmod(np.arange(oh * ow), ow)
    inside = (y >= a("pad_top")) & (y < a("pad_top") + a("in_height")) & (x >= a("pad_left")) & (
        x < a("pad_left") + a("in_width"))
    return inside.astype(np.int64), np.ones(oh * ow, np.int64)


def _concat(layer, words: list[int]) -> tuple[list[np.ndarray], np.ndarray]:
    """concatenate3d: channel axis reads both inputs every step; width axis a row of input 1 then a row
    of input 2 (concatenate3d_1); height axis all of input 1 then all of input 2 (concatenate3d_0)."""
    axis = layer.get_attr("axis")
    rank = len(layer.get_output_variable().shape)
    n1, n2 = words
    if rank == 1:  # concatenate1d: reads everything, writes one word
        r1 = np.r_[np.ones(n1, np.int64), np.zeros(n2 + 1, np.int64)]
        r2 = np.r_[np.zeros(n1, np.int64), np.ones(n2, np.int64), 0]
        return [r1, r2], np.r_[np.zeros(n1 + n2, np.int64), 1]
    if axis in (-1, rank):  # Keras axes count the batch: (H, W, C) has C at 3 (concatenate3d_2, 2d_1)
        return [np.ones(n1, np.int64), np.ones(n2, np.int64)], np.ones(n1, np.int64)
    if rank == 3 and axis in (2, -2):
        inp = layer.get_input_variable(layer.inputs[0]).shape
        inq = layer.get_input_variable(layer.inputs[1]).shape
        h, w1, w2 = inp[0], inp[1], inq[1]
        row = np.r_[np.ones(w1, np.int64), np.zeros(w2, np.int64)]
        r1 = np.tile(row, h)
        return [r1, 1 - r1], np.ones(n1 + n2, np.int64)
    r1 = np.r_[np.ones(n1, np.int64), np.zeros(n2, np.int64)]
    return [r1, 1 - r1], np.ones(n1 + n2, np.int64)


def _read_then_write(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """dense / global pooling on a stream: read every input word, then write the outputs."""
    return np.r_[np.ones(n_in, np.int64), np.zeros(n_out, np.int64)], np.r_[np.zeros(n_in, np.int64),
                                                                             np.ones(n_out, np.int64)]


def _repack(in_words: int, in_size: int, out_words: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """repack_stream: a word out as soon as enough elements are in (one input word per step)."""
    done = (np.arange(1, in_words + 1) * in_size) // out_size
    return np.ones(in_words, np.int64), np.diff(np.r_[0, done]).astype(np.int64)


def _words(var) -> int:
    shape = [int(s) for s in var.shape]
    return int(np.prod(shape[:-1])) if len(shape) > 1 else 1


def _process(layer, words_of, alias: dict | None = None) -> Process:
    cls = layer.class_name
    a = layer.get_attr
    ins, outs = [(alias or {}).get(k, k) for k in layer.inputs], list(layer.outputs)
    n_in = [words_of(k) for k in ins]
    n_out = words_of(outs[0])
    if cls in _ELEMENTWISE:
        reads, writes = [np.ones(n_in[0], np.int64)], [np.ones(n_out, np.int64)]
    elif cls in _LINEBUFFER:
        for p in ("pad_top", "pad_bottom", "pad_left", "pad_right"):
            if a(p, 0):
                raise ConfigError(f"layer {layer.name} ({cls}): padding inside an io_stream layer "
                                  f"(hls4ml inserts ZeroPadding2D); set hls.fifo_depth: full")
        kh, kw = (a("pool_height"), a("pool_width")) if cls == "Pooling2D" else (a("filt_height"), a("filt_width"))
        fn = str(a("function_cpp", "") or "")
        rows_ignored = kh == 1 and "pointwise_conv" not in fn and cls != "Pooling2D"
        w = _linebuffer(a("in_height"), a("in_width"), kh, kw, a("stride_height"), a("stride_width"), rows_ignored)
        reads, writes = [np.ones(len(w), np.int64)], [w]
    elif cls == "ZeroPadding2D":
        r, w = _zeropad(layer)
        reads, writes = [r], [w]
    elif cls == "Clone":
        reads, writes = [np.ones(n_in[0], np.int64)], [np.ones(n_in[0], np.int64) for _ in outs]
    elif cls in _MERGE:
        reads, writes = [np.ones(n, np.int64) for n in n_in], [np.ones(n_out, np.int64)]
    elif cls == "Concatenate":
        reads, w = _concat(layer, n_in)
        writes = [w]
    elif cls in _REDUCE:
        r, w = _read_then_write(n_in[0], n_out)
        reads, writes = [r], [w]
    elif cls in ("Reshape", "Repack"):  # hls4ml's io_stream Reshape is a Repack (nnet::repack_stream)
        iv, ov = layer.get_input_variable(), layer.get_output_variable()
        r, w = _repack(n_in[0], int(iv.shape[-1]), n_out, int(ov.shape[-1]))
        reads, writes = [r], [w]
    else:
        raise ConfigError(f"layer {layer.name}: class {cls} is not in the FIFO model (hwflow.fifo knows "
                          f"{', '.join(SUPPORTED)}); set hls.fifo_depth: full")
    for k, r in zip(ins, reads):
        if int(r.sum()) != words_of(k):
            raise ConfigError(f"layer {layer.name} ({cls}): the FIFO model reads {int(r.sum())} words of {k}, "
                              f"the stream has {words_of(k)}; set hls.fifo_depth: full")
    return Process(layer.name, cls, ins, outs, reads, writes, _cycles(layer, reads))


def _cycles(layer, reads) -> np.ndarray | None:
    """Cycles per step from the reuse factor, for the timed schedule: the line-buffer loop of a conv is
    PIPELINE II=reuse_factor per input pixel (Resource: the kernel's own RF-cycle loop), a dense layer
    spends RF cycles between its last read and its first write; data movers take 1 cycle a step."""
    rf = int(layer.get_attr("reuse_factor", 1) or 1)
    if rf <= 1 or layer.class_name not in (_LINEBUFFER - {"Pooling2D"}) | {"Dense"}:
        return None
    if layer.class_name == "Dense":
        c = np.ones(len(reads[0]), np.int64)
        c[int(reads[0].sum()) - 1] = rf  # the kernel between reading and writing
        return c
    return np.full(len(reads[0]), rf, np.int64)


def _is_stream(var) -> bool:
    return "StreamVariable" in type(var).__name__ and bool(var.pragma) and var.pragma[0] == "stream"


def graph_of(hls_model) -> Graph:
    """The stream graph of a converted io_stream hls4ml ModelGraph."""
    if hls_model.config.get_config_value("IOType") != "io_stream":
        raise ConfigError("hls.fifo_depth: the FIFO model needs io_type io_stream")
    src, snk = hls_model.get_input_variables(), hls_model.get_output_variables()
    if len(src) != 1 or len(snk) != 1:
        raise ConfigError("hls.fifo_depth: the FIFO model supports one input and one output")
    by_var = {id(v): k for k, v in hls_model.output_vars.items()}
    source, sink = by_var[id(src[0])], by_var[id(snk[0])]
    producer, consumer = {source: "<testbench>"}, {sink: "<testbench>"}
    layers = [l for l in hls_model.get_layers() if l.class_name != "Input"]
    # hls4ml's InplaceStreamFlatten: a Flatten in io_stream writes no stream of its own, its reader
    # reads the flattened layer's input stream (no process, no FIFO): its output key aliases that stream
    alias = {l.outputs[0]: l.inputs[0] for l in layers
             if l.class_name == "Reshape" and not _is_stream(l.get_output_variable())}
    layers = [l for l in layers if l.outputs[0] not in alias]
    for layer in layers:
        layer_inputs = [alias.get(k, k) for k in layer.inputs]
        for k in layer.outputs:
            producer[k] = layer.name
        for k in layer_inputs:
            if k in consumer and consumer[k] != "<testbench>":
                raise ConfigError(f"hls.fifo_depth: stream {k} is read by {consumer[k]} and {layer.name} "
                                  f"(io_stream needs a Clone); set hls.fifo_depth: full")
            consumer[k] = layer.name
    streams = {}
    for k, v in hls_model.output_vars.items():
        if k not in consumer or not _is_stream(v):
            continue
        shape = [int(s) for s in v.shape]
        # full depth: hls4ml's default (VivadoStreamVariable depth=0 -> H*W), whatever the pragma says now
        streams[k] = Stream(k, v.name, producer.get(k, "?"), consumer[k], _words(v),
                            int(shape[-1]) * int(v.type.precision.width), _words(v), k in (source, sink))
    procs = [_process(l, lambda k: streams[k].words, alias) for l in layers]
    return Graph(streams, _toposort(procs, source), source, sink)


def _toposort(procs: list[Process], source: str) -> list[Process]:
    ready, out, left = {source}, [], list(procs)
    while left:
        nxt = [p for p in left if all(k in ready for k in p.inputs)]
        if not nxt:
            raise ConfigError(f"hls.fifo_depth: layers {', '.join(p.name for p in left[:3])} read streams nobody "
                              f"writes; set hls.fifo_depth: full")
        for p in nxt:
            out.append(p)
            ready.update(p.outputs)
        left = [p for p in left if p not in nxt]
    return out


# ------------------------------------------------------------------------------- unbounded schedule


def occupancy(graph: Graph, *, timed: bool = False) -> dict[str, int]:
    """Peak words held by each stream: one image at full rate, unbounded FIFOs.

    Step k of a layer runs at t_k = max(t_{k-1} + c_{k-1}, 1 + arrival of the last word it reads)
    with c = 1 (every layer as fast as a data mover; the testbench writes one input word a cycle);
    a word written at t can be read at t + 1. Occupancy is counted as the writer sees it (words
    read in the same cycle still count), so a FIFO of that depth never blocks this schedule.
    `timed`: c from the reuse factors (`Process.cycles`) and the whole input image waiting in the
    input stream, as hls4ml's co-simulation testbench does: a prediction of what its profile sees.
    """
    n_src = graph.streams[graph.source].words
    wtimes = {graph.source: np.zeros(n_src, np.int64) - 1 if timed else np.arange(n_src, dtype=np.int64)}
    rtimes: dict[str, np.ndarray] = {}
    for p in graph.processes:
        n = p.steps
        if timed and p.cycles is not None:
            k = np.r_[0, np.cumsum(p.cycles[:-1])].astype(np.int64)  # earliest start of each step
        else:
            k = np.arange(n, dtype=np.int64)
        ready = np.zeros(n, np.int64)
        for key, r in zip(p.inputs, p.reads):
            last = np.cumsum(r) - 1
            m = r > 0
            ready[m] = np.maximum(ready[m], wtimes[key][last[m]] + 1)
        t = k + np.maximum.accumulate(ready - k)
        for key, r in zip(p.inputs, p.reads):
            rtimes[key] = np.repeat(t, r)
        for key, w in zip(p.outputs, p.writes):
            wtimes[key] = np.repeat(t, w)
    rtimes[graph.sink] = wtimes[graph.sink] + 1
    peak = {}
    for key, s in graph.streams.items():
        w, r = wtimes[key], rtimes[key]
        if len(w) != len(r):
            raise ConfigError(f"hls.fifo_depth: stream {s.var}: {len(w)} words written, {len(r)} read "
                              f"(FIFO model mismatch); set hls.fifo_depth: full")
        peak[key] = int(np.max(np.arange(1, len(w) + 1) - np.searchsorted(r, w, side="left"))) if len(w) else 0
    return peak


def depths_from_peak(graph: Graph, peak: dict[str, int]) -> dict[str, int]:
    """Depth of every internal FIFO: peak + MARGIN (interface streams are ports: not sized here)."""
    return {k: peak[k] + MARGIN for k, s in graph.streams.items() if not s.interface}


# --------------------------------------------------------------------------------- bounded simulation


def simulate(graph: Graph, depths: dict[str, int]) -> SimResult:
    """Run one image with bounded FIFOs (depths[key]; interface streams unbounded); detect deadlock.

    Each layer fires as many consecutive steps as its input words and output room allow (found by
    binary search on the cumulative read/write counts); sweeps alternate direction until every
    layer is done, or a sweep moves nothing: a deadlock.
    """
    cap = {k: (depths[k] if k in depths else None) for k in graph.streams}
    cap[graph.source] = cap[graph.sink] = None
    written = dict.fromkeys(graph.streams, 0)
    read = dict.fromkeys(graph.streams, 0)
    written[graph.source] = graph.streams[graph.source].words
    peak = dict.fromkeys(graph.streams, 0)
    cum = {p.name: ([np.r_[0, np.cumsum(r)] for r in p.reads], [np.r_[0, np.cumsum(w)] for w in p.writes])
           for p in graph.processes}
    pos = {p.name: 0 for p in graph.processes}
    order = list(graph.processes)
    while True:
        moved = False
        for p in order:
            at, n = pos[p.name], p.steps
            if at == n:
                continue
            cr, cw = cum[p.name]
            q = n
            for key, c in zip(p.inputs, cr):
                q = min(q, int(np.searchsorted(c, c[at] + written[key] - read[key], side="right")) - 1)
            for key, c in zip(p.outputs, cw):
                if cap[key] is not None:
                    q = min(q, int(np.searchsorted(c, c[at] + cap[key] - (written[key] - read[key]),
                                                   side="right")) - 1)
            if q <= at:
                continue
            for key, c in zip(p.inputs, cr):
                read[key] += int(c[q] - c[at])
            for key, c in zip(p.outputs, cw):
                written[key] += int(c[q] - c[at])
                peak[key] = max(peak[key], written[key] - read[key])
            pos[p.name] = q
            moved = True
        if all(pos[p.name] == p.steps for p in graph.processes):
            return SimResult(True, peak)
        if not moved:
            return SimResult(False, peak, _deadlock(graph, pos, cum, cap, written, read))
        order.reverse()


def _deadlock(graph, pos, cum, cap, written, read) -> Deadlock:
    blocked = []
    for p in graph.processes:
        at = pos[p.name]
        if at == p.steps:
            continue
        cr, cw = cum[p.name]
        why = [f"{graph.streams[k].var} empty" for k, c in zip(p.inputs, cr) if c[at + 1] - c[at] >
               written[k] - read[k]]
        why += [f"{graph.streams[k].var} full ({cap[k]})" for k, c in zip(p.outputs, cw)
                if cap[k] is not None and c[at + 1] - c[at] > cap[k] - (written[k] - read[k])]
        blocked.append(f"{p.name} at step {at}/{p.steps} waits: {', '.join(why)}")
    blocked.sort(key=lambda b: "empty" not in b)  # the starved reader first: it names the FIFO that is short
    return Deadlock(dict(pos), blocked)


def least_depth(graph: Graph, depths: dict[str, int], key: str) -> int:
    """The smallest depth of stream `key` (others as given) that does not deadlock (binary search:
    more room never creates a deadlock)."""
    lo, hi = 1, depths[key]
    if not simulate(graph, depths).ok:
        raise ValueError("the given depths deadlock already")
    while lo < hi:
        mid = (lo + hi) // 2
        if simulate(graph, {**depths, key: mid}).ok:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ------------------------------------------------------------------------------------ project side


def plan(hls_model) -> tuple[Graph, dict[str, int], dict[str, int]]:
    """(graph, peak occupancy, depth) for every stream of the model."""
    graph = graph_of(hls_model)
    peak = occupancy(graph)
    return graph, peak, depths_from_peak(graph, peak)


def set_depths(hls_model, depths_by_var: dict[str, int]) -> None:
    """Write depths into the model the way hls4ml's fifo_depth_optimization does: each output
    variable's pragma becomes ('stream', depth); hls4ml's writer emits `#pragma HLS STREAM ... depth=`."""
    for v in hls_model.output_vars.values():
        if _is_stream(v) and v.name in depths_by_var:
            v.pragma = (v.pragma[0], int(depths_by_var[v.name]))


def apply(hls_model, mode: str) -> FifoReport:
    """Size the FIFOs of a converted io_stream model (mode auto) or keep hls4ml's (full); returns the report.
    Mode cosim starts as auto; `cosim()` then replaces the depths with hls4ml's co-simulated ones."""
    import time

    if mode not in FIFO_MODES:
        raise ConfigError(f"hls.fifo_depth: {mode!r} is not valid; valid: {', '.join(FIFO_MODES)}")
    t0 = time.perf_counter()
    try:
        graph, peak, depths = plan(hls_model)
    except ConfigError as exc:
        if mode != "full":
            raise
        report = FifoReport(mode, [], time.perf_counter() - t0, [f"no FIFO model for this design: {exc}"])
        hls_model.hwflow_fifo = report
        return report
    timed = occupancy(graph, timed=True)
    rows = [FifoRow(s.var, s.producer, s.consumer, s.words, s.word_bits, s.full_depth, peak[k],
                    depths[k] if mode != "full" else s.full_depth, timed[k])
            for k, s in graph.streams.items() if not s.interface]
    if mode != "full":
        set_depths(hls_model, {r.var: r.depth for r in rows})
    report = FifoReport(mode, rows, time.perf_counter() - t0)
    hls_model.hwflow_fifo = report  # read back by hwflow.convert / flow for the build's reports
    return report


def report_of(hls_model) -> FifoReport | None:
    return getattr(hls_model, "hwflow_fifo", None)


# ------------------------------------------------------------------------ hls4ml's co-simulation pass


def cosim_tool(backend: str) -> str:
    """The HLS tool hls4ml's fifo_depth_optimization co-simulates with, for this backend."""
    if backend == "Vitis":
        from hwflow.synth import _pick_vitis_tool

        return _pick_vitis_tool()
    return "vivado_hls"


def require_cosim_tools(backend: str):
    """Path of the tool, or ToolNotFoundError (exit 7) before any work is done."""
    from hwflow.tools import require

    return require(cosim_tool(backend), purpose="hls.fifo_depth: cosim (hls4ml's co-simulation FIFO depth "
                                                "optimisation; use auto for hwflow's token model)")


def cosim(hls_model, hls_dir: Path, report: FifoReport, *, timeout_s: float = 6 * 3600) -> FifoReport:
    """hls4ml's own fifo_depth_optimization on the written project `hls_dir`, run through hwflow's
    tool runner: every FIFO set to PROFILING_DEPTH, C synthesis + co-simulation with fifo_opt, the
    observed maxima parsed by hls4ml's own functions and written back (`report` gets them side by
    side with the model's depths)."""
    from hwflow import synth

    backend = hls_model.config.get_config_value("Backend")
    tool = require_cosim_tools(backend)
    for v in hls_model.output_vars.values():
        if _is_stream(v) and v not in (hls_model.get_input_variables()[0], hls_model.get_output_variables()[0]):
            v.pragma = (v.pragma[0], PROFILING_DEPTH)
    hls_model.write()
    project = HlsProject.load(hls_dir)
    opts = synth.BuildOptions(csim=backend != "Vitis", synth=True, cosim=True, fifo_opt=True)
    plan = synth.plan_synth(project, opts, vitis_tool=cosim_tool(backend))
    synth._run_in_copy(plan, project.root, {plan.steps[0].tool: tool}, timeout_s=timeout_s, echo=None)
    try:
        found = _cosim_depths(hls_model, backend)
    except (OSError, KeyError, IndexError, ValueError) as exc:
        raise ToolError(f"{hls_dir}: co-simulation ran but its FIFO profile could not be read ({exc})") from None
    for r in report.rows:
        r.cosim_depth = found.get(r.var)
        r.depth = r.cosim_depth if r.cosim_depth is not None else r.depth
    set_depths(hls_model, {r.var: r.depth for r in report.rows})
    hls_model.write()
    report.mode = "cosim"
    report.notes.append("depth = hls4ml's co-simulated maximum (+1 on Vivado, as its pass does); peak = hwflow's model")
    return report


def _cosim_depths(hls_model, backend: str) -> dict[str, int]:
    if backend == "Vitis":
        from hls4ml.backends.vitis.passes.fifo_depth_optimization import get_vitis_optimized_fifo_depths

        return {k: int(v) for k, v in get_vitis_optimized_fifo_depths(hls_model).items()}
    from hls4ml.backends.vivado.passes.fifo_depth_optimization import populate_values
    from pyDigitalWaveTools.vcd.parser import VcdParser

    out = Path(hls_model.config.get_output_dir())
    vcd_file = out / f"{hls_model.config.get_project_name()}_prj/solution1/sim/verilog/fifo_opt.vcd"
    with open(vcd_file) as f:
        vcd = VcdParser()
        vcd.parse(f)
    values: list = []
    for ch in vcd.scope.toJson()["children"][0]["children"][0]["children"]:
        populate_values(values, ch["name"], ch["children"][0]["data"], ch["children"][1]["data"])
    found = {}
    for v in hls_model.output_vars.values():
        hits = [x["max"] for x in values if v.name in x["name"]]
        if hits:
            found[v.name] = hits[0] + 1
    return found
