"""ap_fixed<W, I, Q, O> arithmetic on integer codes, vectorised with numpy.

A value of type T is held as its integer code `raw` with value raw * 2**-T.frac: numpy int64 for
types of up to INT64_WIDTH bits, and numpy object arrays of Python ints (arbitrary precision, exact,
~50x slower) for wider ones (hls4ml's `auto` accumulators of chained Dense/Add layers reach 70-116
bits). Every function here takes either; the wide path is taken only where a width needs it.
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
MAX_WIDTH = 1024  # AP_INT_MAX_W, the widest ap_fixed the Xilinx headers accept by default
INT64_WIDTH = 62  # codes up to this width live in int64 (one bit of headroom for a rounding increment)


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
                f"{self}: width {self.width} is outside 1..{MAX_WIDTH} (AP_INT_MAX_W)")
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

    @property
    def wide(self) -> bool:
        """Codes need more than int64 (object arrays of Python ints)."""
        return self.width > INT64_WIDTH

    def to_float(self, raw: np.ndarray) -> np.ndarray:
        """Values as doubles, rounded to nearest even like ap_fixed::to_double (numpy's int64 and
        Python's int -> float conversions both round to nearest even; the scaling is exact)."""
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


def _overflow(q: np.ndarray, t: FixedType, owned: bool = False) -> np.ndarray:
    """Fit codes (int64, or floats holding exact integers) into `t`'s range with its overflow
    mode; `owned`: q may be modified in place."""
    lo, hi = t.raw_min, t.raw_max
    if q.dtype == object:
        return _overflow_wide(q, t)
    if t.saturation == "WRAP":
        if q.size and lo <= q.min() and q.max() <= hi:
            return q
        if q.dtype.kind == "f":  # mod of exact integers is exact
            out = np.mod(q - float(lo), float(1 << t.width))
            out += float(lo)
            return out
        mod = np.int64(1) << np.int64(t.width)
        if not t.signed:
            return np.bitwise_and(q, mod - 1, out=q if owned else None)
        # two's complement wrap: ((q + 2^(W-1)) mod 2^W) - 2^(W-1)
        w = np.add(q, np.int64(-lo), out=q if owned else None)
        np.bitwise_and(w, mod - 1, out=w)
        return np.add(w, np.int64(lo), out=w)
    if t.saturation == "SAT":
        return np.clip(q, lo, hi, out=q if owned else None)
    if t.saturation == "SAT_SYM":
        return np.clip(q, -hi if t.signed else 0, hi, out=q if owned else None)
    # SAT_ZERO
    return np.where((q < lo) | (q > hi), 0, q)


def _overflow_wide(q: np.ndarray, t: FixedType) -> np.ndarray:
    """_overflow on an object array of Python ints (any width)."""
    lo, hi = t.raw_min, t.raw_max
    if t.saturation == "WRAP":
        return q & ((1 << t.width) - 1) if not t.signed else ((q - lo) & ((1 << t.width) - 1)) + lo
    if t.saturation == "SAT":
        return np.clip(q, lo, hi)
    if t.saturation == "SAT_SYM":
        return np.clip(q, -hi if t.signed else 0, hi)
    return np.where((q < lo) | (q > hi), 0, q)


def to_object(raw: np.ndarray) -> np.ndarray:
    """Codes (int64, float-held exact integers below 2**53, or object) as an object array of Python ints."""
    raw = np.asarray(raw)
    if raw.dtype == object:
        return raw
    return raw.astype(np.int64, copy=False).astype(object)


def _shift_round(raw: np.ndarray, shift: int, mode: str) -> np.ndarray:
    """raw / 2**shift rounded with `mode`, as one bias add and one arithmetic shift (floor):
    round(v) = floor(v + bias) with the bias chosen per mode (half = 2**(shift-1));
    ties to even adds the lowest kept bit, ties away from / toward zero the sign. Works on int64
    and (with Python-int constants) on object arrays."""
    if raw.dtype == object:
        s, half, one, ints = shift, 1 << (shift - 1), 1, object
    else:
        s, half, one, ints = np.int64(shift), np.int64(1) << np.int64(shift - 1), np.int64(1), np.int64
    if mode == "TRN":
        return raw >> s
    if mode == "RND":  # ties toward +inf
        q = raw + half
    elif mode == "RND_MIN_INF":  # ties toward -inf
        q = raw + (half - 1)
    elif mode == "RND_CONV":  # ties to even
        q = (raw >> s) & 1
        q += raw
        q += half - 1
    elif mode == "RND_ZERO":  # ties toward zero: up for negatives, down for positives
        q = (raw < 0).astype(ints)
        q += raw
        q += half - 1
    elif mode == "RND_INF":  # ties away from zero
        q = raw + half
        q -= raw < 0
    else:  # TRN_ZERO: toward zero (ceil for negatives)
        q = (raw < 0).astype(ints)
        q *= (one << s) - 1
        q += raw
    q >>= s
    return q


def cast_raw(raw: np.ndarray, frac: int, t: FixedType) -> np.ndarray:
    """Codes `raw` with `frac` fractional bits assigned to type `t` (ap_fixed operator=).

    int64 codes and a type of up to INT64_WIDTH bits: int64 arithmetic (a left shift that leaves
    int64 only matters to a saturating type, since wrapping is exact modulo 2**64). Object codes,
    a wider type, or a shift int64 cannot do: Python ints, returned as int64 when `t` fits."""
    raw = np.asarray(raw)
    if raw.dtype != object:
        raw = raw.astype(np.int64, copy=False)
    shift = frac - t.frac
    if raw.dtype == object or t.wide or shift > INT64_WIDTH or (shift < 0 and _shift_leaves_int64(raw, -shift, t)):
        return _cast_wide(to_object(raw), shift, t)
    if shift > 0:
        return _overflow(_shift_round(raw, shift, t.rounding), t, owned=True)
    if shift < 0:
        return _overflow(raw << np.int64(-shift), t, owned=True)
    return _overflow(raw, t)


def _shift_leaves_int64(raw: np.ndarray, left: int, t: FixedType) -> bool:
    if t.saturation == "WRAP" or not raw.size:
        return False
    if left > INT64_WIDTH:
        return True
    return int(max(-int(raw.min()), int(raw.max()))).bit_length() + left > INT64_WIDTH


def _cast_wide(raw: np.ndarray, shift: int, t: FixedType) -> np.ndarray:
    """cast_raw on Python ints: exact at any width; int64 back when `t` fits int64."""
    if shift > 0:
        q = _shift_round(raw, shift, t.rounding)
    elif shift < 0:
        q = raw << -shift
    else:
        q = raw
    q = _overflow_wide(q, t)
    return q if t.wide else q.astype(np.int64)


def float_dtype(*bits: int):
    """float32 or float64 when every integer code of magnitude below 2**max(bits), plus one bit
    for a rounding increment, is exact in it (2**24 / 2**53 mantissas); None otherwise (int64)."""
    need = max(bits) + 1
    return np.float32 if need <= 24 else np.float64 if need <= 53 else None


def cast_codes(codes: np.ndarray, frac: int, t: FixedType, bits: int) -> np.ndarray:
    """cast_raw for codes of magnitude below 2**bits in any representation: int64 goes to
    cast_raw; float32/float64 arrays of integral values (how the emulator keeps narrow tensors,
    so BLAS / TensorFlow kernels and numpy's float ufuncs work on them without conversions) are
    cast in floating point, exactly, and stay float when the result fits (see float_dtype).

    Every step is exact: scaling by a power of two only moves the exponent; floor/ceil/rint/trunc
    of an exact value are exact; `y +- 0.5` is exact because |code| + 2**(shift-1) < 2**(bits+1)
    fits the mantissa; clip and mod of exact integers are exact."""
    if codes.dtype == np.int64 or codes.dtype == object:
        return cast_raw(codes, frac, t)
    shift = frac - t.frac
    dt = float_dtype(bits + max(0, -shift), t.width)  # a left shift widens the codes first
    if dt is None:
        return cast_raw(np.asarray(codes).astype(np.int64), frac, t)
    y = codes.astype(dt) if codes.dtype != dt else codes
    if shift == 0:
        return y if _cannot_overflow(t, bits) else _overflow(y, t)
    y = y * dt(2.0 ** -shift)  # a new array: the caller's stays untouched
    return fit_scaled(y, t, bits - shift, rounded=shift > 0)


def _cannot_overflow(t: FixedType, bits: int) -> bool:
    """Codes of magnitude at most 2**bits always fit signed `t` (no range check needed)."""
    return t.signed and bits <= t.width - 2


def fit_scaled(y: np.ndarray, t: FixedType, bits: int, *, rounded: bool) -> np.ndarray:
    """The second half of a float cast to `t`: `y` (float codes already scaled to t's fractional
    bits, |y| < 2**bits, owned by the caller) rounded with t's mode when `rounded`, then fitted into
    t's range. The rounding writes into a float32 array when that holds every rounded code exactly
    (half the memory for the layers after it, at no extra pass); the range check is skipped when
    `bits` proves it cannot overflow."""
    if rounded:
        narrow = float_dtype(max(bits, t.width))
        out = np.empty(y.shape, narrow) if narrow is not None and np.dtype(narrow).itemsize < y.itemsize else None
        y = _round_float(y, t.rounding, out)
    return y if _cannot_overflow(t, bits) else _overflow(y, t, owned=True)


def _round_float(y: np.ndarray, mode: str, out: np.ndarray | None = None) -> np.ndarray:
    """Round scaled codes to integers with an ap_fixed rounding mode: in place, or with the last
    step written into `out` (an array of another float dtype that holds the results exactly)."""
    o = y if out is None else out
    if mode == "TRN":
        np.floor(y, out=o)
    elif mode == "RND_CONV":
        np.rint(y, out=o)  # IEEE round half to even
    elif mode == "RND":
        y += 0.5
        np.floor(y, out=o)
    elif mode == "RND_MIN_INF":
        y -= 0.5
        np.ceil(y, out=o)
    elif mode == "TRN_ZERO":
        np.trunc(y, out=o)
    else:  # RND_ZERO (ties toward zero) / RND_INF (ties away from zero) on |y|, sign restored
        sign = np.sign(y)
        np.abs(y, out=y)
        if mode == "RND_ZERO":
            y -= 0.5
            np.ceil(y, out=y)
        else:
            y += 0.5
            np.floor(y, out=y)
        np.multiply(y, sign, out=o)
    return o


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
    q = fl + inc  # exact: inc is 0 wherever |fl| >= 2**52 (y is then an integer)
    if t.wide:
        return _overflow_wide(np.asarray(np.frompyfunc(int, 1, 1)(q), dtype=object), t)
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


def from_float32_codes(x: np.ndarray, t: FixedType) -> np.ndarray | None:
    """from_float for float32 inputs, computed in float64 and returned as float64 codes (None when
    the scaled values reach 2**52). Exact: a float32 times 2**frac has at most 24 significant bits,
    so y + 0.5 and y - 0.5 are exact in float64 whenever they could change the rounded result, and
    floor/ceil/rint/clip/mod of exact values are exact (the cases of fixed._round_float)."""
    y = x.astype(np.float64)
    y *= 2.0 ** t.frac
    if y.size == 0:
        return y
    lo, hi = float(y.min()), float(y.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise EmulateInputError(f"input contains NaN or inf; cannot convert to {t}")
    if max(-lo, hi) >= 2.0 ** 52:
        return None
    _round_float(y, t.rounding)
    return _overflow(y, t, owned=True)


def div_trunc(raw: np.ndarray, divisor: int) -> np.ndarray:
    """`x / n` for ap_fixed x and a C++ integer n: integer code divided, truncated toward zero
    (APInt sdiv/udiv on the code; the result keeps x's fractional bits)."""
    q = np.abs(raw) // divisor
    return np.where(raw < 0, -q, q)
