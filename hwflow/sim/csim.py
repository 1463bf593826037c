"""C-simulation of a generated hls4ml project, isolated in child processes.

- `compile_project(hls_dir, cache_dir)`: runs the project's own `build_lib.sh` (hls4ml's compile
  path: g++ on firmware/ + the Python bridge) and keeps the library in `cache_dir` under a hash
  of the generated sources, so an unchanged project is never compiled twice.
- `run(hls_dir, lib, x)`: splits the batch over worker processes (`python -m hwflow.sim._worker`), one
  per core by default. A crash or C++ assert in the firmware kills a worker, and comes back as
  a CsimError naming the layer whose code failed (from the assert's `configN`), never a dead
  Python.
Every child process (build_lib.sh, the workers, a crash re-run) goes through hwflow.tools with a
time limit; the project's layer table is read through hwflow.project.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hwflow import tools
from hwflow.errors import CsimError, ToolError
from hwflow.project import read_layer_table

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding `hwflow`: cwd of `python -m hwflow.sim._worker`


@dataclass(frozen=True)
class CsimLib:
    path: Path
    key: str
    compile_s: float  # 0 when taken from the cache
    cached: bool


@dataclass
class CsimRun:
    outputs: np.ndarray  # N x output_size, exact values (double)
    trace: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> N x size
    seconds: float = 0.0
    workers: int = 1

    @property
    def images_per_s(self) -> float:
        return len(self.outputs) / self.seconds if self.seconds else float("nan")


def source_hash(hls_dir: Path) -> str:
    """Hash of everything the C-sim library is built from (firmware/, bridge, build script, location)."""
    hls_dir = Path(hls_dir).resolve()
    h = hashlib.sha256(str(hls_dir).encode())
    files = sorted(p for p in (hls_dir / "firmware").rglob("*") if p.is_file() and p.suffix != ".so")
    files += [hls_dir / "myproject_bridge.cpp", hls_dir / "build_lib.sh"]
    for p in files:
        h.update(str(p.relative_to(hls_dir)).encode())
        data = p.read_bytes()
        if p.name == "build_lib.sh":  # hls4ml writes a fresh random LIB_STAMP every time: not content
            data = re.sub(rb"(?m)^LIB_STAMP=.*$", b"", data)
        h.update(data)
    return h.hexdigest()[:20]


def compile_project(hls_dir: Path, cache_dir: Path) -> CsimLib:
    """Compile (or reuse) the C-simulation library of the project."""
    hls_dir = Path(hls_dir).resolve()
    key = source_hash(hls_dir)
    lib = Path(cache_dir) / f"myproject-{key}.so"
    if lib.exists():
        return CsimLib(lib, key, 0.0, True)
    if shutil.which("g++") is None:
        raise CsimError("g++ is not on PATH: C-simulation needs a C++ compiler (apt-get install g++)")
    t0 = time.perf_counter()
    limit = _limit("HWFLOW_CSIM_COMPILE_TIMEOUT_S", 3600.0)
    try:
        proc = tools.capture(["bash", "build_lib.sh"], cwd=hls_dir, timeout_s=limit,
                             label=f"{hls_dir}: compiling the C-simulation library")
    except ToolError as exc:
        raise CsimError(f"{exc}; set HWFLOW_CSIM_COMPILE_TIMEOUT_S to allow longer") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise CsimError(f"{hls_dir}: compiling the C-simulation library failed (exit {proc.returncode}):\n{tail}")
    built = sorted((hls_dir / "firmware").glob("myproject-*.so"), key=lambda p: p.stat().st_mtime)
    if not built:
        raise CsimError(f"{hls_dir}: build_lib.sh succeeded but wrote no firmware/myproject-*.so")
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(".tmp")
    shutil.move(str(built[-1]), tmp)
    tmp.replace(lib)
    return CsimLib(lib, key, time.perf_counter() - t0, False)


_ASSERT = re.compile(r"Assertion [`'](.+?)' failed")
_CONFIG = re.compile(r"\bconfig(\d+)")


def _crash_message(hls_dir: Path, info: dict, returncode: int, stderr: str, located: str = "") -> str:
    sig = -returncode if returncode < 0 else None
    how = f"signal {signal.Signals(sig).name}" if sig else f"exit status {returncode}"
    assertion = _ASSERT.search(stderr)
    configs = _CONFIG.findall(stderr)
    where = ""
    if configs:
        cfg = f"config{configs[-1]}"
        layer = info.get("config_index", {}).get(cfg)
        classes = {l["name"]: l["class_name"] for l in info.get("layers", [])}
        where = f" in layer {layer!r} ({classes.get(layer, '?')}, {cfg})" if layer else f" in {cfg}"
    where = where or located
    what = f": assertion `{assertion.group(1)}` failed" if assertion else ""
    tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    hint = ""
    if "pool" in stderr.lower():  # the failing C++ function is a pooling template
        hint = " (overlapping pooling in io_stream? `hwflow check` flags it)"
    return f"C-simulation of {hls_dir} aborted ({how}){where}{what}{hint}. Last line: {tail}"


def _crashed_image(log: list[str], chunk: np.ndarray) -> int | None:
    """Index (into the batch) of the image a worker died on: it prints "done <k>" after each one."""
    done = max((int(l.split()[1]) for l in log if l.startswith("done ")), default=0)
    return int(chunk[done]) if done < len(chunk) else None


def locate_crash(hls_dir: Path, lib: CsimLib, info: dict, image: np.ndarray, tmp: Path) -> str | None:
    """Re-run one crashing image with hls4ml's per-layer output files on (see hwflow.sim._worker) and name
    the layer: the traced layer after the last one whose output was written. None if not found.

    hls4ml traces layers in call order; a crash before the first traced layer's output names it.
    """
    traced = [l["name"] for l in info.get("layers", []) if l.get("traced")]
    if not traced:
        return None
    work = tmp / "locate"
    (work / "tb_data").mkdir(parents=True)
    if (hls_dir / "firmware" / "weights").is_dir():
        (work / "weights").symlink_to(hls_dir / "firmware" / "weights")
    np.save(work / "in.npy", np.ascontiguousarray(image[None], dtype=np.float64))
    spec = {"lib": str(lib.path), "project": info["project"], "input": str(work / "in.npy"),
            "output": str(work / "out.npz"), "input_size": info["input_size"], "output_size": info["output_size"],
            "cwd": str(work), "trace": [], "trace_files": True}
    (work / "spec.json").write_text(json.dumps(spec))
    try:
        proc = tools.capture([sys.executable, "-m", "hwflow.sim._worker", str(work / "spec.json")], cwd=PACKAGE_PARENT,
                             timeout_s=600, label="C-simulation trace re-run")
    except ToolError:
        return None
    if proc.returncode >= 0:
        return None  # did not crash again (or no trace switch in this library): nothing to say
    written = {p.name[: -len("_output.log")] for p in (work / "tb_data").glob("*_output.log") if p.stat().st_size}
    done = [k for k, name in enumerate(traced) if name in written]
    last = done[-1] if done else -1
    if last + 1 >= len(traced):
        return None  # every traced layer finished: the crash is after them, in an untraced layer
    classes = {l["name"]: l["class_name"] for l in info.get("layers", [])}
    failed = traced[last + 1]
    after = f"the last layer that completed was {traced[last]!r}" if last >= 0 else "no layer completed"
    return f" in layer {failed!r} ({classes.get(failed, '?')}; {after}, from a per-layer trace re-run of that image)"


def _clean_dead_tmp() -> None:
    """Remove hwflow-csim-<pid>-* folders of processes that no longer exist (a killed run's inputs)."""
    for d in Path(tempfile.gettempdir()).glob("hwflow-csim-*-*"):
        try:
            pid = int(d.name.split("-")[2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue


def _limit(var: str, default: float) -> float:
    """A time limit in seconds from the environment (unset: `default`; "600", "600s", "10m", "1h";
    anything else is a ConfigError naming the variable: hwflow.guard.env_seconds)."""
    from hwflow.guard import env_seconds

    return env_seconds(var, default)


def run(hls_dir: Path, lib: CsimLib, x: np.ndarray, *, trace: bool = False, workers: int | None = None,
        progress: bool = True, desc: str = "C-sim") -> CsimRun:
    """Run the library on `x` (N x input shape) in `workers` child processes."""
    from tqdm import tqdm

    hls_dir = Path(hls_dir).resolve()
    info = read_layer_table(hls_dir)
    n = len(x)
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    trace_layers = [[l["name"], int(np.prod(l["shape"]))] for l in info["layers"] if l.get("traced")] if trace else []
    chunks = np.array_split(np.arange(n), workers)
    _clean_dead_tmp()
    tmp = Path(tempfile.mkdtemp(prefix=f"hwflow-csim-{os.getpid()}-"))
    bar = tqdm(total=n, desc=desc, unit="img", disable=None if progress else True)
    lock = threading.Lock()
    t0 = time.perf_counter()
    try:
        argvs = []
        for w, idx in enumerate(chunks):
            np.save(tmp / f"in{w}.npy", np.ascontiguousarray(x[idx], dtype=np.float64))
            spec = {"lib": str(lib.path), "project": info["project"], "input": str(tmp / f"in{w}.npy"),
                    "output": str(tmp / f"out{w}.npz"), "input_size": info["input_size"],
                    "output_size": info["output_size"], "cwd": str(hls_dir / "firmware"), "trace": trace_layers}
            (tmp / f"spec{w}.json").write_text(json.dumps(spec))
            argvs.append([sys.executable, "-m", "hwflow.sim._worker", str(tmp / f"spec{w}.json")])

        def progress_line(_worker: int, line: str) -> None:
            if line.startswith("done "):
                with lock:
                    bar.update(1)

        # a C-sim that never returns (a stream that never fills) is stopped: generous, per image
        limit = _limit("HWFLOW_CSIM_TIMEOUT_S", 600.0 + 60.0 * n / workers)
        try:
            finished = tools.run_parallel(argvs, cwd=PACKAGE_PARENT, timeout_s=limit, label=f"C-simulation of {hls_dir}",
                                          on_line=progress_line)
        except tools.ToolTimeoutError:
            raise CsimError(f"C-simulation of {hls_dir} did not finish within {limit:.0f} s ({n} images, {workers} "
                            f"processes; stopped); set HWFLOW_CSIM_TIMEOUT_S to allow longer") from None
        for r, idx in zip(finished, chunks):
            if r.returncode != 0:
                log = r.stdout.splitlines(keepends=True)  # "done <k>" lines tell which image a crashed worker was on
                text = "".join(l for l in log if not l.startswith("done ")) + r.stderr
                located = ""
                if not _CONFIG.search(text):  # no assert naming the layer (a segfault): find it by re-running
                    k = _crashed_image(log, idx)
                    found = locate_crash(hls_dir, lib, info, x[k], tmp) if k is not None else None
                    located = f"{found} on image {k}" if found else ""
                raise CsimError(_crash_message(hls_dir, info, r.returncode, text, located))
        outs, traces = [], {name: [] for name, _ in trace_layers}
        for w in range(workers):
            z = np.load(tmp / f"out{w}.npz")
            outs.append(z["outputs"])
            for name in traces:
                traces[name].append(z[f"trace::{name}"])
        elapsed = time.perf_counter() - t0
        return CsimRun(np.concatenate(outs), {k: np.concatenate(v) for k, v in traces.items()}, elapsed, workers)
    finally:
        bar.close()
        shutil.rmtree(tmp, ignore_errors=True)


def firmware_outputs(hls_dir: Path, lib: CsimLib, x: np.ndarray, *, hls_model=None, reference: int = 32,
                     workers: int | None = None, progress: bool = True, desc: str = "") -> tuple[np.ndarray, dict]:
    """The firmware's outputs for `x` and how they were obtained.

    With `hls_model` (the converted hls4ml model of this project), the bit-exact emulator
    (hwflow.sim.emulate) computes every image and C-simulation of the generated C++ checks it on the first
    `reference` images; any difference, or a layer the emulator does not support, and C-sim computes
    everything. Without it: C-sim only.
    """
    stats: dict = {"engine": "csim"}
    if hls_model is not None:
        from hwflow.sim.emulate import UnsupportedLayerError, check_supported, emulate

        t0 = time.perf_counter()
        try:
            check_supported(hls_model)
            out = np.asarray(emulate(hls_model, x), np.float64).reshape(len(x), -1)  # may refuse a layer late
        except UnsupportedLayerError as exc:
            if progress:
                print(f"  emulator: {exc}; using C-sim for every image")
            stats["emulator_unsupported"] = str(exc)
        else:
            seconds = time.perf_counter() - t0
            k = min(reference, len(x))
            ref = run(hls_dir, lib, x[:k], workers=workers, progress=progress, desc=f"{desc}: C-sim reference")
            same = bool(np.array_equal(ref.outputs, out[:k]))
            if progress:
                print(f"  emulator: {len(x)} images at {len(x) / seconds:.1f} images/s; C-sim reference on {k} images "
                      f"({ref.images_per_s:.2f} images/s): {'identical' if same else 'DIFFERENT: using C-sim for all'}")
            if same:
                return out, {"engine": "emulate", "images_per_s": len(x) / seconds, "seconds": round(seconds, 3),
                             "workers": 1, "reference_images": k, "emulator_matches_csim": True,
                             "csim_images_per_s": ref.images_per_s}
            stats["emulator_matches_csim"] = False
    r = run(hls_dir, lib, x, workers=workers, progress=progress, desc=f"{desc}: C-sim")
    stats.update(images_per_s=r.images_per_s, seconds=round(r.seconds, 3), workers=r.workers)
    return r.outputs, stats
