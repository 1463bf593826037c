"""Xilinx tool discovery and the one module that starts external programs.

Every Xilinx program hwflow starts (vitis_hls, vitis-run, vivado_hls, vivado, v++) is
described by a `Command` (argv as a list, cwd, log file) and run by `run()`: no shell, the
log streamed line by line with elapsed time, a time limit, the exit status checked. A tool
that is not installed is a `ToolNotFoundError` raised by `require()` *before* any work starts,
naming the tool, where it would come from and what can be run instead.

Programs whose output hwflow reads (g++ through build_lib.sh, the C-simulation workers) go
through `capture()` / `run_parallel()`: no shell, own process group, one time limit that stops
them all (`ToolTimeoutError`). No other module imports subprocess (tests/test_boundaries.py checks).
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from hwflow.errors import ToolError, ToolNotFoundError

# What to run instead when a tool is missing (appended to every ToolNotFoundError).
WITHOUT_TOOLS = (
    "without it you can still run `hwflow estimate --config <model>.yaml` (resources/latency without "
    "synthesis), `hwflow report --hls-dir DIR --out OUT` on a project synthesized on another machine, or add "
    "--dry-run to see the exact commands"
)


@dataclass(frozen=True)
class ToolSpec:
    """What hwflow knows about one Xilinx executable (also the text of `hwflow doctor`)."""

    name: str
    version_args: tuple[str, ...]
    env_vars: tuple[str, ...]  # $VAR/bin is searched after PATH, in this order
    settings: str  # the settings script that puts it on PATH
    provides: str  # what it is, for people
    blocks: tuple[str, ...]  # hwflow commands that cannot run without it


TOOL_SPECS: dict[str, ToolSpec] = {
    s.name: s
    for s in [
        ToolSpec(
            "vitis-run",
            ("--version",),
            ("XILINX_VITIS",),
            "source /tools/Xilinx/Vitis/<ver>/settings64.sh  (Vitis 2024.1+)",
            "Vitis HLS driver used by hls4ml's Vitis backend; vitis_hls (Vitis HLS 2020.2-2023.2) also works",
            ("synth and IP-board bitstream of Vitis projects (unless vitis_hls is there)",),
        ),
        ToolSpec(
            "vitis_hls",
            ("-version",),
            ("XILINX_HLS", "XILINX_VITIS"),
            "source /tools/Xilinx/Vitis_HLS/<ver>/settings64.sh  (Vitis HLS 2020.2-2023.2)",
            "Vitis HLS (C synthesis)",
            ("synth and IP-board bitstream of Vitis projects (unless vitis-run is there)",),
        ),
        ToolSpec(
            "vivado_hls",
            ("-version",),
            ("XILINX_VIVADO", "XILINX_HLS"),
            "source /tools/Xilinx/Vivado/<ver>/settings64.sh  (Vivado HLS <= 2020.1)",
            "Vivado HLS (C synthesis) used by hls4ml's Vivado and VivadoAccelerator backends",
            ("synth (backends Vivado, VivadoAccelerator)", "bitstream (all boards of a Vivado/VivadoAccelerator project)"),
        ),
        ToolSpec(
            "vivado",
            ("-version",),
            ("XILINX_VIVADO",),
            "source /tools/Xilinx/Vivado/<ver>/settings64.sh",
            "Vivado (logic synthesis, block design, bitstream)",
            ("synth --vsynth", "bitstream (bitstream and xclbin boards)"),
        ),
        ToolSpec(
            "v++",
            ("--version",),
            ("XILINX_VITIS",),
            "source /tools/Xilinx/Vitis/<ver>/settings64.sh  (plus XRT: source /opt/xilinx/xrt/setup.sh)",
            "Vitis compiler/linker for Alveo xclbins",
            ("bitstream (alveo-* boards)",),
        ),
    ]
}

_VERSION_RE = re.compile(r"\bv?(20\d\d\.\d+(?:\.\d+)?)\b")


@dataclass(frozen=True)
class ToolInfo:
    name: str
    path: Path | None
    found_via: str | None  # "PATH" or the env var whose bin/ held it
    version: str | None  # e.g. "2019.2"; None if not found or not parseable

    @property
    def version_tuple(self) -> tuple[int, ...] | None:
        """(2019, 2) for "2019.2": compare versions as numbers, never as strings."""
        return tuple(int(p) for p in self.version.split(".")) if self.version else None


def _spec(name: str) -> ToolSpec:
    try:
        return TOOL_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join(TOOL_SPECS)}") from None


def find_tool(name: str, *, env: Mapping[str, str] | None = None) -> tuple[Path, str] | None:
    """Where `name` is: PATH first, then $XILINX_*/bin. Returns (path, found_via) or None."""
    env = os.environ if env is None else env
    hit = shutil.which(name, path=env.get("PATH", ""))
    if hit:
        return Path(hit), "PATH"
    for var in _spec(name).env_vars:
        root = env.get(var)
        if root:
            hit = shutil.which(name, path=str(Path(root) / "bin"))
            if hit:
                return Path(hit), var
    return None


def parse_version(text: str) -> str | None:
    """"Vivado v2019.2 (64-bit)" -> "2019.2"; None when no Xilinx-style version is present."""
    m = _VERSION_RE.search(text)
    return m.group(1) if m else None


def tool_version(name: str, path: Path, *, timeout_s: float = 30.0) -> str | None:
    """Run `<tool> -version` (or --version) with a short time limit and parse the answer.

    Not routed through `run()`: this is a query whose output we parse, not a build step with
    a log; a tool that hangs or fails here just has an unknown version.
    """
    try:
        proc = subprocess.run(
            [str(path), *_spec(name).version_args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(proc.stdout + "\n" + proc.stderr)


def discover(
    names: tuple[str, ...] | None = None, *, versions: bool = True, env: Mapping[str, str] | None = None
) -> dict[str, ToolInfo]:
    """ToolInfo for each known tool (or `names`), with versions when `versions`."""
    out: dict[str, ToolInfo] = {}
    for name in names or tuple(TOOL_SPECS):
        hit = find_tool(name, env=env)
        if hit is None:
            out[name] = ToolInfo(name, None, None, None)
        else:
            path, via = hit
            out[name] = ToolInfo(name, path, via, tool_version(name, path) if versions else None)
    return out


def missing_message(name: str, *, purpose: str) -> str:
    """One line: which tool, what it is needed for, where it would come from, what to run instead."""
    spec = _spec(name)
    where = " or ".join(f"${v}/bin" for v in spec.env_vars)
    return (
        f"{purpose} needs `{name}` ({spec.provides}), which is not on PATH or in {where}; "
        f"install it and `{spec.settings}`; {WITHOUT_TOOLS}"
    )


def require(name: str, *, purpose: str, env: Mapping[str, str] | None = None) -> Path:
    """Path of `name`, or ToolNotFoundError (before any work is done)."""
    hit = find_tool(name, env=env)
    if hit is None:
        raise ToolNotFoundError(missing_message(name, purpose=purpose))
    return hit[0]


# --------------------------------------------------------------------------------------------
# Commands and the one runner
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One external program run: argv (argv[0] a tool name or path), working folder, log file."""

    argv: tuple[str, ...]
    cwd: Path
    log: Path
    label: str = ""
    env: Mapping[str, str] | None = field(default=None, compare=False)

    def display(self) -> str:
        return f"(cd {shlex.quote(str(self.cwd))} && {shlex.join(self.argv)})"


@dataclass(frozen=True)
class RunResult:
    command: Command
    returncode: int
    elapsed_s: float
    lines: int
    log: Path


def _tail(lines: deque[str]) -> str:
    return "\n".join(f"    | {ln}" for ln in lines)


# Children alive right now (each the leader of its own process group). SIGTERM to hwflow ends them
# with it: they run in their own sessions (so a time limit can stop a whole tree), which also means
# the terminal's or a scheduler's SIGTERM would not reach them (g++/cc1plus compiled on for minutes).
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_TERM_INSTALLED = False


def _on_term(signum, frame) -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # SIGKILL: a handler must not wait for a grace period
        except (ProcessLookupError, PermissionError):
            pass
    previous = _PREVIOUS.get(signum)
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        raise SystemExit(128 + signum)  # finally-blocks still remove temporary folders


_PREVIOUS: dict[int, object] = {}


def _track(proc: subprocess.Popen) -> subprocess.Popen:
    """Register a started child so SIGTERM/SIGHUP of hwflow ends its process group too."""
    global _TERM_INSTALLED
    if not _TERM_INSTALLED and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            _PREVIOUS[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_term)
        _TERM_INSTALLED = True
    with _LIVE_LOCK:
        _LIVE.add(proc)
    return proc


def _untrack(proc: subprocess.Popen) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(proc)


def _kill_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """Stop the tool and everything it started (vivado_hls spawns children)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run(
    cmd: Command,
    *,
    timeout_s: float,
    echo: Callable[[str], None] | None = None,
    stage_markers: tuple[str, ...] = ("*****",),
    tail_lines: int = 20,
    limit_shown_s: float | None = None,
) -> RunResult:
    """Run `cmd` (no shell), tee its output to `cmd.log`, show progress, enforce the time limit.

    Non-zero exit or time limit -> ToolError with the last `tail_lines` log lines.
    KeyboardInterrupt stops the tool's whole process group and is re-raised.
    `limit_shown_s` is the limit named in the message (the user's, when `timeout_s` is what is left of it).
    """
    from tqdm import tqdm

    _check_limit(timeout_s, cmd.label)
    cmd.log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if cmd.env is None else cmd.env)
    tail: deque[str] = deque(maxlen=tail_lines)
    lines_q: queue.Queue[str | None] = queue.Queue()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(cmd.argv),
            cwd=cmd.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # own process group, so a time limit stops the children too
        )
        _track(proc)
    except FileNotFoundError:
        raise ToolNotFoundError(f"`{cmd.argv[0]}` could not be started (not found); {WITHOUT_TOOLS}") from None

    def _reader() -> None:
        for line in proc.stdout or ():  # stdout=PIPE above, so never None in practice
            lines_q.put(line.rstrip("\n"))
        lines_q.put(None)

    reader = threading.Thread(target=_reader, daemon=True)
    reader.start()
    n = 0
    label = cmd.label or Path(cmd.argv[0]).name
    bar = tqdm(desc=label, unit=" lines", leave=False, dynamic_ncols=True, disable=None)
    write = echo or (lambda s: tqdm.write(s))
    try:
        with open(cmd.log, "w", encoding="utf-8") as log:
            log.write(f"# {cmd.display()}\n")
            done = False
            while not done:
                elapsed = time.monotonic() - start
                if elapsed > timeout_s:
                    _kill_group(proc)
                    raise ToolError(
                        f"{label} exceeded the time limit of {limit_shown_s or timeout_s:g} s and was stopped; "
                        f"log: {cmd.log}; raise it with --timeout\n{_tail(tail)}"
                    )
                try:
                    line = lines_q.get(timeout=min(0.5, max(0.01, timeout_s - elapsed)))
                except queue.Empty:
                    continue
                if line is None:
                    done = True
                    continue
                n += 1
                log.write(line + "\n")
                log.flush()
                tail.append(line)
                write(f"[{time.monotonic() - start:8.1f}s] {line}")
                if any(m in line for m in stage_markers):
                    bar.set_postfix_str(line.strip("* ")[:40])
                bar.update(1)
            rc = proc.wait()
    except KeyboardInterrupt:
        _kill_group(proc)
        raise
    finally:
        bar.close()
        if proc.poll() is None:
            _kill_group(proc)
        _untrack(proc)
    elapsed = time.monotonic() - start
    if rc != 0:
        raise ToolError(f"{label} failed with exit status {rc} after {elapsed:.1f} s; log: {cmd.log}\n{_tail(tail)}")
    return RunResult(cmd, rc, elapsed, n, cmd.log)


# --------------------------------------------------------------------------------------------
# Child processes whose output hwflow reads (compilers, C-simulation workers)
# --------------------------------------------------------------------------------------------


class ToolTimeoutError(ToolError):
    """A child process ran past its time limit and was stopped, with everything it started."""


@dataclass(frozen=True)
class Captured:
    """One finished child process: exit status (negative: killed by that signal) and its output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float


def _check_limit(timeout_s, label: str) -> None:
    if not (isinstance(timeout_s, (int, float)) and timeout_s == timeout_s and 0 < timeout_s < float("inf")):
        from hwflow.errors import ConfigError

        raise ConfigError(f"{label}: time limit {timeout_s!r} s; valid: a finite number of seconds > 0")


def run_parallel(
    argvs: list[tuple[str, ...] | list[str]],
    *,
    cwd: Path,
    timeout_s: float,
    label: str,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[int, str], None] | None = None,
) -> list[Captured]:
    """Start every argv at once (no shell, each in its own process group, stdin closed), collect
    stdout and stderr, and wait for all of them within ONE time limit.

    `on_line(i, line)` sees each stdout line of process i as it arrives (from a reader thread:
    progress bars). The exit status is not checked: callers read `returncode` (a crash is data,
    e.g. for C-simulation's layer finder). The time limit stops every process group and raises
    ToolTimeoutError; KeyboardInterrupt stops them too and is re-raised.
    """
    _check_limit(timeout_s, label)
    full_env = dict(os.environ if env is None else env)
    start = time.monotonic()
    procs: list[subprocess.Popen] = []
    try:
        for argv in argvs:
            try:
                procs.append(_track(subprocess.Popen(list(argv), cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                     errors="replace", start_new_session=True)))
            except FileNotFoundError:
                raise ToolNotFoundError(f"{label}: `{argv[0]}` could not be started (not found)") from None
        outs: list[list[str]] = [[] for _ in procs]
        errs: list[list[str]] = [[] for _ in procs]

        def pump(i: int, stream, sink: list[str], callback) -> None:
            for line in stream:
                sink.append(line)
                if callback is not None:
                    callback(i, line)

        readers = []
        for i, p in enumerate(procs):
            readers.append(threading.Thread(target=pump, args=(i, p.stdout, outs[i], on_line), daemon=True))
            readers.append(threading.Thread(target=pump, args=(i, p.stderr, errs[i], None), daemon=True))
        for t in readers:
            t.start()
        for p in procs:
            try:
                p.wait(timeout=max(0.001, start + timeout_s - time.monotonic()))
            except subprocess.TimeoutExpired:
                for q in procs:
                    _kill_group(q, grace_s=1.0)
                raise ToolTimeoutError(f"{label} did not finish within {timeout_s:g} s ({len(procs)} process(es); "
                                       f"stopped)") from None
        for t in readers:
            t.join()
    except KeyboardInterrupt:
        for q in procs:
            _kill_group(q, grace_s=1.0)
        raise
    finally:
        for q in procs:
            if q.poll() is None:
                _kill_group(q, grace_s=1.0)
            _untrack(q)
    elapsed = time.monotonic() - start
    return [Captured(tuple(map(str, a)), p.returncode, "".join(o), "".join(e), elapsed)
            for a, p, o, e in zip(argvs, procs, outs, errs)]


def capture(argv: tuple[str, ...] | list[str], *, cwd: Path, timeout_s: float, label: str,
            env: Mapping[str, str] | None = None) -> Captured:
    """One child process whose output is read (a compiler, a re-run): `run_parallel` of one."""
    return run_parallel([argv], cwd=cwd, timeout_s=timeout_s, label=label, env=env)[0]


# --------------------------------------------------------------------------------------------
# hwflow doctor
# --------------------------------------------------------------------------------------------


def doctor_text(infos: Mapping[str, ToolInfo]) -> str:
    """What was found (path, version, how) and, for each missing tool, what it blocks and its source."""
    lines = ["Xilinx tools:"]
    for name, info in infos.items():
        spec = TOOL_SPECS[name]
        if info.path is not None:
            ver = info.version or "version unknown"
            lines.append(f"  [found]   {name:<11} {ver:<16} {info.path}  (via {info.found_via})")
        else:
            lines.append(f"  [missing] {name:<11} {spec.provides}")
            lines.append(f"            blocks: {'; '.join(spec.blocks)}")
            lines.append(f"            provide it with: {spec.settings}  (or set {' / '.join(spec.env_vars)})")
    missing = [n for n, i in infos.items() if i.path is None]
    if missing:
        lines.append("")
        lines.append("Without the missing tools you can still run: hwflow estimate --config <model>.yaml, "
                     "hwflow report --hls-dir DIR (results synthesized elsewhere), and any synth/bitstream "
                     "command with --dry-run.")
    return "\n".join(lines) + "\n"
