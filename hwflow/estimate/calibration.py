"""The free constants of hwflow.estimate's csynth-level model (`Calibration`), loaded from
`calibration.json` beside this file, which `benchmarks/calibrate_estimator.py` writes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from hwflow.errors import ReportError

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
LUT_FEATURES = ("lutmul", "add", "dsp", "mux", "elem", "layer", "inbuf", "lbuf", "lutvar", "inreg")


@dataclass(frozen=True)
class Calibration:
    """The free constants of the model (see the module docstring); defaults are hand-set priors."""

    lut_mult_max_bits: int = 4
    weight_sigma: float = 0.4
    dsp_min_sig_bits: dict = field(default_factory=lambda: {"vivado_hls": 5, "vitis": 4})
    vivado_ii_from_dsp: bool = True
    dsp_packing: bool = False
    dsp_sig_per_input_bit: float = 0.0
    latency_rf_cycles: int = 1
    dense_depth_ns: float = 5.0
    reuse_extra_cycles: int = 1
    softmax_depth_ns: float = 15.0
    table_act_depth_ns: float = 5.0
    parallel_call_overhead: float = 0.6
    stream_pixel_extra: int = 0
    # io_stream Resource convolutions: cycles of an input pixel where no window ends (line-buffer shift
    # only); a prior (one loop iteration), not fitted: csynth reports the worst case, not this
    stream_skip_cycles: int = 1
    # io_stream convolutions, cycles per input pixel, per tool (Vivado HLS and Vitis HLS schedule
    # the line-buffer loop differently): Latency strategy at least `stream_pixel_min`; Resource
    # strategy RF + `stream_resource_extra` at RF > 1, `stream_resource_rf1` at RF = 1
    # (neutral priors: one cycle per pixel, RF cycles; kept by the fit where no design informs them)
    stream_pixel_min: dict = field(default_factory=lambda: {"vivado_hls": 1, "vitis": 1})
    stream_resource_extra: dict = field(default_factory=lambda: {"vivado_hls": 0, "vitis": 0})
    stream_resource_rf1: dict = field(default_factory=lambda: {"vivado_hls": 1, "vitis": 1})
    # io_stream FIFOs, per tool, read off the FIFO tables of the fixtures' top-level csynth reports
    # (benchmarks/calibrate_estimator.py `fifo_rows`): Vivado HLS splits the stream of an
    # nnet::array<T, N> into N FIFOs of T's width (`layerK_out_V_data_i_V`), SRL up to 512 bits,
    # BRAM above (even 32 deep x 24 bits), 18 bits wide per BRAM_18K; Vitis HLS keeps one FIFO of
    # N*T bits. A FIFO is SRL when depth*width <= `fifo_bram_min_bits` or depth <= `fifo_srl_depth`.
    fifo_bram_min_bits: dict = field(default_factory=lambda: {"vivado_hls": 4096, "vitis": 4096})
    fifo_srl_depth: dict = field(default_factory=lambda: {"vivado_hls": 2, "vitis": 2})
    fifo_per_element: dict = field(default_factory=lambda: {"vivado_hls": False, "vitis": False})
    fifo_bram_width: dict = field(default_factory=lambda: {"vivado_hls": 36, "vitis": 36})
    # line buffers (ap_shift_reg, one per channel and kernel row): SRL up to this many bits (the
    # fixtures' line buffers, up to 34 x 32 bits, are all SRL; none larger is in them)
    shift_reg_bram_min_bits: int = 4096
    # LUT/FF = sum(coef[k] * feature[k]) per layer (features: LUT_FEATURES); either one table or
    # one per tool ({"vivado_hls": {...}, "vitis": {...}}: the tools differ in logic per feature)
    lut_coef: dict = field(default_factory=lambda: dict(zip(LUT_FEATURES, (1.0, 1.0, 5.0, 0.5, 1.5, 50.0, 0.5, 0.1, 1.0, 0.0))))
    ff_coef: dict = field(default_factory=lambda: dict(zip(LUT_FEATURES, (0.2, 0.3, 10.0, 0.2, 0.3, 30.0, 1.0, 0.1, 0.2, 1.0))))

    @classmethod
    def load(cls, path: Path = CALIBRATION_PATH) -> "Calibration":
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReportError(f"{path}: cannot read the estimator calibration ({exc})") from None
        known = {f.name for f in fields(cls)}
        consts = {k: v for k, v in raw.get("constants", {}).items() if k in known}
        for k in ("stream_pixel_min", "stream_resource_extra", "stream_resource_rf1", "fifo_bram_min_bits"):
            if k in consts and not isinstance(consts[k], dict):  # files before the per-tool tables
                consts[k] = {"vivado_hls": consts[k], "vitis": consts[k]}
        return cls(**consts)

    def coefs(self, name: str, tool: str) -> dict:
        table = getattr(self, name)
        if table and all(isinstance(v, dict) for v in table.values()):
            return table.get(tool) or next(iter(table.values()))
        return table

    def per_tool(self, name: str, tool: str) -> float:
        table = getattr(self, name)
        return table.get(tool, next(iter(table.values()))) if isinstance(table, dict) else table

