"""The search space of `hwflow tune`: per-layer (weight bits, activation bits, sparsity) and their cost.

A *point* maps every kernel layer to `[weight_bits, activation_bits, sparsity]` (activation bits
are None for a layer without a following `<name>_relu`, e.g. MobileNet's `fc`; sparsity is the
share of the kernel magnitude-pruned to zero, the third element may be absent = the trained
weights as they are, which is how points without a sparsity search look). Integer bits are
not searched: a narrower weight keeps the integer bits the baseline plan resolved from the
trained weights (clamped to bits-1, exactly what `hwflow.train.resolve_plan` does for a
width-only YAML value), a narrower activation keeps the baseline's integer bits likewise.

Cost (the issue's fallback metric, used because the resource estimator needs an hls4ml
conversion per point, ~seconds each, while this is exact arithmetic): half logic, half memory,

    cost = 50 * sum_l d_l * MACs_l * (w_l + a_l) / (same at the baseline)
         + 50 * sum_l d_l * weights_l * w_l      / (same at the baseline)

with d_l = 1 - sparsity_l the layer's density, so the baseline costs 100. The first term is the MAC-weighted bit count (a product's LUT cost
grows with both operand widths, and layers with many multiply-accumulates matter most); the
second is the stored weight bits (BRAM/ROM), which the MAC term alone would ignore in the late
layers that hold most of the weights but few of the MACs. The resource estimator is applied to
the baseline and the final choice in the report.

Why the density scales both terms of a layer: a zero weight is a product hls4ml's Latency-strategy
layers drop at synthesis (the weights are constants; hls4ml counts them as `n_zeros`) and that
hwflow.estimate drops too, and a constant zero is no ROM bit. Resource-strategy layers still
store the zeros in their weight BRAM and stream them through the reused multipliers, so for
them the saving is optimistic (the estimator, not this cost, is the number to trust there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hwflow.zoo.layers import ACT_SUFFIX
from hwflow.zoo.quant import LayerQuant, QuantPlan, QuantSpec

Point = dict[str, list]  # layer -> [weight bits, activation bits | None(, sparsity)]

W, A, S = 0, 1, 2  # indices in a point's entry


def sparsity_of(entry) -> float:
    """The sparsity of one layer's entry of a point (0 when the entry has none)."""
    return float(entry[S]) if len(entry) > S else 0.0


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str  # Keras class name
    macs: int  # multiply-accumulates per image
    weights: int  # kernel parameters
    has_activation: bool
    prunable: bool = False  # the sparsity search may prune it (hwflow.prune's rule: not depthwise)


def layer_infos(qmodel, names: list[str], never_pruned=()) -> list[LayerInfo]:
    """MACs and weight counts of the kernel layers `names` of a built (Q)Keras model;
    `never_pruned`: layers the sparsity search must leave alone (a config's prune.exclude)."""
    from hwflow.prune import UNPRUNABLE

    have = {l.name for l in qmodel.layers}
    out = []
    for name in names:
        layer = qmodel.get_layer(name)
        kernel = layer.get_weights()[0]
        shape = layer.output_shape
        pixels = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
        kind = type(layer).__name__
        if "Depthwise" in kind:
            macs = pixels * int(kernel.size)  # kh*kw*cin*mult products per output pixel
        elif "Conv" in kind:
            macs = pixels * int(kernel.size)  # kh*kw*cin*cout per output pixel
        else:
            macs = int(kernel.size)
        out.append(LayerInfo(name, kind, macs, int(kernel.size), name + ACT_SUFFIX in have,
                             prunable=kind not in UNPRUNABLE and name not in never_pruned))
    return out


def base_point(plan: QuantPlan, infos: list[LayerInfo], sparsity: dict[str, float] | None = None) -> Point:
    """The trained model's point; with `sparsity` (the config's prune plan, {} if unpruned) every
    entry gets its third element, the layer's trained sparsity."""
    out = {i.name: [plan.layers[i.name].weight.bits,
                    plan.layers[i.name].activation.bits if i.has_activation else None] for i in infos}
    if sparsity is not None:
        for name, entry in out.items():
            entry.append(float(sparsity.get(name, 0.0)))
    return out


def cost(point: Point, infos: list[LayerInfo], base: Point) -> float:
    # a pruned layer's products and stored weights count by its density (module docstring)
    def logic(p):
        return sum((1.0 - sparsity_of(p[i.name])) * i.macs * (p[i.name][W] + (p[i.name][A] or 0)) for i in infos)

    def memory(p):
        return sum((1.0 - sparsity_of(p[i.name])) * i.weights * p[i.name][W] for i in infos)

    return 50.0 * logic(point) / logic(base) + 50.0 * memory(point) / memory(base)


def mean_weight_bits(point: Point, infos: list[LayerInfo]) -> float:
    """Average weight width over all kernel parameters (what the issue's "<= 5 bits" measures)."""
    return sum(i.weights * point[i.name][0] for i in infos) / sum(i.weights for i in infos)


def mean_sparsity(point: Point, infos: list[LayerInfo]) -> float:
    """Share of all kernel parameters that are zero (pruned) at a point."""
    return sum(i.weights * sparsity_of(point[i.name]) for i in infos) / sum(i.weights for i in infos)


def weight_spec(base: QuantSpec, bits: int) -> QuantSpec:
    return replace(base, bits=bits, integer=min(base.integer, bits - 1))


def activation_spec(base: QuantSpec, bits: int) -> QuantSpec:
    return replace(base, bits=bits, integer=min(base.integer, bits - 1))


def plan_for(point: Point, base_plan: QuantPlan) -> QuantPlan:
    """The resolved QuantPlan of a point (biases stay at the baseline)."""
    out = QuantPlan()
    for name, lq in base_plan.layers.items():
        w, a = point.get(name, [lq.weight.bits, None])[:2]
        out.layers[name] = LayerQuant(weight=weight_spec(lq.weight, w), bias=lq.bias,
                                      activation=lq.activation if a is None else activation_spec(lq.activation, a))
    return out


def yaml_overrides(point: Point, base_plan: QuantPlan, base: Point) -> dict[str, dict]:
    """quantization.layers entries for the layers that differ from the baseline.

    Weights are written as a width (the flow resolves integer bits from the trained weights,
    as for the baseline); activations as an explicit `quantized_relu(bits,integer)`."""
    out: dict[str, dict] = {}
    for name, p in point.items():
        w, a = p[W], p[A]
        entry: dict = {}
        if w != base[name][0]:
            entry["weight"] = int(w)
        if a is not None and a != base[name][1]:
            spec = activation_spec(base_plan.layers[name].activation, a)
            entry["activation"] = f"quantized_relu({spec.bits},{spec.integer})"
        if entry:
            out[name] = entry
    return out


def prune_overrides(point: Point, base: Point) -> dict[str, float]:
    """prune.layers entries for the layers whose sparsity the search raised above the trained one."""
    return {name: round(sparsity_of(p), 6) for name, p in point.items() if sparsity_of(p) > sparsity_of(base[name])}


def prune_plan(point: Point) -> dict[str, float]:
    """{layer: sparsity} of the layers a point prunes (s > 0)."""
    return {name: sparsity_of(p) for name, p in point.items() if sparsity_of(p) > 0}


class QuantizerSwap:
    """Sets the quantizers of a built QKeras model to those of a point, in place.

    Why by hand: rebuilding the QKeras model per point costs ~1-2 s (graph construction) while
    an accuracy evaluation on the tuning slice takes about as long; QKeras layers read their
    quantizer objects at trace time (`kernel_quantizer_internal`, `depthwise_quantizer_internal`,
    `QActivation.quantizer`), so swapping them and dropping Keras' cached predict function gives
    the same graph a rebuild would (checked in tests/test_tune.py)."""

    def __init__(self, qmodel, base_plan: QuantPlan):
        self.model = qmodel
        self.base_plan = base_plan

    def apply(self, point: Point) -> None:
        plan = plan_for(point, self.base_plan)
        for name, lq in plan.layers.items():
            layer = self.model.get_layer(name)
            wq = lq.weight.build()
            if hasattr(layer, "depthwise_quantizer_internal"):
                layer.depthwise_quantizer_internal = wq
                layer.quantizers[0] = wq
            else:
                layer.kernel_quantizer_internal = wq
                layer.quantizers[0] = wq
            if point[name][A] is not None:
                act = self.model.get_layer(name + ACT_SUFFIX)
                act.quantizer = lq.activation.build()
        self.model.predict_function = None  # force a retrace with the new quantizers


class KernelPrune:
    """Magnitude-prunes kernels of a built QKeras model in place for one evaluation, then puts
    the trained kernels back (so the model is never left pruned between evaluations, and another
    evaluator on the same model reads the trained weights). The rule is hwflow.prune's, the one
    hwflow.train applies to the weights a tuned config's QAT starts from."""

    def __init__(self, qmodel):
        self.model = qmodel
        self.pruned: dict[str, list] = {}  # layer -> its trained weights, while pruned

    def apply(self, point: Point) -> None:
        from hwflow.prune import prune_in_place

        self.restore()
        plan = prune_plan(point)
        self.pruned = {name: self.model.get_layer(name).get_weights() for name in plan}
        prune_in_place(self.model, plan)

    def restore(self) -> None:
        for name, w in self.pruned.items():
            self.model.get_layer(name).set_weights(w)
        self.pruned = {}
