"""Sensitivity analysis and the greedy width search, with resumable state.

Both evaluate the trained 8-bit QAT model with some quantizers narrowed (no retraining per
point) on a tuning slice (validation images, or test images when the config holds none out):

- `sensitivity`: one (layer, role, value) at a time, the rest at the baseline; the drop in
  top-1 points against the baseline QKeras model. Roles: weight and activation widths, and
  sparsity (the layer's kernel magnitude-pruned in place, no retraining) for prunable layers.
- `search`: greedy descent from the baseline. Each step takes the not-yet-blocked move
  (one layer's weights or activations down one candidate width, or its sparsity up one
  candidate) with the best ratio of cost
  saved to the drop the sensitivity table predicts, evaluates the combined point, keeps it when
  its drop against float stays within the budget and otherwise blocks that layer/role.

Every evaluation is appended to `state.json` (written atomically) before the next one starts,
so an interrupted run resumes where it stopped; the state is only reused for the same config,
trained weights, slice and candidates (a new budget keeps the sensitivity and restarts the search).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwflow.tune.space import KernelPrune, LayerInfo, Point, QuantizerSwap, cost, sparsity_of

ROLES = ("weight", "activation", "sparsity")  # a point entry's elements, in order


@dataclass
class State:
    key: str  # identifies config + trained weights + slice + candidates (sensitivity stays valid)
    path: Path
    search_key: str | None = None  # budget of the search below; another budget restarts the search
    float_acc: float | None = None  # on the tuning slice
    base_acc: float | None = None  # 8-bit QAT model on the tuning slice
    sensitivity: dict = field(default_factory=dict)  # "layer|role|bits" -> accuracy
    visited: list = field(default_factory=list)  # {"point", "accuracy", "cost", "accepted", "move"}
    current: Point | None = None
    blocked: list = field(default_factory=list)  # ["layer", "role"]
    done: bool = False

    def upgrade(self, base: Point) -> None:
        """Points saved before the sparsity search (two elements per layer) get the baseline's
        sparsity as their third: those searches never changed it (hwflow.tune.run recomputes the
        visited costs after this, with the density term)."""
        def pad(point):
            for name, entry in (point or {}).items():
                if len(entry) < len(base[name]):
                    entry.extend(base[name][len(entry):])

        pad(self.current)
        for v in self.visited:
            pad(v["point"])

    @classmethod
    def load(cls, path: Path, key: str) -> "State":
        if path.exists():
            raw = json.loads(path.read_text())
            if raw.get("key") == key:
                raw["path"] = path
                return cls(**raw)
        return cls(key=key, path=path)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in self.__dict__.items() if k != "path"}
        fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".json", dir=self.path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)


class Evaluator:
    """Top-1 (fraction) of a point on the tuning slice, from the QKeras model with the point's
    quantizers swapped in (about a second per point)."""

    engine = "qkeras"

    def __init__(self, qmodel, base_plan, x: np.ndarray, y: np.ndarray):
        self.swap = QuantizerSwap(qmodel, base_plan)
        self.prune = KernelPrune(qmodel)
        self.x, self.y = x, y

    def logits(self, point: Point) -> np.ndarray:
        self.swap.apply(point)
        self.prune.apply(point)  # the point's sparsities, trained kernels back afterwards
        try:
            # eager calls: no graph retrace per point (a retrace costs more than the evaluation)
            return np.concatenate([self.swap.model(self.x[i:i + 500], training=False).numpy()
                                   for i in range(0, len(self.x), 500)])
        finally:
            self.prune.restore()

    def predictions(self, point: Point) -> np.ndarray:
        return np.argmax(self.logits(point), axis=1)

    def __call__(self, point: Point) -> float:
        return float(np.mean(self.predictions(point) == self.y))


class FirmwareEvaluator(Evaluator):
    """Top-1 of a point as the generated firmware computes it: the QKeras model at the point's
    widths is converted by hls4ml (hwflow.convert, the same config the flow uses) and run by the
    bit-exact emulator (hwflow.sim.emulate). A conversion per point: a few seconds for the CIFAR models."""

    engine = "emulate"

    def __init__(self, cfg, qmodel, base_plan, x: np.ndarray, y: np.ndarray):
        self.cfg, self.weights, self.base_plan = cfg, qmodel.get_weights(), base_plan
        self.x, self.y = x, y

    def predictions(self, point: Point) -> np.ndarray:
        return np.argmax(self.logits(point), axis=1)

    def logits(self, point: Point) -> np.ndarray:
        from hwflow.convert import to_hls_model
        from hwflow.prune import prune_in_place
        from hwflow.train import build_models
        from hwflow.tune.space import plan_for, prune_plan
        from hwflow.sim.emulate import emulate

        _, qmodel = build_models(self.cfg, plan_for(point, self.base_plan))
        qmodel.set_weights(self.weights)
        prune_in_place(qmodel, prune_plan(point))
        out = emulate(to_hls_model(self.cfg, qmodel), self.x)
        return np.asarray(out).reshape(len(self.x), -1)


def _with(point: Point, name: str, role: str, value) -> Point:
    out = {k: list(v) for k, v in point.items()}
    idx = ROLES.index(role)
    out[name] += [0.0] * (idx + 1 - len(out[name]))  # a point without sparsities: unpruned
    out[name][idx] = value
    return out


def sens_key(name: str, role: str, value) -> str:
    return f"{name}|{role}|{value:g}" if role == "sparsity" else f"{name}|{role}|{value}"


def _value(entry, role: str):
    return sparsity_of(entry) if role == "sparsity" else entry[ROLES.index(role)]


def _steps(i: LayerInfo, entry, role: str, weight_bits, act_bits, sparsities) -> list:
    """The candidate values a layer/role can still move to from `entry`, nearest first: narrower
    widths, or higher sparsities (prunable layers only)."""
    if role == "weight":
        return sorted((b for b in weight_bits if b < entry[0]), reverse=True)
    if role == "activation":
        return sorted((b for b in act_bits if b < entry[1]), reverse=True) if i.has_activation else []
    return sorted(s for s in sparsities if s > sparsity_of(entry)) if i.prunable else []


def sensitivity(state: State, evaluate, infos: list[LayerInfo], base: Point, weight_bits: list[int],
                act_bits: list[int], sparsities=()) -> dict:
    """Fill state.sensitivity (accuracy per single-layer change); resumable."""
    from tqdm import tqdm

    todo = [(i.name, role, v) for role in ROLES for i in infos
            for v in _steps(i, base[i.name], role, weight_bits, act_bits, sparsities)]
    left = [t for t in todo if sens_key(*t) not in state.sensitivity]
    with tqdm(total=len(todo), initial=len(todo) - len(left), desc="sensitivity", unit="point") as bar:
        for name, role, bits in left:
            state.sensitivity[sens_key(name, role, bits)] = evaluate(_with(base, name, role, bits))
            state.save()
            bar.update(1)
    return state.sensitivity


def _moves(state: State, infos: list[LayerInfo], weight_bits: list[int], act_bits: list[int], sparsities=()):
    """(name, role, next value) for every layer/role not blocked and not at its last candidate."""
    blocked = {tuple(b) for b in state.blocked}
    for i in infos:
        for role in ROLES:
            if (i.name, role) in blocked:
                continue
            steps = _steps(i, state.current[i.name], role, weight_bits, act_bits, sparsities)
            if steps:
                yield i.name, role, steps[0]


def _remaining(state: State, infos, weight_bits, act_bits, sparsities=()) -> int:
    """An upper bound on the evaluations left (each layer/role can still step to its last candidate)."""
    blocked = {tuple(b) for b in state.blocked}
    return sum(len(_steps(i, state.current[i.name], role, weight_bits, act_bits, sparsities))
               for i in infos for role in ROLES if (i.name, role) not in blocked)


def search(state: State, evaluate, infos: list[LayerInfo], base: Point, budget: float,
           weight_bits: list[int], act_bits: list[int], sparsities=()) -> Point:
    """Greedy descent; returns the cheapest accepted point (drop vs float <= budget points)."""
    from tqdm import tqdm

    floor = 100.0 * state.float_acc - budget  # lowest acceptable top-1, in percent
    if state.search_key != f"{budget:g}":
        state.search_key, state.visited, state.current, state.blocked, state.done = f"{budget:g}", [], None, [], False
    if state.current is None:
        state.current = {k: list(v) for k, v in base.items()}
        if 100.0 * state.base_acc < floor:  # even the baseline misses the budget: nothing to do
            state.done = True
        state.visited.append({"point": state.current, "accuracy": state.base_acc, "move": None, "accepted": True,
                              "cost": cost(state.current, infos, base)})
        state.save()
    bar = tqdm(total=len(state.visited) + _remaining(state, infos, weight_bits, act_bits, sparsities),
               initial=len(state.visited),
               desc=f"search (budget {budget:g} points)", unit="point")
    while not state.done:
        moves = list(_moves(state, infos, weight_bits, act_bits, sparsities))
        if not moves:
            state.done = True
            break
        now = cost(state.current, infos, base)

        def score(move):
            name, role, bits = move
            saved = now - cost(_with(state.current, name, role, bits), infos, base)
            cur = _value(state.current[name], role)
            before = state.sensitivity.get(sens_key(name, role, cur), state.base_acc)
            predicted = 100.0 * (before - state.sensitivity.get(sens_key(name, role, bits), state.base_acc))
            return saved / max(predicted, 0.05)  # cost saved per point the step is predicted to lose

        name, role, bits = max(moves, key=score)
        cand = _with(state.current, name, role, bits)
        acc = evaluate(cand)
        ok = 100.0 * acc >= floor
        state.visited.append({"point": cand, "accuracy": acc, "cost": cost(cand, infos, base),
                              "move": [name, role, bits], "accepted": ok})
        if ok:
            state.current = cand
        else:
            state.blocked.append([name, role])
        state.save()
        bar.total = len(state.visited) + _remaining(state, infos, weight_bits, act_bits, sparsities)
        bar.update(1)
        bar.set_postfix(cost=f"{cost(state.current, infos, base):.1f}", top1=f"{100 * acc:.2f}")
    bar.close()
    state.save()
    return state.current


def pareto_front(visited: list[dict]) -> list[dict]:
    """Visited points not dominated in (lower cost, higher accuracy)."""
    pts = sorted(visited, key=lambda v: (v["cost"], -v["accuracy"]))
    front, best = [], -1.0
    for v in pts:
        if v["accuracy"] > best:
            front.append(v)
            best = v["accuracy"]
    return front
