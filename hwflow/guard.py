"""Checks at the edges of the flow: every value read from a user's file or command line passes here.

One module, so every reader applies the same rules (issue 17):
- YAML: `yaml.safe_load` semantics, with aliases and the expanded document size capped (a
  481-byte alias bomb must not exhaust memory), duplicate keys refused (no silent "last wins")
  and binary / non-UTF-8 files refused with one line.
- Numbers: NaN and +-inf are never accepted (a NaN threshold compares False with everything and
  turns a failing check into a pass).
- FPGA part names: a strict Xilinx part pattern, because the part is written into Tcl that
  Vivado/Vitis source (`set part "..."` in hls4ml's project.tcl: `[...]` inside double quotes
  is command substitution).
- Model files (hwflow.modelfile): the stored model config is read as JSON and refused if it is
  malformed, holds Lambda layers (Python code run while loading) or layers the flow cannot build,
  *before* Keras loads anything; `.keras` loads with safe_mode.
- Command-line integers/floats with bounds, output paths that must be folders (or files), and a
  lock file that keeps two runs from writing one build folder at once.
- Files: only regular files are read (a folder, device or named pipe is named as such; a pipe or
  /dev/zero never blocks or fills memory), each with a size cap.
- Precisions: parsed as hls4ml reads them (width, integer bits, rounding, saturation, saturation
  bits), each field range-checked, and written back in one canonical spelling.
- Messages: every value echoed back is shortened and its invisible characters escaped (`show`).

PyYAML has no alias/size limit of its own and no duplicate-key check, hence the small loader
below (a SafeLoader subclass; no new constructors, so still exactly safe_load's types).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import stat
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from hwflow.errors import ConfigError, HwflowError

MAX_YAML_BYTES = 4 << 20  # a flow config or sweep spec is a few kB
MAX_YAML_ALIASES = 200
MAX_YAML_NODES = 200_000  # nodes after expanding aliases


# ------------------------------------------------------------------------------------------ YAML


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader with a cap on aliases and refusal of duplicate mapping keys."""

    where = "YAML"

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._n_aliases = getattr(self, "_n_aliases", 0) + 1
            if self._n_aliases > MAX_YAML_ALIASES:
                raise ConfigError(f"{self.where}: more than {MAX_YAML_ALIASES} YAML aliases (*name); "
                                  f"the limit is {MAX_YAML_ALIASES}")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise ConfigError(f"{self.where}: duplicate key {key!r} at line {key_node.start_mark.line + 1}"
                                          f" (first at line {seen[key] + 1}); each key may appear once")
                    seen[key] = key_node.start_mark.line
                except TypeError:  # unhashable key: SafeConstructor reports it below
                    pass
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node, where: str) -> int:
    """Number of nodes once every alias is expanded (shared nodes counted at each use); memoised."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(n) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in busy:
            raise ConfigError(f"{where}: recursive YAML alias (a node that contains itself)")
        busy.add(key)
        if isinstance(n, yaml.SequenceNode):
            s = 1 + sum(size(c) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            s = 1 + sum(size(k) + size(v) for k, v in n.value)
        else:
            s = 1
        busy.discard(key)
        if s > MAX_YAML_NODES:
            raise ConfigError(f"{where}: the YAML expands to more than {MAX_YAML_NODES:,} values "
                              f"(aliases repeated inside aliases?); the limit is {MAX_YAML_NODES:,}")
        sizes[key] = s
        return s

    return size(node)


def load_yaml_text(text: str, where: str, loader: type[BoundedSafeLoader] = BoundedSafeLoader) -> Any:
    """yaml.safe_load(text) with aliases, expansion size and duplicate keys checked."""
    ldr = loader(text)
    ldr.where = where
    try:
        node = ldr.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        return ldr.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: YAML nested too deeply") from None
    finally:
        ldr.dispose()


def regular_file(path: Path, what: str, error: type[HwflowError] = ConfigError, flag: str = "") -> Path:
    """`path` if it names a regular file (a symlink to one is fine); else one line saying what it is:
    missing, a folder, or a device / named pipe / socket (never opened: a pipe would block)."""
    path = Path(path)
    at = f"{flag}: " if flag else ""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{at}{show(path)}: no such {what}") from None
    except OSError as exc:
        raise error(f"{at}{show(path)}: cannot read {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{at}{show(path)} is a folder, not a {what}; give the file itself")
    if not stat.S_ISREG(st.st_mode):
        kind = "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        raise error(f"{at}{show(path)} is {kind}, not a regular {what}; refusing to read it")
    return path


def read_capped(path: Path, what: str, max_bytes: int, error: type[HwflowError] = ConfigError) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (checked on the open file itself: a file
    swapped for a pipe after the check is not read either)."""
    path = regular_file(path, what, error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise error(f"{show(path)}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{show(path)} is not a regular {what}; refusing to read it")
        if st.st_size > max_bytes:
            raise error(f"{show(path)}: {st.st_size:,} bytes is too large for a {what}; the limit is {max_bytes:,}")
        chunks, n = [], 0
        while n <= max_bytes:
            b = os.read(fd, min(1 << 20, max_bytes + 1 - n))
            if not b:
                break
            chunks.append(b)
            n += len(b)
        if n > max_bytes:
            raise error(f"{show(path)}: more than {max_bytes:,} bytes is too large for a {what}")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{show(path)}: cannot read {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_text_file(path: Path, what: str, max_bytes: int = MAX_YAML_BYTES) -> str:
    """A small UTF-8 text file, or a one-line ConfigError (missing, a folder or device, too large, binary)."""
    path = Path(path)
    data = read_capped(path, what, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{show(path)}: not a text {what} (byte {exc.start} is not UTF-8); expected YAML text") from None
    if "\x00" in text:
        raise ConfigError(f"{show(path)}: not a text {what} (contains NUL bytes); expected YAML text")
    return text


# ------------------------------------------------------------------------------------- messages

MAX_SHOWN = 120  # characters of one echoed value (a path, a key, a YAML value)
MAX_MESSAGE = 2000  # characters of one whole error message


def _escape_invisible(text: str) -> str:
    """Invisible and control characters as \\uXXXX (a zero-width space in a layer name is shown), newlines kept."""
    return "".join(c if c.isprintable() or c == "\n" else
                   (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                    else f"\\U{ord(c):08x}") for c in text)


def _elide(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    keep = max(8, (limit - 20) // 2)
    return f"{text[:keep]}...[{len(text) - 2 * keep:,} characters]...{text[-keep:]}"


def show(value: Any, limit: int = MAX_SHOWN) -> str:
    """A value as echoed in a message: str() of it, invisible characters escaped, at most ~`limit` characters."""
    return _elide(_escape_invisible(str(value)), limit)


def shown_message(text: str) -> str:
    """A whole error message as printed at the CLI edge: invisible characters escaped, every very
    long run without spaces (a 5,000-character file name, a 200,000-character value) elided, and
    the whole capped at MAX_MESSAGE characters."""
    text = _escape_invisible(str(text))
    text = re.sub(r"\S{%d,}" % (2 * MAX_SHOWN + 1), lambda m: _elide(m.group(0), 2 * MAX_SHOWN), text)
    return _elide(text, MAX_MESSAGE)


# ---------------------------------------------------------------------------------------- numbers


def finite(value: float, where: str) -> float:
    """`value` if it is a finite number, else a ConfigError."""
    try:
        ok = math.isfinite(value)
    except TypeError:
        raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if not ok:
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    return value


def cli_int(lo: int, hi: int | None = None):
    """argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be {'>= ' + str(lo) if hi is None else f'in {lo}..{hi}'}, got {v}")
        return v

    return parse


def cli_float(lo: float, hi: float | None = None):
    """argparse type: a finite float in (lo, hi] (lo excluded: a time limit of 0 s means nothing)."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v) or v <= lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be a finite number > {lo}" + (f" and <= {hi}" if hi else "")
                                             + f", got {text}")
        return v

    return parse


def env_seconds(var: str, default: float) -> float:
    """A time limit from the environment: unset or empty -> `default`; "90", "90s", "10m", "1.5h" ->
    seconds; anything else (or not > 0) is a ConfigError naming the variable (never silently ignored)."""
    text = os.environ.get(var, "").strip()
    if not text:
        return default
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*(s|m|min|h)?", text)
    v = float(m.group(1)) * {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)] if m else float("nan")
    if not (math.isfinite(v) and v > 0):
        raise ConfigError(f"${var}: {show(text)!r} is not a time limit; valid: seconds > 0 like 600, 600s, 10m or 1h "
                          f"(or unset it: {default:g} s)")
    return v


# ----------------------------------------------------------------------------------- precisions

MAX_PRECISION_WIDTH = 64  # widest ap_fixed hwflow accepts (ap_fixed allows 1024, but g++ and the tools crawl far earlier)
ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV")
SATURATION_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
_PREC = re.compile(r"^(?:ap_)?(?P<kind>u?fixed|u?int)<(?P<args>[^<>]*)>$")


def check_precision(value: Any, where: str) -> str:
    """An hls4ml precision string read field by field as hls4ml reads it (FPGABackend._convert_ap_type),
    each field range-checked; returned in one canonical spelling (no spaces), which is what the
    project gets. fixed<W,I[,Q[,O[,N]]]> / ufixed<...> / int<W> / uint<W>, optionally ap_-prefixed:
    W in 1..64; I (integer bits, sign included) in -W..W; Q a rounding mode, O a saturation mode,
    N (saturation bits) in 0..W."""
    forms = "fixed<W,I>, ufixed<W,I>, fixed<W,I,RND_CONV,SAT>, int<W> (optionally ap_-prefixed)"
    if isinstance(value, bool) or not isinstance(value, str):
        raise ConfigError(f"{where}: expected an hls4ml precision string like 'fixed<16,6>', got {show(value)!r}")
    text = "".join(value.split())
    m = _PREC.match(text)
    if not m:
        raise ConfigError(f"{where}: {show(value)!r} is not a precision; valid forms: {forms}")
    kind, args = m.group("kind"), m.group("args").split(",")
    fixed = kind.endswith("fixed")
    n_num = 2 if fixed else 1
    if len(args) < n_num or (not fixed and len(args) > 1) \
            or not all(re.fullmatch(r"[-+]?\d{1,6}", a) for a in args[:n_num]):
        raise ConfigError(f"{where}: {show(value)!r} is not a precision ({kind} takes "
                          f"{'integers W,I then optional modes' if fixed else 'one integer W'}); valid forms: {forms}")
    width = int(args[0])
    if not 1 <= width <= MAX_PRECISION_WIDTH:
        raise ConfigError(f"{where}: {show(value)!r}: width {width} is out of range; valid widths: 1..{MAX_PRECISION_WIDTH}")
    if fixed:
        integer = int(args[1])
        if not -width <= integer <= width:
            raise ConfigError(f"{where}: {show(value)!r}: {integer} integer bits with width {width}; valid: integer bits "
                              f"-{width}..{width} (the sign bit included; more than the width is not a {kind})")
        if len(args) > 5:
            raise ConfigError(f"{where}: {show(value)!r}: too many fields; valid: {kind}<W,I,rounding,saturation,N>")
        if len(args) > 2 and args[2] not in ROUNDING_MODES:
            raise ConfigError(f"{where}: {show(value)!r}: rounding mode {show(args[2])!r}; valid: {', '.join(ROUNDING_MODES)}")
        if len(args) > 3 and args[3] not in SATURATION_MODES:
            raise ConfigError(f"{where}: {show(value)!r}: saturation mode {show(args[3])!r}; valid: "
                              f"{', '.join(SATURATION_MODES)}")
        if len(args) > 4 and not (re.fullmatch(r"\d{1,4}", args[4]) and int(args[4]) <= width):
            raise ConfigError(f"{where}: {show(value)!r}: saturation bits {show(args[4])!r}; valid: 0..{width}")
    prefix = "ap_" if text.startswith("ap_") else ""
    return f"{prefix}{kind}<{','.join(str(int(a)) if i < n_num else a for i, a in enumerate(args))}>"


# ----------------------------------------------------------------------------------- image sizes

MAX_IMAGE_SIDE = 1024  # model input height/width (config input_shape, a model file's input)
MAX_CHANNELS = 16
MAX_SOURCE_SIDE = 4096  # a source image (file or .npz array), before it is resized to the input


def check_input_shape(shape: Any, where: str) -> tuple[int, int, int]:
    """[height, width, channels]: 3 positive integers within the limits (configs and model files alike)."""
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3
            and all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in shape)):
        raise ConfigError(f"{where}: expected [height, width, channels] (3 positive integers), got {show(shape)}")
    if max(shape[:2]) > MAX_IMAGE_SIDE or shape[2] > MAX_CHANNELS:
        raise ConfigError(f"{where}: {show(list(shape))} is too large; the limit is {MAX_IMAGE_SIDE} pixels "
                          f"per side and {MAX_CHANNELS} channels")
    return tuple(shape)


def check_image_size(width: int, height: int, where: str) -> None:
    if max(width, height) > MAX_SOURCE_SIDE:
        raise ConfigError(f"{where}: {width}x{height} pixels; the limit is {MAX_SOURCE_SIDE} per side")


# ------------------------------------------------------------------------------------------ parts

# Xilinx part names: family+device, then package+pins, speed grade, temperature/voltage, e.g.
# xc7z020clg400-1, xczu9eg-ffvb1156-2-e, xck26-sfvc784-2LV-c, xcu250-figd2104-2L-e.
_PART = re.compile(r"^x[a-z0-9]{3,24}(-[a-z0-9]{1,12}){0,3}$", re.IGNORECASE)


def check_part(part: Any, where: str) -> str:
    if not isinstance(part, str) or not _PART.match(part):
        raise ConfigError(f"{where}: {part!r} is not a Xilinx part name; valid: letters, digits and dashes like "
                          f"'xc7z020clg400-1' or 'xczu9eg-ffvb1156-2-e' (or leave it out: the board's part)")
    return part


def tcl_quote(value: str) -> str:
    """A Tcl word that is exactly `value`: braces (no substitution inside), refusing what braces cannot hold."""
    text = str(value)
    if any(c in text for c in "{}\\\n\r\x00"):
        raise ConfigError(f"{text!r} cannot be written into Tcl (braces, backslashes or line breaks)")
    return "{" + text + "}"


_TCL_SET = re.compile(r"^\s*set\s+(\w+)\s+(.*?)\s*$")
_TCL_SAFE_WORD = re.compile(r'^"?[\w.%+-]*"?$')  # no [ ] $ \\ ; { } or spaces: nothing Tcl would substitute


def check_project_tcl(path: Path) -> None:
    """Every `set name value` in hls4ml's project.tcl is a plain word (the part, clock, project name):
    hls4ml writes them into double quotes, where Tcl would run `[...]` and expand `$...`."""
    path = Path(path)
    if not path.is_file():
        return
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        m = _TCL_SET.match(line)
        if m and not _TCL_SAFE_WORD.match(m.group(2)):
            raise ConfigError(f"{path}: line {i}: `set {m.group(1)}` has the value {m.group(2)[:80]!r}, which Tcl "
                              f"would substitute or execute; refusing the project (re-convert with a valid value)")
        if m and m.group(1) == "part":
            check_part(m.group(2).strip('"'), f"{path}: line {i}: part")
        if m and m.group(1) == "clock_period":
            try:
                ok = math.isfinite(float(m.group(2).strip('"'))) and float(m.group(2).strip('"')) > 0
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(f"{path}: line {i}: clock_period {m.group(2)!r} is not a positive finite number")


# --------------------------------------------------------------------------------- output / locks


def out_dir(path: str | Path | None, flag: str = "--out") -> Path | None:
    """An output folder argument: may not exist yet, but may not be a file."""
    if path is None:
        return None
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag}: {show(p)} is an existing file; give a folder (it is created if missing)")
    parent = next((q for q in p.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{flag}: {show(parent)} is a file, so the folder {show(p)} cannot be created below it")
    return p


def out_file(path: str | Path | None, flag: str = "--out") -> Path | None:
    """An output file argument: may not exist yet, but may not be a folder (or sit below a file)."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag}: {show(p)} is an existing folder; give a file name (e.g. {show(p / 'fitted.yaml')})")
    parent = next((q for q in p.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{flag}: {show(parent)} is a file, so {show(p)} cannot be written below it")
    return p


def clean_orphans(folder: Path, prefix: str) -> list[Path]:
    """Remove temporary folders `prefix*` a killed run left in `folder` (call with its lock held)."""
    import shutil

    gone = []
    if Path(folder).is_dir():
        for p in Path(folder).glob(prefix + "*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p)
    return gone


class BusyError(HwflowError):
    """Another hwflow run holds the build folder's lock."""

    exit_code = 2


@contextmanager
def build_lock(folder: Path, what: str):
    """An exclusive lock on `folder/.lock` for the duration (fcntl: released when the process dies)."""
    import fcntl

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write the build folder ({exc.strerror or exc}); "
                          f"make it writable or set HWFLOW_BUILD_DIR") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise BusyError(f"{folder}: busy: another `hwflow {what}` (pid {other}) is writing this build folder; "
                            f"wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
