"""Vivado-level projection: what Vivado synthesis builds from an hls4ml design, from the csynth-level
estimate (or from a csynth report's totals).

HLS C-synthesis (csynth) is not what goes on the chip. On real hls4ml designs with both reports
(`../shared/fixtures/vivado-pairs/`, `benchmarks/vivado_projection.py`), Vivado builds 1.4-4x fewer
LUTs than csynth states, 1.2-2x fewer FFs, keeps every DSP while the part has them and builds the rest
in LUTs, and puts shallow ROMs into LUTs instead of the BRAM csynth counts. The projection:

- per layer (from hwflow.estimate's csynth-level LayerEstimate):
  LUT = lut_ratio x LUT + the LUTs of the weight ROMs Vivado moves out of BRAM; FF = ff_ratio x FF;
  DSP as csynth; BRAM_18K = csynth BRAM minus the ROMs of at most `rom_lut_max_depth` words
  (a LUT6 is a 64 x 1 ROM, so such a ROM costs width x ceil(depth / 64) LUTs) and the io_stream FIFOs
  of at most `fifo_srl_max_depth` words (SRLs: width x ceil(depth / 32) LUTs);
- per design: DSPs beyond the part's become LUT multipliers (`lut_per_fallback_dsp` each), the DSP
  count is capped at the part's (Vivado's fallback, seen on dnnonsilicon_1 and mlfpga1d_3);
- from a report's totals only (no per-layer memories): LUT and FF by the same ratios, BRAM_18K by
  `bram_ratio_design`.

Ratios and the ROM depth are fitted on the pairs by `benchmarks/vivado_projection.py` (leave one
network out; it also measures the error band written beside them) and live in `vivado.json` here.
`budget` is the share of each resource a design may use and still be called a fit, from what placed
designs reach (see `vivado.json` `budget_evidence`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from hwflow.errors import ReportError

VIVADO_CALIBRATION_PATH = Path(__file__).with_name("vivado.json")
SHOWN = ("LUT", "FF", "DSP", "BRAM_18K")


@dataclass(frozen=True)
class VivadoCalibration:
    """Constants of the projection (see the module docstring); defaults are priors."""

    # Vivado / csynth, median over the pairs; applied per layer to hwflow's csynth-level estimate and
    # to a report's totals alike (fitting them on hwflow's estimates of the rebuilt designs instead was
    # tried: the estimator's own misses on a few designs, 5-10x on MLPs and Conv1D encoders, then set
    # the ratio, and the error grew on every resource)
    lut_ratio: float = 0.45
    ff_ratio: float = 0.8
    rom_lut_max_depth: int = 64
    fifo_srl_max_depth: int = 64  # FIFOs csynth puts in BRAM that Vivado builds as SRLs (32 deep per LUT)
    lut_per_fallback_dsp: float = 80.0  # prior: a 16 x 16 product in LUTs (dnnonsilicon_1: ~78 each)
    bram_ratio_design: float = 0.5
    # median relative error of the projection, leave-one-network-out on the pairs (fraction per resource)
    band: dict = field(default_factory=lambda: {r: None for r in SHOWN})
    # a design fits when every projected resource is at most this share of the board's
    budget: dict = field(default_factory=lambda: {"LUT": 0.85, "FF": 0.85, "BRAM_18K": 0.95, "DSP": 1.0,
                                                  "URAM": 0.95})
    source: str = "priors (no vivado.json)"

    @classmethod
    def load(cls, path: Path = VIVADO_CALIBRATION_PATH) -> "VivadoCalibration":
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReportError(f"{path}: cannot read the Vivado-level projection constants ({exc})") from None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.get("constants", {}).items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


def rom_to_lut(depth: int, width: int) -> int:
    """LUTs of a depth x width ROM built in LUT6s (64 x 1 each)."""
    return int(width) * math.ceil(int(depth) / 64)


def project_layer(le, vcal: VivadoCalibration) -> dict[str, float]:
    """Vivado-level LUT / FF / DSP / BRAM_18K of one csynth-level LayerEstimate (before the design-level
    DSP fallback)."""
    moved = [r for r in getattr(le, "roms", []) or [] if r[0] <= vcal.rom_lut_max_depth]
    srl = [r for r in getattr(le, "fifos", []) or [] if r[0] <= vcal.fifo_srl_max_depth]
    return {"LUT": vcal.lut_ratio * le.lut + sum(rom_to_lut(d, w) for d, w, _ in moved)
                   + sum(int(w) * math.ceil(int(d) / 32) for d, w, _ in srl),
            "FF": vcal.ff_ratio * le.ff,
            "DSP": float(le.dsp),
            "BRAM_18K": float(max(le.bram_18k - sum(b for _, _, b in moved) - sum(b for _, _, b in srl), 0)),
            "URAM": float(getattr(le, "uram", 0) or 0)}


def _fallback(totals: dict, dsp_available: int | None, vcal: VivadoCalibration) -> tuple[dict, int]:
    """DSPs over the part's become LUTs (Vivado maps the remaining products to fabric)."""
    over = 0
    if dsp_available is not None and totals["DSP"] > dsp_available:
        over = int(math.ceil(totals["DSP"] - dsp_available))
        totals["DSP"] = float(dsp_available)
        totals["LUT"] += over * vcal.lut_per_fallback_dsp
    return totals, over


@dataclass
class VivadoLevel:
    """The projected Vivado synthesis figures of one design."""

    totals: dict  # LUT, FF, DSP, BRAM_18K, URAM (integers)
    dsp_fallback: int  # DSPs over the part that Vivado builds in LUTs
    band: dict  # median relative error per resource (leave one network out on the pairs)
    basis: str  # "per layer" (from a csynth-level estimate) | "design" (from report totals)
    layers: dict = field(default_factory=dict)  # layer -> {LUT, FF, DSP, BRAM_18K, URAM} (per-layer basis)

    def to_dict(self) -> dict:
        return {**{r: self.totals[r] for r in SHOWN}, "URAM": self.totals.get("URAM", 0),
                "dsp_fallback": self.dsp_fallback, "error_band": self.band, "basis": self.basis}


def _ints(d: dict) -> dict:
    return {k: int(round(v)) for k, v in d.items()}


def project(layers, dsp_available: int | None, vcal: VivadoCalibration | None = None) -> VivadoLevel:
    """The Vivado-level figures of a design from its csynth-level LayerEstimates."""
    vcal = vcal or VivadoCalibration.load()
    per = {le.name: project_layer(le, vcal) for le in layers if le.kind not in ("free", "unknown")}
    totals = {r: sum(p[r] for p in per.values()) for r in (*SHOWN, "URAM")}
    totals, over = _fallback(totals, dsp_available, vcal)
    return VivadoLevel(_ints(totals), over, dict(vcal.band), "per layer", {n: _ints(p) for n, p in per.items()})


def project_totals(totals: dict, dsp_available: int | None, vcal: VivadoCalibration | None = None) -> VivadoLevel:
    """The Vivado-level figures of a design from csynth totals only (a report): design-level ratios."""
    vcal = vcal or VivadoCalibration.load()
    out = {"LUT": vcal.lut_ratio * (totals.get("LUT") or 0), "FF": vcal.ff_ratio * (totals.get("FF") or 0),
           "DSP": float(totals.get("DSP") or 0), "BRAM_18K": vcal.bram_ratio_design * (totals.get("BRAM_18K") or 0),
           "URAM": float(totals.get("URAM") or 0)}
    out, over = _fallback(out, dsp_available, vcal)
    return VivadoLevel(_ints(out), over, dict(vcal.band), "design")
