"""Quantizer specs: a small strict grammar shared by every model family.

A spec is what a config says about one tensor of one layer:

    8                                   bits only; integer bits come from the layer's role
    "quantized_bits(6,0,alpha=1)"       a QKeras quantizer call
    "quantized_relu(8,3)"

Grammar (no eval, no arbitrary names):

    spec   := NAME "(" [arg ("," arg)*] ")"
    arg    := NUMBER | KEY "=" NUMBER
    NAME   := one of QUANTIZERS
    KEY    := one of QUANTIZERS[NAME]

`QuantSpec.build()` returns the QKeras quantizer object. Everything else in the project goes
through `LayerQuant`, so a layer's precision is decided here and only here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from hwflow.errors import ConfigError
from hwflow.guard import show

# quantizer name -> (positional parameter names, keyword parameters allowed)
QUANTIZERS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "quantized_bits": (("bits", "integer", "symmetric", "keep_negative"), frozenset({"alpha"})),
    "quantized_relu": (("bits", "integer"), frozenset()),
}

_TOKEN = re.compile(r"\s*(?:(?P<num>[-+]?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<op>[(),=]))")


@dataclass(frozen=True)
class QuantSpec:
    """One QKeras quantizer, fully specified."""

    name: str
    bits: int
    integer: int | None  # None: resolved from the trained float weights (see resolve_integer)
    alpha: float | None = None  # quantized_bits only; 1 = no learned scale (hls4ml-exact)

    def resolved(self, integer: int) -> "QuantSpec":
        return QuantSpec(self.name, self.bits, min(integer, self.bits - 1), self.alpha)

    def build(self):
        import qkeras

        if self.integer is None:
            raise ValueError(f"{self}: integer bits not resolved yet")

        if self.name == "quantized_bits":
            return qkeras.quantized_bits(self.bits, self.integer, alpha=self.alpha)
        return qkeras.quantized_relu(self.bits, self.integer)

    def __str__(self) -> str:
        if self.name == "quantized_bits":
            return f"quantized_bits({self.bits},{'auto' if self.integer is None else self.integer},alpha={self.alpha:g})"
        return f"quantized_relu({self.bits},{'auto' if self.integer is None else self.integer})"


def parse_spec(text: str, *, where: str) -> QuantSpec:
    """Parse a quantizer call string strictly. `where` names the config key for errors."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConfigError(f"{where}: cannot parse quantizer {show(repr(text))} at position {pos}; "
                              f"expected e.g. 'quantized_bits(8,0,alpha=1)' or 'quantized_relu(8,3)'")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    if len(tokens) < 3 or tokens[0][0] != "name" or tokens[1] != ("op", "(") or tokens[-1] != ("op", ")"):
        raise ConfigError(f"{where}: {text!r} is not a quantizer call NAME(args); valid names: {', '.join(QUANTIZERS)}")
    name = tokens[0][1]
    if name not in QUANTIZERS:
        raise ConfigError(f"{where}: unknown quantizer {name!r}; valid: {', '.join(QUANTIZERS)}")
    positional_names, keywords = QUANTIZERS[name]
    args: dict[str, float] = {}
    body = tokens[2:-1]
    # split on commas
    groups: list[list[tuple[str, str]]] = [[]]
    for tok in body:
        if tok == ("op", ","):
            groups.append([])
        else:
            groups[-1].append(tok)
    if groups == [[]]:
        groups = []
    n_pos = 0
    for g in groups:
        if len(g) == 1 and g[0][0] == "num":
            if n_pos >= len(positional_names):
                raise ConfigError(f"{where}: {name} takes at most {len(positional_names)} positional arguments")
            key = positional_names[n_pos]
            n_pos += 1
        elif len(g) == 3 and g[0][0] == "name" and g[1] == ("op", "=") and g[2][0] == "num":
            key = g[0][1]
            if key not in keywords and key not in positional_names:
                valid = sorted(set(positional_names) | keywords)
                raise ConfigError(f"{where}: {name} has no argument {show(repr(key))}; valid: {', '.join(valid)}")
        else:
            raise ConfigError(f"{where}: bad argument in {show(repr(text))}; arguments are numbers or key=number")
        if key in args:  # Python would refuse it too (no silent "the second one wins")
            raise ConfigError(f"{where}: {show(repr(text))} gives {key!r} twice; give each argument once")
        args[key] = float(g[-1][1])
    if "bits" not in args:
        raise ConfigError(f"{where}: {text!r} must give the number of bits")
    bits, integer = args["bits"], args.get("integer", 0.0)
    if bits != int(bits) or not 1 <= bits <= 32 or integer != int(integer) or not 0 <= integer < bits:
        raise ConfigError(f"{where}: {text!r}: bits must be an integer 1..32 and integer bits 0..bits-1")
    for unsupported in ("symmetric", "keep_negative"):
        if unsupported in args and args[unsupported] != {"symmetric": 0, "keep_negative": 1}[unsupported]:
            raise ConfigError(f"{where}: {text!r}: {unsupported} is not supported by hwflow (hls4ml would differ)")
    alpha = args.get("alpha", 1.0) if name == "quantized_bits" else None
    if alpha is not None and alpha != 1.0:
        raise ConfigError(f"{where}: {text!r}: only alpha=1 is supported (a learned scale is not bit-exact in hls4ml)")
    return QuantSpec(name, int(bits), int(integer), alpha)


DEFAULT_ACTIVATION_INTEGER = 3  # an activation given as a width only
AUTO = "auto"  # activation_integer: calibrated on the float model's activations (hwflow.train.calibrate_activations)


def spec_from_value(value, *, role: str, where: str, integer: int | str | None = None) -> QuantSpec:
    """A config value (int bits or quantizer string) -> QuantSpec for `role`.

    role: 'weight' | 'bias' -> quantized_bits; 'activation' -> quantized_relu.
    `integer` is the role's default integer bits when only a width is given (activations: AUTO leaves
    them unresolved, for the calibration on the trained float model).
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{where}: expected a bit width (int) or a quantizer string, got {value!r}")
    if isinstance(value, str):
        spec = parse_spec(value, where=where)
        expected = "quantized_relu" if role == "activation" else "quantized_bits"
        if spec.name != expected:
            raise ConfigError(f"{where}: a {role} quantizer must be {expected}(...), got {spec.name}")
        return spec
    if not 2 <= value <= 32:
        raise ConfigError(f"{where}: bit width must be 2..32, got {value}")
    if role == "activation":
        if integer == AUTO:
            return QuantSpec("quantized_relu", value, None)
        return QuantSpec("quantized_relu", value, min(integer if integer is not None else DEFAULT_ACTIVATION_INTEGER,
                                                      value - 1))
    # weights/biases given as a width only: integer bits are resolved from the trained
    # (BN-folded) float weights so that nothing clips at the start of QAT.
    return QuantSpec("quantized_bits", value, None, 1.0)


def activation_integer_for(samples: np.ndarray, bits: int, signed: bool = False, least: int = 0) -> int:
    """Integer bits (least..bits-1) of a `bits`-wide activation quantizer with the least mean squared error
    on `samples` (float activations of that layer): the trade between clipping the largest values and the
    step. Unsigned: quantized_relu(bits, i), [0, 2^i - 2^(i-bits)] in steps of 2^(i-bits); signed:
    quantized_bits(bits, i, alpha=1), [-2^i, 2^i) in steps of 2^(i-bits+1). Ties: the fewer integer bits.
    Written here because neither QKeras nor hls4ml calibrates activation ranges (their quantizers and
    types take the integer bits as given)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    best, best_err = None, math.inf
    for i in range(min(least, bits - 1), bits):
        frac = bits - i - (1 if signed else 0)
        step = 2.0 ** -frac
        lo, hi = (-(2.0 ** i), 2.0 ** i - step) if signed else (0.0, 2.0 ** i - step)
        err = float(np.mean((np.clip(np.floor(x / step + 0.5) * step, lo, hi) - x) ** 2)) if x.size else 0.0
        if err < best_err:
            best, best_err = i, err
    return best


def integer_bits_for(max_abs: float) -> int:
    """Integer bits (excluding sign) so that a signed quantized_bits covers |w| <= max_abs."""
    if max_abs <= 1.0:
        return 0
    return int(math.ceil(math.log2(max_abs)))


@dataclass(frozen=True)
class LayerQuant:
    """Quantizers of one layer: weight, bias (for layers with kernels) and output activation."""

    weight: QuantSpec | None = None
    bias: QuantSpec | None = None
    activation: QuantSpec | None = None


@dataclass
class QuantPlan:
    """Per-layer quantizers for a whole model (layer name -> LayerQuant).

    Filled by `hwflow.config` from the YAML (defaults + per-layer overrides); the model
    builders only read it.
    """

    layers: dict[str, LayerQuant] = field(default_factory=dict)

    def get(self, name: str) -> LayerQuant:
        return self.layers.get(name, LayerQuant())


def with_default_activations(plan: QuantPlan) -> QuantPlan:
    """`plan` with uncalibrated ('auto') activation integer bits set to the width's default: for models whose
    activations are not calibrated (seeded, untrained weights: structure checks and estimates, which depend on
    the widths)."""
    def fix(spec):
        if spec is None or spec.integer is not None:
            return spec
        return spec.resolved(DEFAULT_ACTIVATION_INTEGER)

    return QuantPlan({n: LayerQuant(lq.weight, lq.bias, fix(lq.activation)) for n, lq in plan.layers.items()})


def uncalibrated_activations(plan: QuantPlan) -> QuantPlan:
    """`plan` with every activation's integer bits unresolved ('auto'), whatever the config wrote: what
    hwflow.train.calibrate_activations places (benchmarks.activation_integers compares its placements)."""
    return QuantPlan({n: LayerQuant(lq.weight, lq.bias, lq.activation and QuantSpec(lq.activation.name, lq.activation.bits, None))
                      for n, lq in plan.layers.items()})
