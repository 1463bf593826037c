"""Synthesis and bitstream stages: run what hls4ml's backend `build()` runs, safely.

The commands are built as data by pure functions (`plan_synth`, `plan_bitstream`) and mirror
hls4ml 1.3.0 exactly:

- Vivado / VivadoAccelerator backends: `vivado_hls -f build_prj.tcl "reset=.. csim=.. ..."`
  in the project folder (VivadoBackend.build);
- Vitis backend: `build_opt.tcl` written with the options, then
  `vitis-run --tcl build_prj.tcl --mode hls` (VitisBackend.build); `vitis_hls -f build_prj.tcl`
  when only an older Vitis HLS is installed (build_prj.tcl reads build_opt.tcl either way);
- bitstream boards (VivadoAccelerator): HLS with export, then `vivado -mode batch -source
  design.tcl` (VivadoAcceleratorBackend.build(bitfile=True));
- Alveo: HLS with export, `vivado ... design.tcl` (packages the RTL kernel into xo_files/),
  then `v++ -t hw --platform P --link ../xo_files/<p>_kernel.xo ...` in xclbin_files/
  (VivadoAcceleratorBackend.make_xclbin);
- IP-only boards: HLS with export; the exported IP zip and a note of what the user must add.

Every tool runs through `hwflow.tools.run` in a *copy* of the project; the copy replaces the
project only when all steps succeeded, so an interrupted or failed run leaves the previous
project, reports and deploy folder untouched.

Modules (the hls4ml project on disk is hwflow.project): `plan` (commands as data: plan_synth,
plan_bitstream, render_plan), `run` (synth_project, bitstream: in a copy of the project, then the
reports), `deploy` (driver example, integration note, the deploy/ folder).
"""

from __future__ import annotations

from hwflow.synth.deploy import driver_example, integration_note
from hwflow.synth.plan import BuildOptions, Plan, Step, hls_step, plan_bitstream, plan_synth, render_plan
from hwflow.config import BACKENDS
from hwflow.project import HlsProject, normalize_backend
from hwflow.synth.run import (DEFAULT_BITSTREAM_TIMEOUT_S, DEFAULT_SYNTH_TIMEOUT_S, BitstreamResult, SynthResult,
                              _pick_vitis_tool, _run_in_copy, bitstream, synth_project)

__all__ = ["BACKENDS", "DEFAULT_BITSTREAM_TIMEOUT_S", "DEFAULT_SYNTH_TIMEOUT_S", "BitstreamResult", "BuildOptions",
           "HlsProject", "Plan", "Step", "SynthResult", "_pick_vitis_tool", "_run_in_copy", "bitstream",
           "driver_example", "hls_step", "integration_note", "normalize_backend", "plan_bitstream", "plan_synth",
           "render_plan", "synth_project"]
