"""Activation lookup tables exactly as the firmware's C-simulation fills them.

hls4ml's sigmoid and tanh tables are filled at run time by `nnet::init_sigmoid_table` /
`init_tanh_table` (nnet_activation.h) with single-precision libm calls (`std::exp` on a float,
`tanh` on a float) whose last-ulp results differ between libm and numpy's vectorised versions,
and a one-ulp difference can flip a table entry after the cast to `table_t`. So instead of
re-deriving them, the tables are produced by compiling those very functions with g++ (which
C-simulation needs anyway) once per (function, table type, size), and cached by that key.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from sim.emulate.fixed import FixedType, UnsupportedLayerError

INIT_FUNCTIONS = {"sigmoid": "init_sigmoid_table", "tanh": "init_tanh_table"}
_MEMO: dict[tuple, np.ndarray] = {}


def _templates() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado"


def _cxx_type(t: FixedType) -> str:
    kind = "ap_fixed" if t.signed else "ap_ufixed"
    return f"{kind}<{t.width},{t.integer},AP_{t.rounding},AP_{t.saturation}>"


def _std_flag(cxx: str) -> list[str]:
    """The -std flag hls4ml's build_lib.sh uses (c++23 when the compiler takes it)."""
    probe = subprocess.run([cxx, "-Werror", "-fsyntax-only", "-std=c++23", "-xc++", "-", "-o", "/dev/null"],
                           input="", capture_output=True, text=True)
    return ["-std=c++23"] if probe.returncode == 0 else []


def _cache_dir() -> Path:
    from hwflow.paths import build_root

    return build_root() / "cache" / "emulate-tables"


def lut(function: str, table_t: FixedType, size: int) -> np.ndarray:
    """Integer codes (table_t) of hls4ml's `function` table of `size` entries."""
    if function not in INIT_FUNCTIONS:
        raise UnsupportedLayerError(f"no lookup table for activation {function!r}; tables: {', '.join(INIT_FUNCTIONS)}")
    key = (function, table_t, size)
    if key in _MEMO:
        return _MEMO[key]
    tag = hashlib.sha256(repr((key, _templates().parent.parent.name)).encode()).hexdigest()[:16]
    cached = _cache_dir() / f"{function}-{tag}.npy"
    if cached.exists():
        codes = np.load(cached)
    else:
        codes = _compile_and_dump(function, table_t, size)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp.npy")
        np.save(tmp, codes)
        tmp.replace(cached)
    _MEMO[key] = codes
    return codes


def _compile_and_dump(function: str, table_t: FixedType, size: int) -> np.ndarray:
    cxx = shutil.which("g++")
    if cxx is None:
        raise UnsupportedLayerError(f"the {function} lookup table needs g++ (as C-simulation does); none on PATH")
    src = (f'#include <cstdio>\n#include "nnet_utils/nnet_activation.h"\n'
           f"struct config {{ typedef {_cxx_type(table_t)} table_t; static const unsigned table_size = {size}; }};\n"
           f"int main() {{ static config::table_t t[{size}];\n"
           f"  nnet::{INIT_FUNCTIONS[function]}<config, {size}>(t);\n"
           f'  for (int i = 0; i < {size}; i++) printf("%lld\\n", (long long)t[i].V);\n  return 0; }}\n')
    with tempfile.TemporaryDirectory(prefix="hwflow-lut-") as tmp:
        cpp, exe = Path(tmp) / "lut.cpp", Path(tmp) / "lut"
        cpp.write_text(src)
        inc = _templates()
        cmd = [cxx, "-O3", *_std_flag(cxx), "-I", str(inc), "-I", str(inc / "ap_types"), str(cpp), "-o", str(exe)]
        built = subprocess.run(cmd, capture_output=True, text=True)
        if built.returncode != 0:
            raise UnsupportedLayerError(f"compiling the {function} table for {table_t} failed: "
                                        f"{built.stderr.strip().splitlines()[-1] if built.stderr else built.returncode}")
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    raw = np.array(out, dtype=np.int64) & ((1 << table_t.width) - 1)  # .V printed through long long
    if table_t.signed:
        raw = np.where(raw >= 1 << (table_t.width - 1), raw - (1 << table_t.width), raw)
    return raw
