"""What lands in deploy/ besides the tools' outputs: a PYNQ driver example, the integration note for
IP-only boards, and the copy of the deliverables (built in a temp folder, moved into place)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hwflow.boards import Board, Deploy
from hwflow.errors import ToolError
from hwflow.synth.plan import Plan
from hwflow.project import HlsProject


def swap_in(work: Path, target: Path) -> None:
    """Replace `target` by `work` (two renames on one filesystem; the old copy is deleted after)."""
    old = target.parent / f".{target.name}.hwflow-old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(work, target)
    if old.exists():
        shutil.rmtree(old)


def driver_example(project: HlsProject, board: Board, deploy_name: str) -> str:
    """A small PYNQ script using hls4ml's driver for this design (float AXI-stream interface)."""
    ins, outs = project.input_shape or ("...",), project.output_shape or ("...",)
    prec = project.accelerator.get("Precision") or {}
    dtype_note = (
        "" if prec.get("Input", "float") == "float" and prec.get("Output", "float") == "float"
        else "# AcceleratorConfig.Precision is fixed point: pass dtype=np.intN and encode/decode (see the driver)\n"
    )
    head = (
        f'"""Run {deploy_name} on {board.name} with PYNQ and hls4ml\'s driver (axi_stream_driver.py).\n\n'
        f"Copy this folder to the board, put preprocessed inputs in X.npy (shape N x {' x '.join(map(str, ins))}),\n"
        f'then: python3 run_example.py\n"""\n'
        "from pathlib import Path\n\nimport numpy as np\n\nfrom axi_stream_driver import NeuralNetworkOverlay\n\n"
        f"INPUT_SHAPE = {tuple(ins)!r}\nOUTPUT_SHAPE = {tuple(outs)!r}\n{dtype_note}\n"
        "X = np.load('X.npy').astype(np.float32) if Path('X.npy').exists() else "
        "np.random.rand(10, *INPUT_SHAPE).astype(np.float32)\n"
        "y_shape = (len(X), *OUTPUT_SHAPE)\n"
    )
    if board.deploy is Deploy.XCLBIN:
        body = (
            f"overlay = NeuralNetworkOverlay('{deploy_name}.xclbin')\n"
            # with profile=True hls4ml's Alveo driver frees its buffers itself
            "y, seconds, rate = overlay.predict(X, y_shape, dtype=np.float32, profile=True)\n"
        )
    else:
        body = (
            f"overlay = NeuralNetworkOverlay('{deploy_name}.bit', X.shape, y_shape)\n"
            "y, seconds, rate = overlay.predict(X, profile=True)\n"
        )
    return head + body + "print('predicted classes:', np.asarray(y).reshape(y_shape).argmax(axis=-1))\n"


def integration_note(project: HlsProject, board: Board, ip_zip: str) -> str:
    """What a user must add around an exported IP core on a board without an hls4ml design."""
    cpu = "the Zynq UltraScale+ MPSoC (zynq_ultra_ps_e, board preset)" if board.part.startswith(("xczu", "xck")) \
        else "a MicroBlaze (or another host interface: UART/Ethernet) with a DDR controller (MIG)"
    return f"""# Integrating {project.name} on {board.name} ({board.part})

hls4ml has no accelerator design for {board.name}, so hwflow stops at an exported IP core:
`{ip_zip}` (Vivado IP catalog format, top function `{project.name}`).

What you must add in Vivado (not done by hwflow):

1. Add the unzipped IP folder to the IP catalog (`set_property ip_repo_paths <dir> [current_project]`).
2. A block design with {cpu}, clocks and a Processor System Reset.
3. Data movers: the IP's ports are plain AXI-Stream without TLAST (io_stream) or ap_* ports
   (io_parallel); an AXI DMA needs TLAST, so add a wrapper like hls4ml's `myproject_axi.cpp`
   (VivadoAccelerator) or an AXI-Stream TLAST generator between the DMA and the IP.
4. Address map, board constraints, `make_wrapper`, synthesis, implementation, `write_bitstream`,
   and the hardware handoff (.hwh / .xsa) for software.
5. A driver: hls4ml's pynq-z2 `axi_stream_driver.py` is a starting point if you build the same
   DMA structure (it expects `hier_0/axi_dma_0`).

Clock: the IP was synthesized for the clock period in the project's `project.tcl`; make the
fabric clock feeding it no faster.
"""


def collect_deploy(plan: Plan, hls_dir: Path, deploy_dir: Path, deploy_name: str, board: Board) -> dict[str, Path]:
    """Copy the deliverables into a temp folder, then move it into place as `deploy_dir`."""
    tmp = deploy_dir.parent / f".{deploy_dir.name}.hwflow-tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    names = {}
    for name, globs in plan.deploy:
        hits = [h for g in globs for h in sorted(hls_dir.glob(g))]
        if not hits:
            raise ToolError(f"the tools exited 0 but none of {', '.join(globs)} exists under {hls_dir}")
        dest_name = f"{deploy_name}{name}" if name.startswith(".") else name
        shutil.copy2(hits[0], tmp / dest_name)
        names[dest_name] = tmp / dest_name
    if plan.kind == "ip":
        zip_name = next(iter(names))
        (tmp / "INTEGRATION.md").write_text(integration_note(plan.project, board, zip_name))
        names["INTEGRATION.md"] = tmp / "INTEGRATION.md"
    else:
        (tmp / "run_example.py").write_text(driver_example(plan.project, board, deploy_name))
        names["run_example.py"] = tmp / "run_example.py"
    swap_in(tmp, deploy_dir)
    return {k: deploy_dir / k for k in names}
