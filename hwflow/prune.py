"""Magnitude pruning of the kernel layers with TensorFlow Model Optimization, kept to the end.

The zoo's float model is fine-tuned from its trained baseline with `prune_low_magnitude`
(polynomial ramp from 0 to each layer's target sparsity, then a frozen mask); BN folding keeps
the zeros (it scales whole output channels); QAT wraps the QKeras twin's layers the same way with
the mask frozen at the folded weights' zeros, so QAT cannot revive a pruned weight. `check_zeros`
proves it after folding and after QAT: every pruned position must be exactly 0 in the weights
hls4ml reads (hls4ml counts them as `n_zeros`, and HLS drops their products where the weights are
constants). Per-layer targets come from `FlowConfig.sparsity_plan` only.
"""

from __future__ import annotations

import numpy as np

from hwflow.errors import ConfigError

# a kernel layer's pruned weight: Conv2D/Dense `kernel`, DepthwiseConv2D `depthwise_kernel` (index 0)
KERNEL_INDEX = 0


def _tfmot():
    import tensorflow_model_optimization as tfmot

    return tfmot


# kernel layers TFMOT's prune registry gives no prunable weight (0.8: "DepthwiseConv2D: []")
UNPRUNABLE = ("DepthwiseConv2D", "QDepthwiseConv2D")


def plan_for(cfg, model) -> dict[str, float]:
    """The per-layer sparsity targets of `cfg` (FlowConfig.sparsity_plan) over `model`'s kernel
    layers that TFMOT can prune; a layer named in prune.layers that it cannot is a ConfigError."""
    from hwflow.zoo.layers import kernel_layer_names

    kernel = kernel_layer_names(model)
    prunable = [n for n in kernel if type(model.get_layer(n)).__name__ not in UNPRUNABLE]
    for name, s in cfg.prune.layers.items():
        if s > 0 and name in kernel and name not in prunable:
            raise ConfigError(f"{cfg.path}: prune.layers.{name}: a depthwise layer, which TensorFlow Model "
                              f"Optimization does not prune; valid: {', '.join(prunable)}")
    return cfg.sparsity_plan(prunable)


def wrap(model, plan: dict[str, float], schedule):
    """A clone of `model` whose layers in `plan` are wrapped in prune_low_magnitude with
    `schedule(sparsity)`; the clone shares the original layers' weights (Keras clone_model with a
    clone function that keeps the layer objects)."""
    from tensorflow import keras

    tfmot = _tfmot()

    def clone(layer):
        if layer.name in plan:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule(plan[layer.name]))
        return layer

    return keras.models.clone_model(model, clone_function=clone)


def strip_into(pruned, target) -> None:
    """The weights of a pruned clone (prune wrappers removed) copied into `target` by layer name."""
    stripped = _tfmot().sparsity.keras.strip_pruning(pruned)
    for layer in stripped.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


def ramp_schedule(steps: int, ramp: float, frequency: int):
    """Sparsity 0 -> target over the first `ramp` share of `steps`, mask frozen after that."""
    tfmot = _tfmot()
    end = max(1, int(steps * ramp))
    # TFMOT updates the mask at steps begin + k * frequency <= end_step only: end_step must be one of
    # them, or the last update falls short of the target; at least 4 updates over the ramp
    freq = max(1, min(frequency, end // 4))
    end = max(freq, end // freq * freq)
    return lambda s: tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=s, begin_step=0,
                                                          end_step=end, frequency=freq)


def frozen_schedule():
    """The mask computed once from the weights as they are (their zeros are the smallest
    magnitudes) and kept: TFMOT updates masks from step 1 (not 0) up to end_step, so begin 0 / end 1."""
    tfmot = _tfmot()
    return lambda s: tfmot.sparsity.keras.ConstantSparsity(s, begin_step=0, end_step=1, frequency=1)


def callbacks() -> list:
    return [_tfmot().sparsity.keras.UpdatePruningStep()]


def zero_masks(model, plan: dict[str, float]) -> dict[str, np.ndarray]:
    """Per pruned layer: True where the kernel is exactly zero."""
    return {n: model.get_layer(n).get_weights()[KERNEL_INDEX] == 0 for n in plan}


def check_zeros(model, masks: dict[str, np.ndarray], plan: dict[str, float], where: str) -> dict[str, float]:
    """Every position of `masks` must still be exactly zero in `model`, and each layer must reach
    its target sparsity (to TFMOT's rounding); a ConfigError naming the layer otherwise. Returns the
    measured sparsity per layer."""
    out = {}
    for name, mask in masks.items():
        kernel = model.get_layer(name).get_weights()[KERNEL_INDEX]
        revived = int(np.count_nonzero(kernel[mask]))
        if revived:
            raise ConfigError(f"{where}: prune: {revived} pruned weights of {name} are no longer zero")
        share = float(np.mean(kernel == 0))
        if share + 1.0 / kernel.size < plan[name] - 1e-6:
            raise ConfigError(f"{where}: prune: {name} has sparsity {share:.3f} < its target {plan[name]:.3f}")
        out[name] = share
    return out


def magnitude_prune(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """`weights` with its `sparsity` share of smallest magnitudes set to zero (TFMOT's rule:
    keep the round(n * (1 - sparsity)) largest). For seeded untrained twins (estimates of a pruned
    config without training) and for the tuner's in-place trial of a sparsity."""
    flat = np.abs(weights).ravel()
    keep = int(round(flat.size * (1.0 - sparsity)))
    if keep >= flat.size:
        return weights
    out = weights.copy()
    if keep <= 0:
        return np.zeros_like(weights)
    threshold = np.partition(flat, flat.size - keep)[flat.size - keep]
    out[np.abs(weights) < threshold] = 0
    return out


def prune_in_place(model, plan: dict[str, float]) -> None:
    """Magnitude-prune the kernels of `model` (no training) to `plan`."""
    for name, s in plan.items():
        layer = model.get_layer(name)
        w = layer.get_weights()
        w[KERNEL_INDEX] = magnitude_prune(w[KERNEL_INDEX], s)
        layer.set_weights(w)


def zero_share(model) -> float:
    """Share of exactly-zero kernel weights over all kernel layers of a Keras/QKeras model."""
    from hwflow.zoo.layers import kernel_layer_names

    n = z = 0
    for name in kernel_layer_names(model):
        k = model.get_layer(name).get_weights()[KERNEL_INDEX]
        n, z = n + k.size, z + int(np.count_nonzero(k == 0))
    return z / n if n else 0.0


def sparsity_of(model, names: list[str]) -> dict[str, float]:
    """Measured share of zero kernel weights per layer."""
    return {n: float(np.mean(model.get_layer(n).get_weights()[KERNEL_INDEX] == 0)) for n in names}
