"""The board table: the one place that knows a board's part, resources and deployment path.

Config validation, reports (board fit), the estimator and synthesis all read this table.
Resource counts are the device totals from the Xilinx product tables; for the parts that
appear in real csynth reports under `../shared/fixtures/hls-reports/` they agree with the
reports' own `AvailableResources` (checked by `test_board_table_matches_fixture_available_resources` in tests/test_reports.py).
"""

from __future__ import annotations

from dataclasses import dataclass, asdict
from enum import Enum

from hwflow.errors import ConfigError


class Deploy(str, Enum):
    """How far hwflow can take a design on this board."""

    BITSTREAM = "bitstream"  # hls4ml VivadoAccelerator: AXI-stream wrapper + block design + bitfile
    XCLBIN = "xclbin"  # Alveo: VivadoAccelerator kernel packaged by v++ into an xclbin
    IP = "ip"  # exported IP core only; the user integrates it


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    lut: int
    ff: int
    dsp: int
    bram_18k: int
    uram: int
    clock_period_ns: float  # a sensible default target clock for HLS on this board
    deploy: Deploy
    # Board name in hls4ml's VivadoAccelerator supported_boards.json, if it has one.
    accelerator_board: str | None = None
    # Alveo: the Vitis platform v++ links against (hls4ml's AcceleratorConfig.Platform; its default is the U250's)
    platform: str | None = None

    @property
    def resources(self) -> dict[str, int]:
        """Available resources keyed like csynth reports (BRAM_18K, DSP, FF, LUT, URAM)."""
        return {"BRAM_18K": self.bram_18k, "DSP": self.dsp, "FF": self.ff, "LUT": self.lut, "URAM": self.uram}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["deploy"] = self.deploy.value
        return d


BOARDS: dict[str, Board] = {
    b.name: b
    for b in [
        Board("pynq-z2", "xc7z020clg400-1", 53200, 106400, 220, 280, 0, 10.0, Deploy.BITSTREAM, "pynq-z2"),
        Board("zcu102", "xczu9eg-ffvb1156-2-e", 274080, 548160, 2520, 1824, 0, 5.0, Deploy.BITSTREAM, "zcu102"),
        Board("zcu104", "xczu7ev-ffvc1156-2-e", 230400, 460800, 1728, 624, 96, 5.0, Deploy.IP),
        Board("ultra96-v2", "xczu3eg-sbva484-1-e", 70560, 141120, 360, 432, 0, 5.0, Deploy.IP),
        Board("kv260", "xck26-sfvc784-2LV-c", 117120, 234240, 1248, 288, 64, 5.0, Deploy.IP),
        Board("arty-a7-100t", "xc7a100tcsg324-1", 63400, 126800, 240, 270, 0, 10.0, Deploy.IP),
        Board("alveo-u50", "xcu50-fsvh2104-2-e", 871680, 1743360, 5952, 2688, 640, 3.33, Deploy.XCLBIN, "alveo-u50",
              "xilinx_u50_gen3x16_xdma_201920_3"),
        Board("alveo-u200", "xcu200-fsgd2104-2-e", 1182240, 2364480, 6840, 4320, 960, 3.33, Deploy.XCLBIN, "alveo-u200",
              "xilinx_u200_xdma_201830_2"),
        Board("alveo-u250", "xcu250-figd2104-2L-e", 1728000, 3456000, 12288, 5376, 1280, 3.33, Deploy.XCLBIN, "alveo-u250",
              "xilinx_u250_xdma_201830_2"),
        Board("alveo-u280", "xcu280-fsvh2892-2L-e", 1303680, 2607360, 9024, 4032, 960, 3.33, Deploy.XCLBIN, "alveo-u280",
              "xilinx_u280_xdma_201920_3"),
    ]
}


def _norm_part(part: str) -> str:
    return part.lower().replace("-", "")


def get_board(name: str, *, where: str = "board") -> Board:
    """The board called `name`, or a ConfigError listing the boards that exist."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ConfigError(f"{where}: unknown board {name!r}; valid boards: {', '.join(BOARDS)}") from None


def board_for_part(part: str) -> Board | None:
    """The board whose part matches `part` (dashes and case ignored), if any."""
    key = _norm_part(part)
    for b in BOARDS.values():
        if _norm_part(b.part) == key:
            return b
    return None
