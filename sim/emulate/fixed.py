"""ap_fixed<W, I, Q, O> arithmetic on integer codes, vectorised with numpy.

A value of type T is held as its integer code `raw` (numpy int64) with value raw * 2**-T.frac.
`cast_raw` is the assignment `T x = y;` of ap_fixed_base::operator= (ap_fixed_base.h in the
Xilinx ap_types that hls4ml ships), written as arithmetic on the exact value instead of bit
fiddling: quantise to T.frac fractional bits with T's rounding mode, then fit into T's range
with T's overflow mode. `from_float` is the ap_fixed_base(double) constructor (how C-sim turns
the float inputs and the weight text files into fixed point).

Hand-written because no maintained Python package reproduces Xilinx ap_fixed bit for bit
(numpy has no fixed point; the available fixed-point packages do not implement AP_RND_CONV /
AP_SAT_SYM with Xilinx semantics or are not vectorised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwflow.errors import HwflowError

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
SATURATION_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
MAX_WIDTH = 62  # codes live in int64; leave one bit of headroom for the rounding increment


class UnsupportedLayerError(HwflowError):
    """The emulator cannot reproduce a layer (or a precision feature) bit for bit.

    Raised instead of approximating; callers fall back to C-simulation.
    """

    exit_code = 9


class EmulateInputError(HwflowError):
    """The array given to the emulator cannot be converted to the model's input type."""

    exit_code = 2


@dataclass(frozen=True)
class FixedType:
    """ap_fixed<width, integer, rounding, saturation> (ap_ufixed when not signed)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    saturation: str = "WRAP"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_WIDTH:
            raise UnsupportedLayerError(
                f"{self}: width {self.width} is outside 1..{MAX_WIDTH} (int64 emulation)")
        if self.rounding not in ROUNDING_MODES:
            raise UnsupportedLayerError(f"{self}: rounding mode {self.rounding!r} not in {ROUNDING_MODES}")
        if self.saturation not in SATURATION_MODES:
            raise UnsupportedLayerError(
                f"{self}: saturation mode {self.saturation!r} not in {SATURATION_MODES}")

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def holds(self, other: "FixedType") -> bool:
        """True when every value of `other` is exactly representable here (cast is a shift)."""
        if self.frac < other.frac:
            return False
        int_bits = self.integer - (1 if self.signed else 0)
        other_int_bits = other.integer - (1 if other.signed else 0)
        if other.signed and not self.signed:
            return False
        return int_bits >= other_int_bits

    def to_float(self, raw: np.ndarray) -> np.ndarray:
        return np.ldexp(raw.astype(np.float64), -self.frac)

    def __str__(self) -> str:
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.width},{self.integer},{self.rounding},{self.saturation}>"


def mult_type(a: FixedType, b: FixedType) -> FixedType:
    """The full-precision product type of `a * b` (RType::mult in ap_fixed_base.h)."""
    return FixedType(a.width + b.width, a.integer + b.integer, a.signed or b.signed)


def plus_type(a: FixedType, b: FixedType) -> FixedType:
    """The full-precision sum type of `a + b` (RType::plus in ap_fixed_base.h)."""
    ia = a.integer + (1 if b.signed and not a.signed else 0)
    ib = b.integer + (1 if a.signed and not b.signed else 0)
    integer = max(ia, ib) + 1
    return FixedType(integer + max(a.frac, b.frac), integer, a.signed or b.signed)


def _round_increment(q: np.ndarray, rem_gt: np.ndarray, rem_eq: np.ndarray, rem_nz: np.ndarray,
                     negative: np.ndarray, mode: str) -> np.ndarray:
    """0/1 to add to the floor `q`, from the discarded part: > half, == half, != 0."""
    if mode == "TRN":
        return np.zeros_like(q)
    if mode == "TRN_ZERO":
        return (rem_nz & negative).astype(np.int64)
    if mode == "RND":
        return (rem_gt | rem_eq).astype(np.int64)
    if mode == "RND_MIN_INF":
        return rem_gt.astype(np.int64)
    if mode == "RND_ZERO":
        return (rem_gt | (rem_eq & negative)).astype(np.int64)
    if mode == "RND_INF":
        return (rem_gt | (rem_eq & ~negative)).astype(np.int64)
    # RND_CONV: ties to even
    return (rem_gt | (rem_eq & ((q & 1) == 1))).astype(np.int64)


def _overflow(q: np.ndarray, t: FixedType) -> np.ndarray:
    lo, hi = t.raw_min, t.raw_max
    if t.saturation == "WRAP":
        if q.size and lo <= q.min() and q.max() <= hi:
            return q
        mod = np.int64(1) << np.int64(t.width)
        w = q & (mod - 1)
        if t.signed:
            w = np.where(w > hi, w - mod, w)
        return w
    if t.saturation == "SAT":
        return np.clip(q, lo, hi)
    if t.saturation == "SAT_SYM":
        return np.clip(q, -hi if t.signed else 0, hi)
    # SAT_ZERO
    return np.where((q < lo) | (q > hi), 0, q)


def cast_raw(raw: np.ndarray, frac: int, t: FixedType) -> np.ndarray:
    """Codes `raw` with `frac` fractional bits assigned to type `t` (ap_fixed operator=)."""
    raw = np.asarray(raw, dtype=np.int64)
    shift = frac - t.frac
    if shift > 0:
        if shift > MAX_WIDTH:
            raise UnsupportedLayerError(f"cast to {t}: dropping {shift} fractional bits exceeds int64")
        q = raw >> np.int64(shift)
        if t.rounding != "TRN":
            rem = raw - (q << np.int64(shift))
            half = np.int64(1) << np.int64(shift - 1)
            q = q + _round_increment(q, rem > half, rem == half, rem != 0, raw < 0, t.rounding)
    elif shift < 0:
        q = raw << np.int64(-shift)
    else:
        q = raw
    return _overflow(q, t)


def from_float(x: np.ndarray, t: FixedType) -> np.ndarray:
    """ap_fixed_base(double): exact value of each double, quantised and fitted into `t`."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise EmulateInputError(f"input contains NaN or inf; cannot convert to {t}")
    y = np.ldexp(x, t.frac)  # exact: a power-of-two scaling
    fl = np.floor(y)
    rem = y - fl  # exact fractional part in [0, 1)
    neg = x < 0
    inc = _round_increment(fl.astype(np.int64) if t.rounding == "RND_CONV" else fl,
                           rem > 0.5, rem == 0.5, rem != 0, neg, t.rounding)
    q = fl + inc
    lo, hi = float(t.raw_min), float(t.raw_max)
    if t.saturation == "WRAP":
        q = np.fmod(q, float(1 << t.width))  # exact on integral doubles
    elif t.saturation == "SAT":
        q = np.clip(q, lo, hi)
    elif t.saturation == "SAT_SYM":
        q = np.clip(q, -hi if t.signed else 0.0, hi)
    else:
        q = np.where((q < lo) | (q > hi), 0.0, q)
    return _overflow(q.astype(np.int64), t)


def div_trunc(raw: np.ndarray, divisor: int) -> np.ndarray:
    """`x / n` for ap_fixed x and a C++ integer n: integer code divided, truncated toward zero
    (APInt sdiv/udiv on the code; the result keeps x's fractional bits)."""
    q = np.abs(raw) // divisor
    return np.where(raw < 0, -q, q)
