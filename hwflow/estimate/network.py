"""The whole network: layers -> totals, latency / II (dataflow or one pipelined function), board
fit and roofline (see the package docstring)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from hwflow.boards import Board, board_for_part, get_board
from hwflow.errors import ConfigError
from hwflow.estimate.calibration import Calibration
from hwflow.estimate.layers import LayerEstimate, _Ctx, _layer
from hwflow.estimate.vivado import VivadoCalibration, project, project_layer

BASES = ("vivado", "hls")

RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")


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
    # Vivado-level projection (hwflow.estimate.vivado): LUT/FF/DSP/BRAM_18K/URAM, dsp_fallback, error_band
    vivado: dict | None = None
    basis: str = "vivado"  # what utilisation / binding_resource / fits are computed on: vivado | hls
    budget: dict | None = None  # share of each resource a fitting design may use (basis vivado)
    # csynth's worst-case convention (the kernel's RF on every input pixel of a Resource conv): what a
    # csynth report states; latency_cycles / ii_cycles are what co-simulation and boards run
    csynth_latency_cycles: int | None = None
    csynth_ii_cycles: int | None = None
    board_resources: dict | None = None  # the board's DSP/LUT/FF/BRAM_18K/URAM

    def used(self, basis: str | None = None) -> dict[str, int]:
        """Totals on the Vivado level (basis "vivado", the default) or the csynth level ("hls")."""
        b = basis or self.basis
        return {r: int(self.vivado[r]) for r in RESOURCES} if b == "vivado" and self.vivado else dict(self.totals)

    @property
    def latency_us(self) -> float:
        return self.latency_cycles * self.clock_period_ns / 1000.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["latency_us"] = self.latency_us
        return d



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


def _network_latency(layers: list[LayerEstimate], stream: bool, cal: Calibration, csynth: bool = False) -> int:
    """Longest path through the layer graph (inputs by name; unknown inputs start at 0).

    io_parallel: finish = max(input finishes) + latency + call overhead.
    io_stream (dataflow): a layer starts when its inputs' first outputs arrive and finishes the
    later of (start + its own latency) and (last input + its tail). `csynth`: with the layers' csynth
    worst-case latencies where they differ."""
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
            lat = le.csynth_latency if csynth and le.csynth_latency is not None else le.latency
            done = max(s + lat, max((finish[n] for n in ins), default=0.0) + le.tail)
            start[le.name], first[le.name], finish[le.name] = s, s + le.first_out, done + cal.parallel_call_overhead
        else:
            s = max((finish[n] for n in ins), default=0.0)
            start[le.name] = s
            first[le.name] = finish[le.name] = s + le.latency + cal.parallel_call_overhead
        end = max(end, finish[le.name])
    return int(round(end))


def estimate(hls_model, board: Board | str | None = None, clock_period_ns: float | None = None,
             calibration: Calibration | None = None, tool: str | None = None, basis: str = "vivado",
             vivado_calibration: VivadoCalibration | None = None) -> Estimate:
    """Per-layer and total resources, latency and II of a converted hls4ml `ModelGraph`.

    `board`: a Board, a board name from hwflow.boards, or None for the board whose part the
    model was converted for (no utilisation when no board matches). `clock_period_ns`: the
    model's ClockPeriod when None. `tool`: the HLS tool that will synthesize it ("Vivado HLS
    2020.1", "Vitis HLS 2023.1", or vivado_hls / vitis); None: the backend's tool. `basis`: "vivado"
    (default) judges utilisation and fit on the Vivado-level projection (hwflow.estimate.vivado, with
    its budget per resource), "hls" on the csynth-level totals (fits = every resource <= 100%).
    """
    if basis not in BASES:
        raise ConfigError(f"estimate: basis {basis!r} is not one of {', '.join(BASES)}")
    board, ctx, part, backend = _context(hls_model, board, clock_period_ns, calibration, tool)
    cal, clock, io_type = ctx.cal, ctx.clock, ctx.io_type
    layers = [_layer(layer, ctx) for layer in hls_model.get_layers()]
    totals = {r: sum(getattr(le, r.lower()) for le in layers) for r in RESOURCES}
    active = [le for le in layers if le.kind not in ("free", "unknown")]
    ii = max((le.ii for le in active), default=1)
    latency = max(_network_latency(layers, io_type == "io_stream", cal), ii)
    csynth_ii = max((le.csynth_ii if le.csynth_ii is not None else le.ii for le in active), default=1)
    csynth_latency = max(_network_latency(layers, io_type == "io_stream", cal, csynth=True), csynth_ii)
    vcal = vivado_calibration or VivadoCalibration.load()
    vivado = project(layers, board.resources["DSP"] if board is not None else None, vcal)
    for le in layers:
        le.vivado = vivado.layers.get(le.name, {})
    used = {r: int(vivado.totals[r]) for r in RESOURCES} if basis == "vivado" else totals
    # the share of each resource a fitting design may use: Vivado level, the placed designs' budget
    # (hwflow/estimate/vivado.json); csynth level, the whole part (the verdict before the projection)
    budget = {r: float(vcal.budget.get(r, 1.0)) for r in RESOURCES} if basis == "vivado" else dict.fromkeys(RESOURCES, 1.0)
    utilisation = binding = fits = roofline = None
    if board is not None:
        avail = board.resources
        utilisation = {r: (100.0 * used[r] / avail[r]) if avail[r] else (math.inf if used[r] else 0.0)
                       for r in RESOURCES}
        binding = max(utilisation, key=lambda r: utilisation[r] / budget[r])
        fits = all(utilisation[r] <= 100.0 * budget[r] + 1e-9 for r in RESOURCES)
        roofline = _roofline(layers, board, clock, ii, {r: utilisation[r] / budget[r] for r in RESOURCES}, cal)
    return Estimate(layers, totals, int(latency), int(ii), clock, io_type, backend, part,
                    board.name if board else None, utilisation, binding, fits, roofline,
                    [le.name for le in layers if le.kind == "unknown"], ctx.tool, vivado=vivado.to_dict(), basis=basis,
                    budget=budget, board_resources=dict(board.resources) if board is not None else None,
                    csynth_latency_cycles=int(csynth_latency), csynth_ii_cycles=int(csynth_ii))


def _context(hls_model, board, clock_period_ns, calibration, tool):
    """(board, _Ctx, part, backend) of an estimate: the board (a name, or the one of the model's part),
    the clock, the HLS tool whose schedule is modelled and the calibration."""
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
    return board, _Ctx(io_type, clock, _tool(backend, tool), family7, cal, outputs), part, backend


def layer_estimates(hls_model, names, board: Board | str | None = None, clock_period_ns: float | None = None,
                    calibration: Calibration | None = None, tool: str | None = None,
                    vivado_calibration: VivadoCalibration | None = None) -> dict[str, LayerEstimate]:
    """The LayerEstimates (with their Vivado-level `vivado`) of the named layers alone: a layer's
    estimate depends only on its own attributes, so the folding search (hwflow.reuse.cost_table) costs
    its candidates without estimating the whole model each time."""
    _, ctx, _, _ = _context(hls_model, board, clock_period_ns, calibration, tool)
    vcal = vivado_calibration or VivadoCalibration.load()
    out = {}
    for layer in hls_model.get_layers():
        if layer.name in names:
            le = _layer(layer, ctx)
            le.vivado = {k: int(round(v)) for k, v in project_layer(le, vcal).items()}
            out[layer.name] = le
    return out


def _roofline(layers, board: Board, clock: float, ii: int, utilisation: dict, cal: Calibration) -> Roofline:
    macs = sum(le.macs for le in layers)
    f_hz = 1e9 / clock
    peak = board.dsp * (2 if cal.dsp_packing else 1) * f_hz  # DSP-bound: every DSP one MAC per cycle
    ips = f_hz / max(ii, 1)
    # utilisation relative to each resource's budget (percent of what a fitting design may use)
    worst = max([v for v in utilisation.values() if math.isfinite(v)] + [0.0]) / 100.0
    attainable = ips / max(1.0, worst) if all(math.isfinite(v) for v in utilisation.values()) else 0.0
    raw = attainable * macs / peak if peak else 0.0
    return Roofline(macs, peak, ips, attainable, attainable * macs, min(raw, 1.0), raw > 1.0)
