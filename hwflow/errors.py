"""Typed errors of the flow.

Stages raise these; only the CLI edge (`hwflow.cli`) turns them into a one-line message and
an exit status. Every message is meant to be read by a user: it names the file, the key
and what would have been valid.
"""

from __future__ import annotations


class HwflowError(Exception):
    """Base class. `exit_code` is what the CLI returns for it."""

    exit_code = 1


class ConfigError(HwflowError):
    """Bad user input: a config file, a layer name, a value hls4ml would silently change."""

    exit_code = 2


class CheckError(HwflowError):
    """The pre-flight check found a construct hls4ml 1.3.0 would mishandle (fatal finding)."""

    exit_code = 3


class CsimError(HwflowError):
    """The generated C++ failed to compile or crashed/aborted while simulating."""

    exit_code = 4


class ParityError(HwflowError):
    """C-simulation does not agree with the QKeras model within the configured thresholds."""

    exit_code = 5


class ReportError(HwflowError):
    """A report file exists but cannot be read (empty, truncated, not the expected format)."""

    exit_code = 6


class ToolNotFoundError(HwflowError):
    """A Xilinx tool (vitis_hls, vivado_hls, vivado, v++) is needed and not installed."""

    exit_code = 7


class ToolError(HwflowError):
    """A Xilinx tool ran and failed (non-zero exit, time limit)."""

    exit_code = 8
