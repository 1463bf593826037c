"""The reuse planner: which reuse factors hls4ml keeps for a layer, and balanced folding for a board.

- `mult_size` / `valid_reuse_factors`: hls4ml's own rule (FPGABackend._validate_reuse_factor), fast;
  `fast_reuse_rule()` swaps it into hls4ml for the duration of one conversion (scoped, not process-wide).
- `plan_reuse(hls, model)` -> `ReusePlan`: every layer's reuse factor, computed ONCE per build by the
  flow's models stage and carried in `hwflow.flow.Build`; `hwflow.check` reads it and
  `hwflow.convert` writes `ReuseFactor` from it (nowhere else).
- `fit(hls_model, kernel_sizes, board, ...)`: per layer a reuse factor from that list and a
  strategy (Latency / Resource) so every layer's cycles per image are about equal, under the
  board's DSP / LUT / FF / BRAM with a margin. io_stream designs are dataflow pipelines: the slowest
  layer sets the interval, so folding a fast layer further costs no throughput (FINN's
  `target_fps` folding and fpgaConvNet's optimiser work the same way; neither drives hls4ml).

Costs come from `hwflow.estimate` (each layer's Vivado-level projection by default), so a recalibrated
estimator changes the fit with no change here. It is fast: one hls4ml conversion; then round k sets every
tunable layer to its k-th candidate reuse factor and estimates those layers alone
(`hwflow.estimate.network.layer_estimates`: a layer's estimate depends only on its own attributes). A
final whole-model estimate of the chosen design is the one the result reports and checks against the
budget (with the design-level DSP fallback).

The search (by hand: the per-layer cost table and a min-max interval are small, and no library fits
hls4ml's discrete reuse factors and four resource budgets directly): for each candidate interval T
(ascending), every tunable layer takes its cheapest choice with cycles <= T, cost = sum over
resources of use / budget; when a resource is over budget its weight grows and the layers choose
again (a few rounds). The first T that fits maximises images/s; `--target-fps` fixes T and takes the
cheapest choices.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hwflow.boards import BOARDS, Board
from hwflow.config import STRATEGIES
from hwflow.errors import ConfigError, HwflowError

BUDGET_RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")
LATENCY_MAX_MULTS = 4096  # hwflow.check too-large-latency: more parallel multipliers than this do not unroll in HLS


class FitError(HwflowError):
    """Nothing fits the board under the margin (one line: resource, least it reaches, what would fit)."""

    exit_code = 9

    def __init__(self, message: str, least: dict | None = None, board: str | None = None):
        super().__init__(message)
        self.least = least  # the least each resource reaches at any reuse factor (nothing-fits case)
        self.board = board  # the smallest board of the table that takes `least`, if any


# --- hls4ml's reuse-factor rule ------------------------------------------------------------


def _tuple2(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def mult_size(layer) -> tuple[int, int] | None:
    """(n_in, n_out) as hls4ml's FPGABackend.get_layer_mult_size computes it, from the Keras layer."""
    c = type(layer).__name__
    if "Dense" in c:
        return int(layer.input_shape[-1]), int(layer.units)
    if "Conv2D" in c:
        kh, kw = _tuple2(layer.kernel_size)
        cin = int(layer.input_shape[-1])
        n_out = int(layer.filters) if hasattr(layer, "filters") and layer.filters else cin * int(getattr(layer, "depth_multiplier", 1))
        return cin * kh * kw, n_out
    return None


def valid_reuse_factors(backend, n_in: int, n_out: int) -> list[int]:
    """hls4ml's valid reuse factors for (n_in, n_out), fast.

    Same answer as `backend.get_valid_reuse_factors`, which tries every rf in 1..n_in*n_out (a
    million calls for a 1024x1024 layer). Its own rule requires rf to divide n_in*n_out, so only
    the divisors are tried, each with hls4ml's `_validate_reuse_factor`.
    """
    total = n_in * n_out
    divisors = set()
    i = 1
    while i * i <= total:
        if total % i == 0:
            divisors.update((i, total // i))
        i += 1
    return sorted(rf for rf in divisors if backend._validate_reuse_factor(n_in, n_out, rf))


def hls4ml_backend(name: str):
    """The hls4ml backend whose reuse rule applies (VivadoAccelerator uses Vivado's)."""
    from hls4ml.backends import get_backend

    return get_backend("Vivado" if name == "VivadoAccelerator" else name)


def kernel_sizes(qmodel) -> dict[str, tuple[int, int]]:
    """(n_in, n_out) of every layer with a reuse factor, by layer name."""
    return {l.name: s for l in qmodel.layers if (s := mult_size(l)) is not None}


@contextmanager
def fast_reuse_rule():
    """hls4ml's own `get_valid_reuse_factors` made fast while the block runs (re-entrant).

    hls4ml 1.3.0 tries every rf in 1..n_in*n_out (a million calls for a 1024x1024 layer; 85% of a
    MobileNet conversion). `valid_reuse_factors` gives the same list from the divisors only
    (tested equal in tests/test_check.py); callers get a fresh list (hls4ml's
    set_closest_reuse_factor pops from it). The original is restored on exit.
    """
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    original = FPGABackend.get_valid_reuse_factors
    if getattr(original, "hwflow_fast", False):  # an outer block holds it
        yield
        return

    def get_valid_reuse_factors(self, n_in, n_out):
        return valid_reuse_factors(self, int(n_in), int(n_out))

    get_valid_reuse_factors.hwflow_fast = True
    FPGABackend.get_valid_reuse_factors = get_valid_reuse_factors
    try:
        yield
    finally:
        FPGABackend.get_valid_reuse_factors = original


@dataclass(frozen=True)
class LayerReuse:
    """One layer with multipliers: what the config asks, what hls4ml keeps, what the flow uses."""

    name: str
    n_in: int
    n_out: int
    valid: tuple[int, ...]  # hls4ml's valid reuse factors for (n_in, n_out)
    requested: int  # the per-layer value of the config, else the global hls.reuse_factor
    explicit: bool  # requested per layer (hls.layers.<name>.reuse_factor)
    closest: int  # hls4ml's closest valid value to `requested` (= requested when valid)

    @property
    def ok(self) -> bool:
        return self.requested in self.valid

    @property
    def reuse_factor(self) -> int:
        """What the project gets: the request when valid, else the closest valid value."""
        return self.requested if self.ok else self.closest


@dataclass(frozen=True)
class ReusePlan:
    """Every layer's reuse factor for one build (`plan_reuse`)."""

    default: int  # hls.reuse_factor (Model.ReuseFactor: layers without multipliers)
    layers: dict[str, LayerReuse]

    @property
    def factors(self) -> dict[str, int]:
        return {n: lr.reuse_factor for n, lr in self.layers.items()}

    @property
    def notes(self) -> list[str]:
        """The global default adjusted per layer (a summary line each)."""
        return [f"{lr.name}: reuse_factor {lr.requested} -> {lr.closest} (closest valid for n_in={lr.n_in}, "
                f"n_out={lr.n_out})" for lr in self.layers.values() if not lr.ok and not lr.explicit]

    def raise_invalid(self, where: Path | str) -> None:
        """ConfigError for the first per-layer value hls4ml would silently change (or fail on in C-sim)."""
        for lr in self.layers.values():
            if lr.explicit and not lr.ok:
                raise ConfigError(f"{where}: hls.layers.{lr.name}.reuse_factor: {lr.requested} is invalid for "
                                  f"n_in={lr.n_in}, n_out={lr.n_out} (hls4ml would silently change it or fail in "
                                  f"C-sim); valid: {', '.join(map(str, lr.valid))}")

    def apply(self, conf: dict) -> None:
        """Write ReuseFactor into an hls4ml config dict (Model + LayerName): the only place it is written."""
        conf["Model"]["ReuseFactor"] = self.default
        layers = conf.setdefault("LayerName", {})
        for name, lc in layers.items():
            if "ReuseFactor" in lc:
                lc["ReuseFactor"] = self.default
        for name, rf in self.factors.items():
            layers.setdefault(name, {})["ReuseFactor"] = rf

    def verify(self, hls_model) -> None:
        """After conversion: hls4ml kept every planned value (else ConfigError naming the layer)."""
        for layer in hls_model.get_layers():
            planned = self.factors.get(layer.name)
            got = layer.get_attr("reuse_factor")
            if planned is not None and got not in (None, planned):
                raise ConfigError(f"layer {layer.name}: hls4ml changed reuse_factor {planned} -> {got}; "
                                  "set it per layer to a valid value")


def plan_reuse(hls, model) -> ReusePlan:
    """The reuse plan of `model` (Keras or QKeras: the layer shapes are what count) under `hls`
    (a hwflow.config.HlsSection), by hls4ml's own rule for its backend.

    hls4ml replaces an invalid reuse factor silently for some layer classes and not at all for
    others (a PointwiseConv2D keeps it and the C++ asserts in C-simulation). So a per-layer value
    that is invalid is an error (`raise_invalid`, `hwflow.check`'s fatal finding); where the global
    default is invalid for a layer, that layer gets the closest valid value and a note says so.
    """
    backend = hls4ml_backend(hls.backend)
    layers = {}
    for layer in model.layers:
        size = mult_size(layer)
        if size is None:
            continue
        valid = valid_reuse_factors(backend, *size)
        user = hls.layers.get(layer.name)
        explicit = bool(user and user.reuse_factor)
        rf = user.reuse_factor if explicit else hls.default_reuse_factor
        closest = rf if rf in valid else backend.get_closest_reuse_factor(list(valid), rf)
        layers[layer.name] = LayerReuse(layer.name, size[0], size[1], tuple(valid), rf, explicit, closest)
    return ReusePlan(hls.default_reuse_factor, layers)


# --- folding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    reuse_factor: int
    strategy: str  # Latency | Resource
    cycles: int  # the layer's interval (cycles per image)
    res: dict  # BUDGET_RESOURCES -> estimated use


@dataclass
class LayerFit:
    name: str
    class_name: str
    before: dict  # reuse_factor, strategy, cycles, DSP, LUT, FF, BRAM_18K (as converted)
    after: dict
    tunable: bool
    at_max_rf: bool = False  # folded as far as hls4ml allows: cannot be slowed further
    could_fold: bool = False  # not at its least cost: the interval is what holds it here


@dataclass
class FitResult:
    board: str
    mode: str  # "max" (most images/s) | "target" (target_fps with the least resources)
    target_fps: float | None
    limits: dict  # resource -> fraction of the board allowed
    clock_period_ns: float
    layers: list[LayerFit]
    before: dict  # summary of the design as converted
    after: dict  # summary of the fitted design (whole-model estimate)
    choices: dict  # layer -> {"reuse_factor", "strategy"}
    balance: float  # max / min cycles over the layers held by the interval (could_fold)
    slowest: list = field(default_factory=list)  # the layers whose cycles set the interval
    search: dict = field(default_factory=dict)  # candidates, rounds, estimates, seconds

    def to_dict(self) -> dict:
        return asdict(self)


def summary(est, board: Board) -> dict:
    """images/s, latency, totals (on the estimate's basis: Vivado level by default; `csynth_totals` beside
    them), utilisation, binding resource and roofline share of an Estimate."""
    f_hz = 1e9 / est.clock_period_ns
    util = {r: est.utilisation[r] for r in BUDGET_RESOURCES}
    used = est.used()
    return {"images_per_s": f_hz / max(est.ii_cycles, 1), "ii_cycles": est.ii_cycles,
            "latency_cycles": est.latency_cycles, "latency_us": est.latency_us, "basis": est.basis,
            "totals": {r: used[r] for r in BUDGET_RESOURCES}, "utilisation": util,
            "csynth_totals": {r: est.totals[r] for r in BUDGET_RESOURCES},
            "binding": est.binding_resource, "fits_board": bool(est.fits),
            "roofline_share": est.roofline.share if est.roofline else None,
            "macs_per_image": est.roofline.macs_per_image if est.roofline else None}


def fractions(basis: str = "vivado", max_util: float | None = None, max_dsp_util: float | None = None) -> dict:
    """The share of each resource a fitted design may use. Vivado level (default): the budget of
    hwflow/estimate/vivado.json (set from what placed designs reach); csynth level: 80% LUT/FF/BRAM/URAM,
    100% DSP (the rule before the projection). `max_util` / `max_dsp_util` override them."""
    if basis == "vivado":
        from hwflow.estimate.vivado import VivadoCalibration

        base = {r: float(VivadoCalibration.load().budget.get(r, 1.0)) for r in BUDGET_RESOURCES}
    else:
        base = {r: (1.0 if r == "DSP" else 0.8) for r in BUDGET_RESOURCES}
    if max_util is not None:
        base.update({r: max_util for r in BUDGET_RESOURCES if r != "DSP"})
    if max_dsp_util is not None:
        base["DSP"] = max_dsp_util
    return base


def _limits(board: Board, frac: dict) -> dict[str, float]:
    return {r: board.resources[r] * frac[r] for r in BUDGET_RESOURCES}


def _cost(le, basis: str) -> dict:
    """A layer's use of each resource on the basis (Vivado level: hwflow.estimate.vivado's per-layer
    projection; the DSP fallback is a whole-design effect, judged on the whole-model estimate)."""
    if basis == "vivado" and le.vivado:
        return {r: int(le.vivado.get(r, 0)) for r in BUDGET_RESOURCES}
    return {r: int(getattr(le, r.lower())) for r in BUDGET_RESOURCES}


def _set(layer, rf: int, strategy: str) -> None:
    layer.set_attr("reuse_factor", int(rf))
    layer.set_attr("strategy", strategy.lower())


def _estimate(hls_model, board, clock, basis: str = "vivado"):
    from hwflow.estimate import estimate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate(hls_model, board=board, clock_period_ns=clock, basis=basis)


def cost_table(hls_model, sizes: dict[str, tuple[int, int]], backend, board: Board, clock: float,
               basis: str = "vivado"):
    """Per tunable layer the list of Choices (every valid reuse factor x strategy), costed in
    max(len(candidates)) x 2 rounds of per-layer estimates of the layers that changed (a layer's
    estimate depends only on its own attributes); plus the estimate of the model as converted."""
    from hwflow.estimate.network import layer_estimates

    layers = {l.name: l for l in hls_model.get_layers() if l.name in sizes}
    base = _estimate(hls_model, board, clock, basis)
    orig = {n: (l.get_attr("reuse_factor"), l.get_attr("strategy")) for n, l in layers.items()}
    cands = {n: valid_reuse_factors(backend, *sizes[n]) for n in layers}
    table: dict[str, list[Choice]] = {n: [] for n in layers}
    rounds = max((len(c) for c in cands.values()), default=0)
    n_est = 0
    try:
        for strategy in STRATEGIES:
            for k in range(rounds):
                active = {}
                for n, layer in layers.items():
                    c = cands[n]
                    if k >= len(c):
                        continue
                    rf = c[k]
                    n_in, n_out = sizes[n]
                    if strategy == "Latency" and n_in * n_out / rf > LATENCY_MAX_MULTS:
                        continue  # hwflow.check: HLS cannot unroll it
                    _set(layer, rf, strategy)
                    active[n] = rf
                if not active:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    les = layer_estimates(hls_model, active, board=board, clock_period_ns=clock)
                n_est += 1
                for name, le in les.items():
                    table[name].append(Choice(active[name], strategy, int(le.ii), _cost(le, basis)))
    finally:
        for n, (rf, st) in orig.items():
            layers[n].set_attr("reuse_factor", rf)
            layers[n].set_attr("strategy", st)
    return base, table, cands, n_est


class _Costs:
    """The cost table as arrays (numpy, by hand: the search's inner loop), per layer: use / budget of every
    choice (rows) and resource (columns of `res`), and each choice's cycles."""

    def __init__(self, table: dict, limits: dict):
        import numpy as np

        self.res = [r for r in limits if limits[r] > 0]
        self.layers = {n: (ch, np.array([[c.res[r] / limits[r] for r in self.res] for c in ch], dtype=float),
                           np.array([c.cycles for c in ch], dtype=float)) for n, ch in table.items()}


def _pick(costs: _Costs, T: int, weights: dict):
    """Cheapest choice per layer with cycles <= T (None if a layer cannot be that fast); equal cost: the
    slower choice (fold as far as the interval allows, as FINN does), then the first."""
    import numpy as np

    w = np.array([weights[r] for r in costs.res], dtype=float)
    picks = {}
    for n, (choices, use, cycles) in costs.layers.items():
        cost = np.where(cycles <= T, use @ w, np.inf)
        best = cost.min()
        if not np.isfinite(best):
            return None
        tied = np.nonzero(cost <= best + 1e-12)[0]
        picks[n] = choices[int(tied[np.argmax(cycles[tied])])]
    return picks


def _could_fold(choices, pick: Choice, limits: dict) -> bool:
    """Some choice of this layer costs less (sum of use / budget), so only the interval keeps it at this one
    (a layer already at its least cost is as cheap as folding can make it, whatever its cycles)."""
    def cost(c):
        return sum(c.res[r] / limits[r] for r in limits if limits[r] > 0)

    return any(cost(c) < cost(pick) - 1e-9 for c in choices)


def _fixed_totals(base, tunable) -> dict:
    costs = [_cost(le, base.basis) for le in base.layers if le.name not in tunable]
    return {r: sum(c[r] for c in costs) for r in BUDGET_RESOURCES}


def _choose(costs: _Costs, T, fixed, limits, rounds: int = 8):
    """The picks for interval T that fit `limits` (growing the weight of an over-budget resource), or None."""
    weights = {r: 1.0 for r in limits}
    totals = None
    for _ in range(rounds):
        picks = _pick(costs, T, weights)
        if picks is None:
            return None, None
        totals = {r: fixed[r] + sum(c.res[r] for c in picks.values()) for r in limits}
        over = {r: totals[r] / limits[r] for r in limits if totals[r] > limits[r]}
        if not over:
            return picks, totals
        for r, ratio in over.items():
            weights[r] *= 2.0 * ratio
    return None, totals


def weight_bits(hls_model, names) -> int:
    """Bits of the weights and biases of the named layers (what Resource-strategy ROMs hold)."""
    return sum(int(w.data.size) * int(getattr(w.type.precision, "width", 8) or 8)
               for l in hls_model.get_layers() if l.name in names for w in l.weights.values())


def least_use(table, fixed) -> dict:
    """The least each resource reaches at any reuse factor / strategy (each resource on its own)."""
    return {r: fixed[r] + sum(min(c.res[r] for c in ch) for ch in table.values() if ch) for r in BUDGET_RESOURCES}


def smallest_board(least: dict, frac: dict) -> Board | None:
    """The smallest board of the table (by LUTs, then DSPs) whose budget takes `least`."""
    for b in sorted(BOARDS.values(), key=lambda b: (b.lut, b.dsp)):
        if all(least[r] <= b.resources[r] * frac[r] for r in BUDGET_RESOURCES if r != "URAM"):
            return b
    return None


def nothing_fits_message(least: dict, limits: dict, frac: dict, board: Board, name: str, wbits: int) -> str:
    """One line: the resource that cannot fit, the least it reaches, what would make it fit."""
    over = {r: least[r] / limits[r] for r in limits if least[r] > limits[r]}
    if not over:
        return (f"{name}: no combination of reuse factors fits {board.name} by estimate, although each resource "
                f"alone can: {', '.join(f'{r} >= {least[r]:,}' for r in ('DSP', 'LUT', 'FF', 'BRAM_18K'))}")
    r = max(over, key=over.get)
    pct = 100.0 * least[r] / board.resources[r] if board.resources[r] else math.inf
    fix = []
    if r == "BRAM_18K":
        budget_bits = limits[r] * 18 * 1024
        if wbits > budget_bits:
            fix.append(f"narrower weights (the weights are {wbits / 1e6:.2f} Mbit, {100 * frac[r]:.0f}% of "
                       f"{board.name}'s BRAM holds {budget_bits / 1e6:.2f} Mbit; `hwflow tune` or 4-bit weights)")
        else:
            fix.append(f"narrower activations or fewer channels (the weights, {wbits / 1e6:.2f} Mbit, already fit "
                       f"the BRAM: the rest is FIFOs, line buffers and tables by the estimate)")
    elif r in ("LUT", "FF"):
        fix.append("a smaller member of the family (fewer layers or channels) or narrower activations (every "
                   "layer's line buffers, stream control and registers cost LUT/FF at any reuse factor)")
    big = smallest_board(least, frac)
    fix.append(f"a larger board ({big.name})" if big else "a smaller network (no board in the table takes it)")
    others = ", ".join(f"{x} {least[x]:,}" for x in ("DSP", "LUT", "FF", "BRAM_18K") if x != r)
    return (f"{name}: nothing fits {board.name} (estimated): {r} needs at least {least[r]:,} at any reuse factor "
            f"({pct:,.0f}% of the board, limit {100 * frac[r]:.0f}%; least {others}); to fit: "
            f"{' or '.join(fix)}")


def fit(hls_model, sizes: dict[str, tuple[int, int]], board: Board, *, backend_name: str, clock_period_ns: float,
        target_fps: float | None = None, max_util: float | None = None, max_dsp_util: float | None = None,
        name: str = "model", basis: str = "vivado") -> FitResult:
    """Balanced folding of a converted hls4ml model for `board` (see the module docstring).

    `sizes`: (n_in, n_out) per tunable layer (kernel_sizes of the Keras model). Raises FitError
    when nothing fits, or when `target_fps` cannot be met within the margin. `basis`: the level the
    budget is judged on (Vivado level by default; "hls": csynth level); `max_util` / `max_dsp_util`:
    fractions instead of the basis's budget (see `fractions`)."""
    import time

    t0 = time.perf_counter()
    backend = hls4ml_backend(backend_name)
    base, table, cands, n_est = cost_table(hls_model, sizes, backend, board, clock_period_ns, basis)
    table = {n: ch for n, ch in table.items() if ch}
    frac = fractions(basis, max_util, max_dsp_util)
    limits = _limits(board, frac)
    fixed = _fixed_totals(base, set(table))
    costs = _Costs(table, limits)
    fixed_ii = max((le.ii for le in base.layers if le.name not in table and le.kind not in ("free", "unknown")),
                   default=1)
    f_hz = 1e9 / clock_period_ns
    layers = {l.name: l for l in hls_model.get_layers()}

    if target_fps is not None:
        # a target faster than the layers the search cannot fold (inputs, pooling, ...) allow: unreachable
        T_list = [int(f_hz // target_fps)] if int(f_hz // target_fps) >= fixed_ii else []
    else:
        T_list = sorted({c.cycles for ch in table.values() for c in ch} | {fixed_ii})
        T_list = [T for T in T_list if T >= fixed_ii]
    picks = final = None
    tried = 0
    for T in T_list:
        tried += 1
        p, _ = _choose(costs, T, fixed, limits)
        if p is None:
            continue
        for n, c in p.items():
            _set(layers[n], c.reuse_factor, c.strategy)
        est = _estimate(hls_model, board, clock_period_ns, basis)
        n_est += 1
        used = est.used()
        if all(used[r] <= limits[r] for r in limits):  # the whole-model estimate is the judge
            picks, final = p, est
            break
    if picks is None:
        for n, le in ((le.name, le) for le in base.layers if le.name in table):
            _set(layers[n], le.reuse_factor, le.strategy)
        if target_fps is not None:
            best = fit(hls_model, sizes, board, backend_name=backend_name, clock_period_ns=clock_period_ns,
                       max_util=max_util, max_dsp_util=max_dsp_util, name=name, basis=basis)  # FitError: nothing fits
            reach = f"; the most it reaches is {best.after['images_per_s']:,.1f} images/s (binding {best.after['binding']})"
            raise FitError(f"{name}: {target_fps:g} images/s does not fit {board.name} within the margin{reach}")
        least = least_use(table, fixed)
        big = smallest_board(least, frac)
        raise FitError(nothing_fits_message(least, limits, frac, board, name, weight_bits(hls_model, table)),
                       least, big.name if big else None)

    before_by = {le.name: le for le in base.layers}
    out_layers = []
    for le in final.layers:
        if le.kind in ("free",):
            continue
        b = before_by[le.name]
        row = lambda x: {"reuse_factor": x.reuse_factor, "strategy": x.strategy, "cycles": x.ii, "DSP": x.dsp,
                         "LUT": x.lut, "FF": x.ff, "BRAM_18K": x.bram_18k}
        at_max = le.name in table and le.reuse_factor == cands[le.name][-1]
        fold = le.name in table and _could_fold(table[le.name], picks[le.name], limits)
        out_layers.append(LayerFit(le.name, le.class_name, row(b), row(le), le.name in table, at_max, fold))
    tun = [l.after["cycles"] for l in out_layers if l.could_fold]
    balance = max(tun) / max(min(tun), 1) if tun else 1.0
    return FitResult(
        board=board.name, mode="target" if target_fps is not None else "max", target_fps=target_fps,
        limits=frac,
        clock_period_ns=clock_period_ns, layers=out_layers, before=summary(base, board), after=summary(final, board),
        choices={n: {"reuse_factor": c.reuse_factor, "strategy": c.strategy} for n, c in picks.items()},
        balance=balance, slowest=[l.name for l in out_layers if l.after["cycles"] == final.ii_cycles],
        search={"tunable_layers": len(table), "candidates": sum(len(c) for c in table.values()),
                "intervals_tried": tried, "estimates": n_est, "seconds": round(time.perf_counter() - t0, 2)})
