"""Commands as data: what hls4ml's backend build() runs, built by pure functions (no tool is run here).

`plan_synth` (C synthesis and friends) and `plan_bitstream` (bitstream, Alveo xclbin or exported IP,
by the board's deploy kind) return a `Plan`: its steps, the files they must write, and what goes to
deploy/. `render_plan` prints it exactly (`--dry-run`, golden files in tests/golden/).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from hwflow.boards import Board, Deploy
from hwflow.errors import ConfigError
from hwflow.project import HlsProject

HLS4ML_DEFAULT_PLATFORM = "xilinx_u250_xdma_201830_2"  # VivadoAcceleratorBackend default


@dataclass(frozen=True)
class BuildOptions:
    """The flags of hls4ml's build(); defaults are hwflow's (C synthesis only)."""

    reset: bool = False
    csim: bool = False
    synth: bool = True
    cosim: bool = False
    validation: bool = False
    export: bool = False
    vsynth: bool = False
    fifo_opt: bool = False

    _ORDER = ("reset", "csim", "synth", "cosim", "validation", "export", "vsynth", "fifo_opt")

    def vivado_tcl_args(self) -> str:
        """The single argument VivadoBackend.build passes after `-f build_prj.tcl` (Python bools, as hls4ml)."""
        return " ".join(f"{k}={getattr(self, k)}" for k in self._ORDER)

    def vitis_build_opt_tcl(self) -> str:
        """build_opt.tcl exactly as VitisBackend.build writes it."""
        body = "".join(f"    {k:<10} {int(getattr(self, k))}\n" for k in self._ORDER)
        return "array set opt {\n" + body + "}\n"


@dataclass(frozen=True)
class Step:
    """One tool run. `cwd` is relative to the project; `writes` are files written just before."""

    tool: str
    args: tuple[str, ...]
    label: str
    cwd: str = "."
    writes: tuple[tuple[str, str], ...] = ()
    mkdirs: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()  # project files the tool reads (written by hls4ml), for --dry-run


@dataclass(frozen=True)
class Plan:
    kind: str  # "synth" | "bitstream" | "xclbin" | "ip"
    project: HlsProject
    steps: tuple[Step, ...]
    extra_tools: tuple[str, ...] = ()  # needed by the scripts themselves (build_prj.tcl execs vivado)
    expect: tuple[str, ...] = ()  # globs relative to the project that must exist afterwards
    deploy: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name in deploy/, candidate globs)
    notes: tuple[str, ...] = ()

    @property
    def tools(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for t in (*(s.tool for s in self.steps), *self.extra_tools):
            seen[t] = None
        return tuple(seen)


def _csynth_report(p: HlsProject) -> str:
    # Vivado HLS writes csynth.xml and <top>_csynth.xml, Vitis HLS only <top>_csynth.xml
    return f"{p.name}_prj/solution1/syn/report/*csynth.xml"


def hls_step(project: HlsProject, opts: BuildOptions, *, vitis_tool: str = "vitis-run") -> Step:
    """The command hls4ml's backend build() runs for this project's backend."""
    if project.backend == "Vitis":
        args = ("--tcl", "build_prj.tcl", "--mode", "hls") if vitis_tool == "vitis-run" else ("-f", "build_prj.tcl")
        return Step(
            vitis_tool,
            args,
            "HLS (Vitis)",
            writes=(("build_opt.tcl", opts.vitis_build_opt_tcl()),),
            scripts=("build_prj.tcl", "project.tcl"),
        )
    return Step(
        "vivado_hls",
        ("-f", "build_prj.tcl", opts.vivado_tcl_args()),
        f"HLS ({project.backend})",
        scripts=("build_prj.tcl", "project.tcl"),
    )


def _hls_expect(project: HlsProject, opts: BuildOptions) -> tuple[str, ...]:
    out = []
    if opts.synth:
        out.append(_csynth_report(project))
    if opts.export:
        out.append(f"{project.name}_prj/solution1/impl/ip/*.zip")
    if opts.vsynth:
        out.append("vivado_synth.rpt")
    return tuple(out)


def plan_synth(project: HlsProject, opts: BuildOptions, *, vitis_tool: str = "vitis-run") -> Plan:
    return Plan(
        "synth",
        project,
        (hls_step(project, opts, vitis_tool=vitis_tool),),
        extra_tools=("vivado",) if opts.vsynth else (),
        expect=_hls_expect(project, opts),
    )


def _check_accelerator(project: HlsProject, board: Board) -> None:
    f = project.config_file
    how = (
        f"convert with hls4ml backend='VivadoAccelerator', board='{board.accelerator_board}', "
        "interface='axi_stream', io_type='io_stream' (hwflow config: hls.backend: VivadoAccelerator, "
        f"hls.board: {board.name}, then `make hls`)"
    )
    if project.backend != "VivadoAccelerator":
        raise ConfigError(f"{f}: Backend is {project.backend}, board {board.name} needs VivadoAccelerator; {how}")
    got_board = project.accelerator.get("Board")
    if got_board != board.accelerator_board:
        raise ConfigError(f"{f}: AcceleratorConfig.Board is {got_board!r}, expected {board.accelerator_board!r}; {how}")
    interface = project.accelerator.get("Interface", "axi_stream")
    if interface != "axi_stream":
        raise ConfigError(f"{f}: AcceleratorConfig.Interface is {interface!r}; hwflow supports 'axi_stream'; {how}")


def _norm_part(part: str | None) -> str:
    return (part or "").lower().replace("-", "")


def plan_bitstream(
    project: HlsProject,
    board: Board,
    *,
    platform: str | None = None,
    vitis_tool: str = "vitis-run",
    run_root: Path | None = None,
) -> Plan:
    """What `hwflow bitstream` runs for `board` (see the module docstring).

    `run_root` is the folder the steps run in (the work copy); v++ gets an absolute IP path in it.
    """
    p = project.name
    export = BuildOptions(export=True)
    if board.deploy is Deploy.BITSTREAM:
        _check_accelerator(project, board)
        prj = f"{p}_vivado_accelerator"
        return Plan(
            "bitstream",
            project,
            (
                hls_step(project, export),
                Step("vivado", ("-mode", "batch", "-source", "design.tcl"), "Vivado block design + bitstream",
                     scripts=("design.tcl", "project.tcl")),
            ),
            expect=(*_hls_expect(project, export), f"{prj}/project_1.runs/impl_1/design_1_wrapper.bit"),
            deploy=(
                (".bit", (f"{prj}/project_1.runs/impl_1/design_1_wrapper.bit",)),
                # Vivado <= 2019.2 writes the handoff under .srcs, 2020.1+ under .gen
                (".hwh", (f"{prj}/project_1.gen/sources_1/bd/design_1/hw_handoff/design_1.hwh",
                          f"{prj}/project_1.srcs/sources_1/bd/design_1/hw_handoff/design_1.hwh")),
                ("axi_stream_driver.py", ("axi_stream_driver.py",)),
            ),
        )
    if board.deploy is Deploy.XCLBIN:
        _check_accelerator(project, board)
        platform = platform or project.accelerator.get("Platform") or HLS4ML_DEFAULT_PLATFORM
        m = re.search(r"_u(\d+)_", platform)
        if m and not board.name.endswith(f"u{m.group(1)}"):
            raise ConfigError(
                f"{project.config_file}: AcceleratorConfig.Platform {platform!r} is for an Alveo U{m.group(1)}, "
                f"not {board.name}; pass --platform with the {board.name} platform installed on your machine"
            )
        ip_repo = str((run_root or project.root).resolve() / f"{p}_prj" / "solution1" / "impl" / "ip")
        return Plan(
            "xclbin",
            project,
            (
                hls_step(project, export),
                Step("vivado", ("-mode", "batch", "-source", "design.tcl"), "Vivado RTL kernel packaging (.xo)",
                     mkdirs=("xo_files",), scripts=("design.tcl", "project.tcl", "src/")),
                # hls4ml runs `-o'<p>_kernel.xclbin'` through a shell, i.e. the single argument below
                Step("v++", ("-t", "hw", "--platform", platform, "--link", f"../xo_files/{p}_kernel.xo",
                             f"-o{p}_kernel.xclbin", "--user_ip_repo_paths", ip_repo),
                     "v++ link (.xclbin)", cwd="xclbin_files", mkdirs=("xclbin_files",)),
            ),
            expect=(*_hls_expect(project, export), f"xo_files/{p}_kernel.xo", f"xclbin_files/{p}_kernel.xclbin"),
            deploy=(
                (".xclbin", (f"xclbin_files/{p}_kernel.xclbin",)),
                ("axi_stream_driver.py", ("axi_stream_driver.py",)),
            ),
        )
    # IP-only board: any HLS backend, the part must match the board
    if project.backend == "VivadoAccelerator":
        raise ConfigError(
            f"{project.config_file}: Backend is VivadoAccelerator, but hls4ml has no accelerator design for "
            f"{board.name}; convert with backend 'Vivado' or 'Vitis' and part '{board.part}'"
        )
    if _norm_part(project.part) != _norm_part(board.part):
        raise ConfigError(
            f"{project.config_file}: Part is {project.part!r} but board {board.name} has part {board.part!r}; "
            f"re-convert with part='{board.part}' (or hls.board: {board.name} in the config)"
        )
    return Plan(
        "ip",
        project,
        (hls_step(project, export, vitis_tool=vitis_tool),),
        expect=_hls_expect(project, export),
        deploy=((".zip", (f"{p}_prj/solution1/impl/ip/*.zip",)),),
        notes=(f"{board.name} has no hls4ml accelerator design: hwflow exports the IP core; see INTEGRATION.md",),
    )


def render_plan(plan: Plan, root: Path, *, shown_root: str | None = None) -> str:
    """The exact commands a plan runs in `root`, the scripts they read and the files they write.

    `shown_root` replaces the absolute `root` in the text (golden files use "<project>").
    """
    root_s = str(root.resolve())
    sub = (lambda s: s.replace(root_s, shown_root)) if shown_root else (lambda s: s)
    p = plan.project
    lines = [
        f"# hwflow {plan.kind}: project {p.name!r}, hls4ml backend {p.backend}, part {p.part}",
        f"# tools needed: {', '.join(plan.tools)}",
    ]
    for note in plan.notes:
        lines.append(f"# note: {note}")
    for i, step in enumerate(plan.steps, 1):
        cwd = root / step.cwd if step.cwd != "." else root
        lines.append(f"# step {i}/{len(plan.steps)}: {step.label}")
        for d in step.mkdirs:
            lines.append(f"mkdir -p {shlex.quote(sub(str(root / d)))}")
        for rel, text in step.writes:
            lines.append(f"cat > {shlex.quote(sub(str(root / rel)))} <<'EOF'")
            lines.extend(text.rstrip("\n").splitlines())
            lines.append("EOF")
        for s in step.scripts:
            lines.append(f"#   reads {sub(str(root / s))} (written by hls4ml)")
        lines.append(f"cd {shlex.quote(sub(str(cwd.resolve() if cwd.exists() else cwd)))} && "
                     f"{sub(shlex.join((step.tool, *step.args)))}")
    for e in plan.expect:
        lines.append(f"# expects {e}")
    for name, globs in plan.deploy:
        lines.append(f"# deploy/{name if not name.startswith('.') else '<name>' + name} <- {' | '.join(globs)}")
    return "\n".join(lines) + "\n"
