"""Pre-flight check: constructs hls4ml 1.3.0 mishandles, found per layer before conversion.

Each rule is a small function `rule(layer, ctx) -> Finding | None` (hls4ml's optimizer-pass
idea: match + report), listed in RULES. Every finding says what will go wrong and how to fix
it; `fatal` ones stop the build. The traps were each seen with hls4ml 1.3.0 on this stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from hwflow.config import HlsSection
from hwflow.reuse import ReusePlan, _tuple2, mult_size, plan_reuse


@dataclass(frozen=True)
class Finding:
    layer: str
    code: str
    fatal: bool
    problem: str  # what will go wrong
    fix: str  # what to do about it

    def line(self) -> str:
        return f"{'FATAL' if self.fatal else 'warn '} {self.layer}: [{self.code}] {self.problem} Fix: {self.fix}"


@dataclass
class Ctx:
    hls: HlsSection
    reuse: ReusePlan  # the build's reuse plan (hwflow.reuse): the rule is not run again here

    def layer_hls(self, name: str):
        return self.hls.layers.get(name)


def _cls(layer) -> str:
    return type(layer).__name__


def overlapping_pool_stream(layer, ctx: Ctx):
    if "Pooling2D" not in _cls(layer) or "Global" in _cls(layer) or ctx.hls.io_type != "io_stream":
        return None
    pool, stride = _tuple2(layer.pool_size), _tuple2(layer.strides)
    if pool[0] > stride[0] or pool[1] > stride[1]:
        return Finding(layer.name, "overlapping-pool-stream", True,
                       f"overlapping {pool[0]}x{pool[1]}/{stride[0]} pooling in io_stream aborts hls4ml 1.3.0's "
                       f"C-simulation (and the Python process running it).",
                       "use pool_size == strides (e.g. the model's `pool_size: 2`), or hls.io_type: io_parallel.")
    return None


def global_avg_accumulator(layer, ctx: Ctx):
    if _cls(layer) != "GlobalAveragePooling2D":
        return None
    h, w = layer.input_shape[1:3]
    need = math.ceil(math.log2(max(h * w, 1)))
    user = ctx.layer_hls(layer.name)
    if user and "accum" in user.precision:
        acc = user.precision["accum"]
        return Finding(layer.name, "global-pool-accum", False,
                       f"accumulator precision set by the config ({acc}): the sum of {h}x{w} values needs {need} "
                       f"more integer bits than the input, or it overflows silently.",
                       "leave precision.accum unset: hwflow then sizes it from the input type.")
    return Finding(layer.name, "global-pool-accum", False,
                   f"hls4ml's default accumulator overflows summing {h}x{w} values (handled: hwflow widens accum by "
                   f"{need} integer bits and the result by {need} fraction bits).", "nothing to do.")


def bounded_relu(layer, ctx: Ctx):
    max_value = None
    if _cls(layer) == "ReLU" and getattr(layer, "max_value", None) is not None:
        max_value = float(layer.max_value)
    elif _cls(layer) == "Activation" and getattr(layer.activation, "__name__", "") == "relu6":
        max_value = 6.0
    if max_value is None:
        return None
    return Finding(layer.name, "bounded-relu", True,
                   f"Keras ReLU(max_value={max_value:g}) becomes an unbounded ReLU in hls4ml 1.3.0 (the bound is "
                   f"silently dropped).", "use a QKeras QActivation('quantized_relu(bits, integer)') whose range is the "
                   "bound, or quantized_relu(..., relu_upper_bound=...) checked by C-sim parity.")


def ignored_relu_bound(layer, ctx: Ctx):
    q = getattr(layer, "quantizer", None)
    if type(q).__name__ != "quantized_relu" or getattr(q, "relu_upper_bound", None) is None:
        return None
    if not getattr(q, "is_quantized_clip", True):
        return None  # an active bound: hwflow.hls_ext converts it exactly (BoundedReLU)
    return Finding(layer.name, "ignored-relu-bound", True,
                   f"quantized_relu(relu_upper_bound={q.relu_upper_bound}) with is_quantized_clip=True: QKeras ignores "
                   f"the bound, but the converted model applies it (hls4ml cannot see is_quantized_clip).",
                   "build the activation with Ops.relu6 (is_quantized_clip=False), or drop relu_upper_bound.")


def softmax_table(layer, ctx: Ctx):
    act = getattr(getattr(layer, "activation", None), "__name__", "")
    if _cls(layer) == "Softmax" or act == "softmax":
        return Finding(layer.name, "softmax-table", False,
                       "hls4ml's softmax lookup tables move probabilities by about 0.02.",
                       "end the model at the logits and apply softmax on the host (argmax is unchanged); parity "
                       "compares logits.")
    return None


def concat_inputs(layer, ctx: Ctx):
    if _cls(layer) != "Concatenate":
        return None
    n = len(layer.input) if isinstance(layer.input, list) else 1
    if n != 2:
        return Finding(layer.name, "concat-inputs", True,
                       f"Concatenate with {n} inputs: hls4ml 1.3.0 takes exactly two.",
                       "chain two-input Concatenate layers.")
    return None


def reshape_5d(layer, ctx: Ctx):
    if _cls(layer) != "Reshape" or len(layer.target_shape) < 4:
        return None
    return Finding(layer.name, "reshape-5d", True,
                   f"Reshape to {len(layer.target_shape) + 1}-D {tuple(layer.target_shape)} fails to convert in "
                   f"hls4ml 1.3.0 (ShuffleNet's usual channel shuffle).",
                   "use hwflow's channel-shuffle layer hwflow.hls_ext.keras_layers.ChannelShuffle(groups) (a pure "
                   "channel permutation hwflow converts exactly; see hwflow/zoo/shufflenet.py).")


def reuse_factor(layer, ctx: Ctx):
    lr = ctx.reuse.layers.get(layer.name)
    if lr is None or lr.ok:
        return None
    size, rf, closest, valid = (lr.n_in, lr.n_out), lr.requested, lr.closest, lr.valid
    shown = ", ".join(map(str, valid[:24])) + (", ..." if len(valid) > 24 else "")
    if lr.explicit:
        return Finding(layer.name, "reuse-factor", True,
                       f"reuse_factor {rf} is invalid for n_in={size[0]}, n_out={size[1]}; hls4ml would silently use "
                       f"{closest}.", f"set hls.layers.{layer.name}.reuse_factor to one of: {shown}.")
    return Finding(layer.name, "reuse-factor", False,
                   f"global reuse_factor {rf} is invalid here (n_in={size[0]}, n_out={size[1]}); hwflow uses the "
                   f"closest valid value {closest} and says so in the summary.",
                   f"set hls.layers.{layer.name}.reuse_factor to one of: {shown}.")


def too_large(layer, ctx: Ctx):
    size = mult_size(layer)
    if size is None:
        return None
    user = ctx.layer_hls(layer.name)
    strategy = (user.strategy if user and user.strategy else None) or ctx.hls.strategy
    rf = (user.reuse_factor if user and user.reuse_factor else None) or ctx.hls.default_reuse_factor
    mults = size[0] * size[1] / rf
    if strategy == "Latency" and mults > 4096:
        return Finding(layer.name, "too-large-latency", False,
                       f"{int(mults)} parallel multipliers with the Latency strategy (n_in*n_out/RF > 4096): HLS "
                       f"unrolling will take very long or fail.",
                       f"use strategy Resource for this layer or a reuse factor >= {math.ceil(size[0] * size[1] / 4096)}.")
    if ctx.hls.io_type == "io_parallel" and len(layer.input_shape) == 4:
        n = int(math.prod(layer.input_shape[1:]))
        if n > 65536:
            return Finding(layer.name, "too-large-parallel", False,
                           f"io_parallel with a {n}-element input: the arrays are fully partitioned, HLS will not "
                           f"finish in reasonable time.", "use hls.io_type: io_stream for CNNs of this size.")
    return None


RULES: list[Callable] = [overlapping_pool_stream, global_avg_accumulator, bounded_relu, softmax_table, concat_inputs,
                         reshape_5d, reuse_factor, too_large, ignored_relu_bound]


def check_model(model, hls: HlsSection, reuse: ReusePlan | None = None) -> list[Finding]:
    """All findings for a Keras/QKeras model under the given HLS settings; `reuse`: the build's
    reuse plan (computed here only when called on its own)."""
    ctx = Ctx(hls, reuse or plan_reuse(hls, model))
    findings = []
    for layer in model.layers:
        for rule in RULES:
            f = rule(layer, ctx)
            if f is not None:
                findings.append(f)
    return findings
