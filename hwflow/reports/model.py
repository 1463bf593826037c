"""Typed results of the report parsers: numbers (int/float) with units in the field names.

Unknown values (`undef`, `?`, `NA`, a missing element) are None, never 0. Derived numbers
(seconds, images/s, percentages) are properties so they cannot disagree with the raw ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

# The resource keys used everywhere in hwflow (board table, estimate, reports).
RESOURCE_KEYS = ("LUT", "FF", "DSP", "BRAM_18K", "URAM")
CORE_KEYS = ("LUT", "FF", "DSP", "BRAM_18K")  # every report states these; URAM is absent from older tools


@dataclass(frozen=True)
class Resources:
    """Resource counts keyed like hwflow.boards.Board.resources (DSP48E is reported as DSP)."""

    lut: int | None = None
    ff: int | None = None
    dsp: int | None = None
    bram_18k: float | None = None  # int from HLS; x.5 possible when derived from Vivado 36K tiles
    uram: int | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {"LUT": self.lut, "FF": self.ff, "DSP": self.dsp, "BRAM_18K": self.bram_18k, "URAM": self.uram}

    @classmethod
    def from_dict(cls, d: dict[str, float | None]) -> "Resources":
        return cls(d.get("LUT"), d.get("FF"), d.get("DSP"), d.get("BRAM_18K"), d.get("URAM"))


@dataclass(frozen=True)
class CsynthReport:
    """One C-synthesis report (`<module>_csynth.xml`, or the text `.rpt` when the XML is missing)."""

    file: Path
    module: str  # TopModelName of this report
    tool: str | None  # "Vivado HLS" | "Vitis HLS"
    tool_version: str | None
    part: str | None
    clock_target_ns: float | None
    clock_uncertainty_ns: float | None
    clock_estimated_ns: float | None
    latency_best_cycles: int | None
    latency_average_cycles: int | None
    latency_worst_cycles: int | None
    interval_min_cycles: int | None
    interval_max_cycles: int | None
    pipeline_type: str | None
    resources: Resources
    available: Resources | None
    # The tool's own absolute latency (RealTimeLatency): computed at the slower of the target and the
    # estimated clock (checked on the fixtures: when the estimate misses, cycles x estimated period).
    reported_latency_best_s: float | None = None
    reported_latency_worst_s: float | None = None

    # Latency in context: cycles at the estimated clock period (what the logic can reach).
    @property
    def fmax_estimated_mhz(self) -> float | None:
        return None if not self.clock_estimated_ns else 1e3 / self.clock_estimated_ns

    def _seconds(self, cycles: int | None) -> float | None:
        if cycles is None or not self.clock_estimated_ns:
            return None
        return cycles * self.clock_estimated_ns * 1e-9

    @property
    def latency_best_s(self) -> float | None:
        return self._seconds(self.latency_best_cycles)

    @property
    def latency_worst_s(self) -> float | None:
        return self._seconds(self.latency_worst_cycles)

    @property
    def images_per_s_best(self) -> float | None:
        """Throughput at the shortest initiation interval (one image per interval)."""
        s = self._seconds(self.interval_min_cycles)
        return 1.0 / s if s else None

    @property
    def images_per_s_worst(self) -> float | None:
        s = self._seconds(self.interval_max_cycles)
        return 1.0 / s if s else None


@dataclass(frozen=True)
class LayerRow:
    """One synthesized module, mapped back to the hls4ml layer it implements where possible."""

    module: str
    kind: str  # function family from the module name or firmware (dense, conv_2d_cl, relu, ...)
    config_index: int | None  # N of hls4ml's configN / relu_configN: the layer index
    layer_name: str | None  # the model's layer name (from firmware/<project>.cpp when present)
    parent: str | None  # enclosing module in the RTL hierarchy, if known
    is_layer: bool  # outermost module of its layer: sum these rows, never the sub-modules
    reuse_factor: int | None
    latency_best_cycles: int | None
    latency_worst_cycles: int | None
    interval_min_cycles: int | None
    interval_max_cycles: int | None
    pipeline_type: str | None
    resources: Resources
    source: str  # "xml" (per-module csynth.xml) | "rpt" (instance table of the parent's .rpt)


class UtilSource(str, Enum):
    FLAT = "report_utilization"
    HIERARCHICAL = "report_utilization -hierarchical"


@dataclass(frozen=True)
class VivadoUtilization:
    """Vivado `report_utilization` (vivado_synth.rpt, *_utilization_*.rpt, util.rpt)."""

    file: Path
    device: str | None
    design_state: str | None  # Synthesized | Optimized | Fully Placed | Routed
    tool_version: str | None
    kind: UtilSource
    lut: int | None = None
    ff: int | None = None
    dsp: int | None = None
    bram_tiles_36k: float | None = None  # "Block RAM Tile": 36 Kb tiles, can be x.5 (one RAMB18 used)
    uram: int | None = None  # 7-series reports have no URAM row: None, not 0
    lut_available: int | None = None
    ff_available: int | None = None
    dsp_available: int | None = None
    bram_tiles_36k_available: int | None = None
    uram_available: int | None = None
    iob: int | None = None  # bonded I/O pins: a top with ports on pins needs them (fit verdict)
    iob_available: int | None = None
    # report_utilization -hierarchical: (instance, module, Resources) per row, top-down
    instances: tuple = ()

    def instance(self, name: str) -> "Resources | None":
        """The resources of the first row (top-down) whose instance name is `name`, None if none is."""
        return next((r for inst, _module, r in self.instances if inst == name), None)

    @property
    def missing(self) -> list[str]:
        """Core resources the report should have stated and did not (a truncated file)."""
        names = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram_tiles_36k": "BRAM"}
        return [n for k, n in names.items() if getattr(self, k) is None]

    @property
    def resources(self) -> Resources:
        """Used resources in the csynth units (BRAM as 18K blocks = 2 x 36K tiles)."""
        bram = None if self.bram_tiles_36k is None else self.bram_tiles_36k * 2
        return Resources(self.lut, self.ff, self.dsp, bram, self.uram)

    @property
    def available(self) -> Resources | None:
        vals = (self.lut_available, self.ff_available, self.dsp_available, self.bram_tiles_36k_available)
        if all(v is None for v in vals):
            return None
        bram = None if self.bram_tiles_36k_available is None else self.bram_tiles_36k_available * 2
        return Resources(self.lut_available, self.ff_available, self.dsp_available, bram, self.uram_available)


@dataclass(frozen=True)
class ClockTiming:
    name: str
    period_ns: float | None
    frequency_mhz: float | None
    wns_ns: float | None = None
    tns_ns: float | None = None


@dataclass(frozen=True)
class TimingSummary:
    """Vivado `report_timing_summary`: design-wide slack numbers."""

    file: Path
    design_state: str | None  # from the file name: routed / placed / synth, when it says so
    wns_ns: float | None
    tns_ns: float | None
    tns_failing_endpoints: int | None
    whs_ns: float | None
    ths_ns: float | None
    wpws_ns: float | None
    constraints_met: bool | None
    clocks: tuple[ClockTiming, ...] = ()


@dataclass(frozen=True)
class CosimResult:
    rtl: str  # Verilog | VHDL
    status: str  # Pass | Fail
    latency_min_cycles: int | None
    latency_avg_cycles: float | None
    latency_max_cycles: int | None
    interval_min_cycles: int | None
    interval_avg_cycles: float | None
    interval_max_cycles: int | None
    total_execution_cycles: int | None = None


@dataclass(frozen=True)
class CosimReport:
    file: Path
    results: tuple[CosimResult, ...]  # only the RTL languages that were simulated (status not NA)

    @property
    def passed(self) -> bool | None:
        if not self.results:
            return None
        return all(r.status.lower() == "pass" for r in self.results)


@dataclass(frozen=True)
class FitRow:
    resource: str
    used: float | None
    available: float | None

    @property
    def percent(self) -> float | None:
        if self.used is None or not self.available:
            return None
        return 100.0 * self.used / self.available

    @property
    def over(self) -> bool:
        p = self.percent
        return p is not None and p > 100.0


@dataclass(frozen=True)
class BoardFit:
    """Used vs available for one set of numbers (HLS estimate or Vivado) on one device."""

    stage: str  # "HLS estimate" | "Vivado <design state>"
    against: str  # e.g. "board pynq-z2 (xc7z020clg400-1)" or "report AvailableResources (xc7z020-clg400-1)"
    rows: tuple[FitRow, ...]

    @property
    def binding(self) -> FitRow | None:
        """The resource with the highest utilisation: the one that stops a larger design."""
        rows = [r for r in self.rows if r.percent is not None and r.resource != "IOB"]  # fabric resources only
        return max(rows, key=lambda r: r.percent) if rows else None

    @property
    def unknown(self) -> list[str]:
        """Resources the board has (core ones: LUT, FF, DSP, BRAM_18K) whose use was not read."""
        return [r.resource for r in self.rows if r.used is None and r.available and r.resource in CORE_KEYS]

    @property
    def fits(self) -> bool | None:
        """False if anything is over capacity; None (unknown) when a core resource was not read."""
        if not any(r.percent is not None for r in self.rows):
            return None
        if any(r.over for r in self.rows):
            return False
        return None if self.unknown else True


@dataclass(frozen=True)
class ProjectReport:
    """Everything parsed from one hls4ml project folder. Absent sections are None / empty."""

    hls_dir: Path
    report_dir: Path | None  # <name>_prj/solution*/syn/report (or the Vitis Unified equivalent)
    top: CsynthReport | None
    layers: tuple[LayerRow, ...] = ()
    vivado: tuple[VivadoUtilization, ...] = ()
    timing: tuple[TimingSummary, ...] = ()
    cosim: CosimReport | None = None
    layer_names_from: Path | None = None  # firmware/<project>.cpp used for configN -> layer name
    notes: tuple[str, ...] = ()
    fits: tuple[BoardFit, ...] = field(default=())

    @property
    def has_results(self) -> bool:
        return self.top is not None or bool(self.vivado)

    def to_dict(self) -> dict:
        """JSON-ready dict: dataclass fields plus the derived numbers, Paths as strings."""
        return to_jsonable(self)


_DERIVED = {
    CsynthReport: (
        "fmax_estimated_mhz",
        "latency_best_s",
        "latency_worst_s",
        "images_per_s_best",
        "images_per_s_worst",
    ),
    FitRow: ("percent", "over"),
    BoardFit: ("fits", "unknown"),
    CosimReport: ("passed",),
    ProjectReport: ("has_results",),
}


def to_jsonable(obj):
    if dataclasses.is_dataclass(obj):
        d = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, Resources):
            return obj.as_dict()
        for name in _DERIVED.get(type(obj), ()):
            d[name] = to_jsonable(getattr(obj, name))
        if isinstance(obj, BoardFit):
            b = obj.binding
            d["binding_resource"] = b.resource if b else None
            d["binding_percent"] = b.percent if b else None
        if isinstance(obj, VivadoUtilization):
            d["bram_18k_equivalent"] = obj.resources.bram_18k
        return d
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    return obj
