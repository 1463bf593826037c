"""Bit-exact emulation of hls4ml firmware with vectorised integer arithmetic (issue 10).

`emulate(hls_model, x)` reproduces `hls_model.predict(x)` (hls4ml's C simulation) value for
value, orders of magnitude faster, from the converted ModelGraph's layers, weights and the
exact ap_fixed types hls4ml chose. Layers or precisions it cannot reproduce raise
`UnsupportedLayerError` (callers fall back to C-sim); nothing is approximated.
"""

from hwflow.sim.emulate.fixed import (
    EmulateInputError, FixedType, UnsupportedLayerError, cast_codes, cast_raw, from_float,
)
from hwflow.sim.emulate.graph import check_supported, emulate

__all__ = [
    "EmulateInputError", "FixedType", "UnsupportedLayerError", "cast_codes", "cast_raw", "check_supported",
    "emulate", "from_float",
]
