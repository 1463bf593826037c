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
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hwflow.boards import Board, Deploy
from hwflow.errors import ConfigError, ToolError
from hwflow.guard import check_part, check_project_tcl
from hwflow.tools import Command, RunResult, find_tool, require, run

BACKENDS = ("Vivado", "Vitis", "VivadoAccelerator")
DEFAULT_SYNTH_TIMEOUT_S = 6 * 3600.0
DEFAULT_BITSTREAM_TIMEOUT_S = 12 * 3600.0
HLS4ML_DEFAULT_PLATFORM = "xilinx_u250_xdma_201830_2"  # VivadoAcceleratorBackend default
WORK_SUFFIX = ".hwflow-work"


# --------------------------------------------------------------------------------------------
# The project on disk
# --------------------------------------------------------------------------------------------


def _load_hls4ml_yaml(path: Path) -> dict:
    """hls4ml_config.yml, read with a safe loader that keeps hls4ml's custom tags as plain values.

    hls4ml writes e.g. `KerasModel: !keras_model '/path'`; yaml.safe_load refuses unknown tags,
    so a SafeLoader subclass maps any `!tag` to the plain scalar/list/dict under it.
    """
    import yaml

    from hwflow.guard import BoundedSafeLoader, load_yaml_text

    class _Loader(BoundedSafeLoader):
        pass

    def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node):
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    _Loader.add_multi_constructor("!", _plain)
    data = load_yaml_text(path.read_text(errors="replace"), str(path), _Loader)  # SafeLoader subclass
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping written by hls4ml, got {type(data).__name__}")
    return data


def normalize_backend(name: str, *, where: str = "backend") -> str:
    for b in BACKENDS:
        if name.lower() == b.lower():
            return b
    raise ConfigError(f"{where}: unknown backend {name!r}; valid: {', '.join(BACKENDS)}")


@dataclass(frozen=True)
class HlsProject:
    """What the stages need to know about an hls4ml project folder (read from hls4ml_config.yml)."""

    root: Path
    name: str  # ProjectName (top function, `<name>_prj/`)
    backend: str
    part: str | None
    accelerator: dict = field(default_factory=dict)  # AcceleratorConfig, VivadoAccelerator only
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()

    @classmethod
    def load(cls, hls_dir: Path) -> "HlsProject":
        hls_dir = Path(hls_dir).resolve()
        if not hls_dir.is_dir():
            raise ConfigError(f"{hls_dir}: no such hls4ml project folder (write one with hls4ml or `make hls`)")
        cfg_file = hls_dir / "hls4ml_config.yml"
        for needed in (cfg_file, hls_dir / "build_prj.tcl", hls_dir / "project.tcl"):
            if not needed.is_file():
                raise ConfigError(f"{needed}: missing; {hls_dir} is not a complete hls4ml project (re-run the conversion)")
        cfg = _load_hls4ml_yaml(cfg_file)
        if "Backend" not in cfg or "ProjectName" not in cfg:
            raise ConfigError(f"{cfg_file}: keys Backend and ProjectName are required (written by hls4ml's write())")
        check_project_tcl(hls_dir / "project.tcl")  # sourced by the tools: no Tcl substitution in its values
        if cfg.get("Part") is not None:
            check_part(cfg["Part"], f"{cfg_file}: Part")
        if not re.match(r"^[A-Za-z_]\w*$", str(cfg["ProjectName"])):
            raise ConfigError(f"{cfg_file}: ProjectName {cfg['ProjectName']!r} is not a C identifier")

        def _shape(key: str) -> tuple[int, ...]:
            shapes = cfg.get(key) or {}
            if isinstance(shapes, dict) and len(shapes) == 1:
                return tuple(int(d) for d in next(iter(shapes.values())))
            return ()

        return cls(
            root=hls_dir,
            name=str(cfg["ProjectName"]),
            backend=normalize_backend(str(cfg["Backend"]), where=f"{cfg_file}: Backend"),
            part=cfg.get("Part"),
            accelerator=dict(cfg.get("AcceleratorConfig") or {}),
            input_shape=_shape("InputShapes"),
            output_shape=_shape("OutputShapes"),
        )

    @property
    def config_file(self) -> Path:
        return self.root / "hls4ml_config.yml"


# --------------------------------------------------------------------------------------------
# Commands as data (pure functions)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Running a plan in a copy of the project
# --------------------------------------------------------------------------------------------


def _work_dir(hls_dir: Path) -> Path:
    return hls_dir.parent / f".{hls_dir.name}{WORK_SUFFIX}"


def _require_tools(plan: Plan, purpose: str) -> dict[str, Path]:
    return {t: require(t, purpose=purpose) for t in plan.tools}


def _pick_vitis_tool() -> str:
    """hls4ml 1.3.0 runs vitis-run; Vitis HLS 2020.2-2023.2 only has vitis_hls."""
    if find_tool("vitis-run") is None and find_tool("vitis_hls") is not None:
        return "vitis_hls"
    return "vitis-run"


def _execute(plan: Plan, work: Path, tools: dict[str, Path], *, timeout_s: float,
             echo: Callable[[str], None] | None) -> list[RunResult]:
    """Run every step of `plan` inside `work` under one overall time limit."""
    env = dict(os.environ)
    # build_prj.tcl `exec vivado`s for vsynth: every needed tool's folder goes on PATH
    tool_dirs = list(dict.fromkeys(str(p.parent) for p in tools.values()))
    env["PATH"] = os.pathsep.join([*tool_dirs, env.get("PATH", "")])
    logs = work / "hwflow_logs"
    deadline = time.monotonic() + timeout_s
    results = []
    for i, step in enumerate(plan.steps, 1):
        for d in step.mkdirs:
            (work / d).mkdir(parents=True, exist_ok=True)
        for rel, text in step.writes:
            (work / rel).write_text(text)
        cmd = Command(
            argv=(str(tools[step.tool]), *step.args),
            cwd=work / step.cwd,
            log=logs / f"{plan.kind}-{i}-{step.tool.replace('+', 'p')}.log",
            label=step.label,
            env=env,
        )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ToolError(f"time limit of {timeout_s:g} s used up before step {i} ({step.label}); raise --timeout")
        results.append(run(cmd, timeout_s=remaining, echo=echo, limit_shown_s=timeout_s))
    for pattern in plan.expect:
        if not any(work.glob(pattern)):
            last = results[-1].log if results else work
            raise ToolError(f"the tools exited 0 but did not write {pattern} in the project; see {last}")
    return results


def _swap_in(work: Path, target: Path) -> None:
    """Replace `target` by `work` (two renames on one filesystem; the old copy is deleted after)."""
    old = target.parent / f".{target.name}.hwflow-old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(work, target)
    if old.exists():
        shutil.rmtree(old)


def _run_in_copy(plan: Plan, hls_dir: Path, tools: dict[str, Path], *, timeout_s: float,
                 echo: Callable[[str], None] | None) -> tuple[list[RunResult], float]:
    work = _work_dir(hls_dir)
    if work.exists():
        shutil.rmtree(work)  # leftover of an interrupted run
    shutil.copytree(hls_dir, work, symlinks=True)
    start = time.monotonic()
    try:
        results = _execute(plan, work, tools, timeout_s=timeout_s, echo=echo)
    except ToolError as exc:
        raise ToolError(f"{exc}\n(the failed run is kept in {work}; {hls_dir} is unchanged)") from None
    # logs name the work folder; they now live under hls_dir/hwflow_logs
    _swap_in(work, hls_dir)
    results = [
        RunResult(r.command, r.returncode, r.elapsed_s, r.lines, hls_dir / r.log.relative_to(work)) for r in results
    ]
    return results, time.monotonic() - start


def _publish_reports(hls_dir: Path, reports_dir: Path, board: Board | None) -> dict[str, Path]:
    """Parse the synthesized project and render report.md/json/png into `reports_dir`.

    render_report builds its files in a temporary folder and moves them into place, and keeps
    the other stages' Markdown (parity.md, estimate.md) in the report, so it writes directly there.
    """
    from hwflow.reports import parse_project, render_report  # lazy: owned by the reports stage

    return render_report(parse_project(hls_dir), reports_dir, board=board)


# --------------------------------------------------------------------------------------------
# Public stage functions
# --------------------------------------------------------------------------------------------


@dataclass
class SynthResult:
    hls_dir: Path
    backend: str
    plan: Plan
    dry_run: bool
    text: str  # the rendered plan (what --dry-run prints)
    runs: list[RunResult] = field(default_factory=list)
    reports: dict[str, Path] = field(default_factory=dict)
    elapsed_s: float = 0.0


def _project_for(hls_dir: Path, backend: str | None) -> HlsProject:
    project = HlsProject.load(Path(hls_dir))
    if backend is not None and normalize_backend(backend) != project.backend:
        raise ConfigError(
            f"{project.config_file}: Backend is {project.backend} but {normalize_backend(backend)} was asked for; "
            "the project's build scripts are backend-specific: re-convert with that backend"
        )
    return project


def synth_project(
    hls_dir: Path,
    backend: str | None = None,
    *,
    csim: bool = False,
    synth: bool = True,
    cosim: bool = False,
    export: bool = False,
    vsynth: bool = False,
    reset: bool = False,
    timeout_s: float = DEFAULT_SYNTH_TIMEOUT_S,
    dry_run: bool = False,
    reports_dir: Path | None = None,
    board: Board | None = None,
    echo: Callable[[str], None] | None = None,
) -> SynthResult:
    """C synthesis (and optional C-sim, co-sim, IP export, Vivado synthesis) of an hls4ml project.

    `backend` None = the project's own (hls4ml_config.yml). Reports go to `reports_dir`
    (default: <hls_dir>/../reports) through hwflow.reports.
    """
    project = _project_for(Path(hls_dir), backend)
    opts = BuildOptions(reset=reset, csim=csim, synth=synth, cosim=cosim, export=export, vsynth=vsynth)
    if not (csim or synth or cosim or export or vsynth):
        raise ConfigError("synth: nothing to do (all of csim, synth, cosim, export, vsynth are off)")
    plan = plan_synth(project, opts, vitis_tool=_pick_vitis_tool())
    work = _work_dir(project.root)
    text = render_plan(plan, work)
    if dry_run:
        return SynthResult(project.root, project.backend, plan, True, text)
    tools = _require_tools(plan, f"hwflow synth (backend {project.backend})")
    runs, elapsed = _run_in_copy(plan, project.root, tools, timeout_s=timeout_s, echo=echo)
    reports = {}
    if synth:
        reports_dir = reports_dir or project.root.parent / "reports"
        reports = _publish_reports(project.root, reports_dir, board)
    return SynthResult(project.root, project.backend, plan, False, text, runs, reports, elapsed)


@dataclass
class BitstreamResult:
    hls_dir: Path
    board: Board
    plan: Plan
    dry_run: bool
    text: str
    deploy_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    reports: dict[str, Path] = field(default_factory=dict)
    elapsed_s: float = 0.0


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


def _collect_deploy(plan: Plan, hls_dir: Path, deploy_dir: Path, deploy_name: str, board: Board) -> dict[str, Path]:
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
    _swap_in(tmp, deploy_dir)
    return {k: deploy_dir / k for k in names}


def bitstream(
    hls_dir: Path,
    board: Board,
    *,
    deploy_dir: Path | None = None,
    deploy_name: str | None = None,
    platform: str | None = None,
    timeout_s: float = DEFAULT_BITSTREAM_TIMEOUT_S,
    dry_run: bool = False,
    reports_dir: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> BitstreamResult:
    """Bitstream (.bit/.hwh), Alveo .xclbin, or exported IP for `board`, plus a driver example.

    Deliverables land in `deploy_dir` (default <hls_dir>/../deploy), replaced only on success.
    """
    project = HlsProject.load(Path(hls_dir))
    work = _work_dir(project.root)
    plan = plan_bitstream(project, board, platform=platform, vitis_tool=_pick_vitis_tool(), run_root=work)
    text = render_plan(plan, work)
    if dry_run:
        return BitstreamResult(project.root, board, plan, True, text)
    tools = _require_tools(plan, f"hwflow bitstream --board {board.name}")
    runs, elapsed = _run_in_copy(plan, project.root, tools, timeout_s=timeout_s, echo=echo)
    deploy_dir = deploy_dir or project.root.parent / "deploy"
    files = _collect_deploy(plan, project.root, deploy_dir, deploy_name or project.name, board)
    reports = _publish_reports(project.root, reports_dir or project.root.parent / "reports", board)
    return BitstreamResult(project.root, board, plan, False, text, deploy_dir, files, runs, reports, elapsed)
