"""Running a plan: every tool through `hwflow.tools.run` in a *copy* of the project, which replaces
the project only when all steps succeeded; then the reports (and for a bitstream, deploy/)."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hwflow.boards import Board
from hwflow.errors import ConfigError, ToolError
from hwflow.synth.deploy import collect_deploy, swap_in
from hwflow.synth.plan import BuildOptions, Plan, plan_bitstream, plan_synth, render_plan
from hwflow.project import HlsProject, normalize_backend
from hwflow.tools import Command, RunResult, find_tool, require, run

DEFAULT_SYNTH_TIMEOUT_S = 6 * 3600.0
DEFAULT_BITSTREAM_TIMEOUT_S = 12 * 3600.0
WORK_SUFFIX = ".hwflow-work"


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
    swap_in(work, hls_dir)
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
    files = collect_deploy(plan, project.root, deploy_dir, deploy_name or project.name, board)
    reports = _publish_reports(project.root, reports_dir or project.root.parent / "reports", board)
    return BitstreamResult(project.root, board, plan, False, text, deploy_dir, files, runs, reports, elapsed)
