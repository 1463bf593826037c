"""Activation lookup tables exactly as the firmware's C-simulation fills them.

hls4ml's sigmoid, tanh and softmax (exp, invert) tables are filled at run time by `nnet::init_sigmoid_table` /
`init_tanh_table` (nnet_activation.h) with single-precision libm calls (`std::exp` on a float,
`tanh` on a float) whose last-ulp results differ between libm and numpy's vectorised versions,
and a one-ulp difference can flip a table entry after the cast to `table_t`. So instead of
re-deriving them, the tables are produced by compiling those very functions with g++ (which
C-simulation needs anyway) once per (function, table types, sizes), and cached by that key.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hwflow import tools
from hwflow.sim.emulate.fixed import FixedType, UnsupportedLayerError

TABLE_TIMEOUT_S = 600.0  # one g++ compile of a lookup-table program (seconds)

INIT_FUNCTIONS = {"sigmoid": "init_sigmoid_table", "tanh": "init_tanh_table", "elu": "init_elu_table"}
_MEMO: dict[tuple, np.ndarray] = {}


def _templates() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado"


def _cxx_type(t: FixedType) -> str:
    kind = "ap_fixed" if t.signed else "ap_ufixed"
    return f"{kind}<{t.width},{t.integer},AP_{t.rounding},AP_{t.saturation}>"


def _std_flag(cxx: str) -> list[str]:
    """The -std flag hls4ml's build_lib.sh uses (c++23 when the compiler takes it)."""
    probe = tools.capture([cxx, "-Werror", "-fsyntax-only", "-std=c++23", "-xc++", "-", "-o", "/dev/null"],
                          cwd=Path.cwd(), timeout_s=TABLE_TIMEOUT_S, label="g++ -std probe")  # stdin: empty
    return ["-std=c++23"] if probe.returncode == 0 else []


def _cache_dir() -> Path:
    from hwflow.paths import build_root

    return build_root() / "cache" / "emulate-tables"


def lut(function: str, table_t: FixedType, size: int) -> np.ndarray:
    """Integer codes (table_t) of hls4ml's `function` table of `size` entries."""
    if function not in INIT_FUNCTIONS:
        raise UnsupportedLayerError(f"no lookup table for activation {function!r}; tables: {', '.join(INIT_FUNCTIONS)}")
    key = (function, table_t, size)
    config = f"struct config {{ typedef {_cxx_type(table_t)} table_t; static const unsigned table_size = {size}; }};"
    body = (f"static config::table_t t[{size}];\n nnet::{INIT_FUNCTIONS[function]}<config, {size}>(t);\n"
            f' for (int i = 0; i < {size}; i++) printf("%lld\\n", (long long)t[i].V);\n')
    return _signed_codes(_cached(function, key, config, body), table_t)


def softmax_tables(exp_table_t: FixedType, exp_size: int, exp_addr_t: FixedType, negative: bool, exp_scale: str,
                   inv_table_t: FixedType, inv_size: int, inv_addr_t: FixedType) -> tuple[np.ndarray, np.ndarray]:
    """Codes of softmax's exp and invert tables (nnet::init_exp_table / init_invert_table, which
    address the tables by the top bits of `exp_addr_t` / `inv_addr_t` values)."""
    key = ("softmax", exp_table_t, exp_size, exp_addr_t, negative, exp_scale, inv_table_t, inv_size, inv_addr_t)
    config = (f"struct config {{ typedef {_cxx_type(exp_table_t)} exp_table_t; typedef {_cxx_type(inv_table_t)} inv_table_t;"
              f" static const unsigned exp_table_size = {exp_size}; static const unsigned inv_table_size = {inv_size};"
              f" static constexpr float exp_scale = {exp_scale}; }};")
    body = (f"static config::exp_table_t e[{exp_size}]; static config::inv_table_t v[{inv_size}];\n"
            f"nnet::init_exp_table<{_cxx_type(exp_addr_t)}, config>(e, {'true' if negative else 'false'});\n"
            f"nnet::init_invert_table<{_cxx_type(inv_addr_t)}, config>(v);\n"
            f'for (unsigned i = 0; i < {exp_size}; i++) printf("%lld\\n", (long long)e[i].V);\n'
            f'for (unsigned i = 0; i < {inv_size}; i++) printf("%lld\\n", (long long)v[i].V);\n')
    codes = _cached("softmax", key, config, body)
    return _signed_codes(codes[:exp_size], exp_table_t), _signed_codes(codes[exp_size:], inv_table_t)


def _signed_codes(raw: np.ndarray, t: FixedType) -> np.ndarray:
    """Codes printed through long long -> the value of each code in type t."""
    raw = raw & ((1 << t.width) - 1)
    return np.where(raw >= 1 << (t.width - 1), raw - (1 << t.width), raw) if t.signed else raw


def _cached(function: str, key: tuple, config: str, body: str) -> np.ndarray:
    """Raw printed codes of a table program: from memory, the build cache, or g++ (in that order).
    The cache key includes hls4ml's version: its templates fill the tables."""
    import hls4ml

    if key in _MEMO:
        return _MEMO[key]
    tag = hashlib.sha256(repr((key, hls4ml.__version__)).encode()).hexdigest()[:16]
    cached = _cache_dir() / f"{function}-{tag}.npy"
    if cached.exists():
        codes = np.load(cached)
    else:
        codes = _compile_and_run(function, config, body)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npy")
        np.save(tmp, codes)
        tmp.replace(cached)
    _MEMO[key] = codes
    return codes


def _compile_and_run(function: str, config: str, body: str) -> np.ndarray:
    cxx = shutil.which("g++")
    if cxx is None:
        raise UnsupportedLayerError(f"the {function} lookup table needs g++ (as C-simulation does); none on PATH")
    src = (f'#include <cstdio>\n#include "nnet_utils/nnet_activation.h"\n{config}\n'
           f"int main() {{\n{body}  return 0; }}\n")
    with tempfile.TemporaryDirectory(prefix="hwflow-lut-") as tmp:
        cpp, exe = Path(tmp) / "lut.cpp", Path(tmp) / "lut"
        cpp.write_text(src)
        inc = _templates()
        cmd = [cxx, "-O3", *_std_flag(cxx), "-I", str(inc), "-I", str(inc / "ap_types"), str(cpp), "-o", str(exe)]
        built = tools.capture(cmd, cwd=Path(tmp), timeout_s=TABLE_TIMEOUT_S, label=f"g++ ({function} table)")
        if built.returncode != 0:
            raise UnsupportedLayerError(f"compiling the {function} table failed: "
                                        f"{built.stderr.strip().splitlines()[-1] if built.stderr else built.returncode}")
        ran = tools.capture([str(exe)], cwd=Path(tmp), timeout_s=TABLE_TIMEOUT_S, label=f"{function} table")
        if ran.returncode != 0:
            raise UnsupportedLayerError(f"the {function} table program exited {ran.returncode}: {ran.stderr.strip()[-200:]}")
        out = ran.stdout.split()
    return np.array(out, dtype=np.int64)
