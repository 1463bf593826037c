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
- Model files: the stored model config is read as JSON and refused if it holds Lambda layers
  (Python code run while loading) *before* Keras loads anything; `.keras` loads with safe_mode.
- Command-line integers/floats with bounds, output paths that must be folders, and a lock file
  that keeps two runs from writing one build folder at once.

PyYAML has no alias/size limit of its own and no duplicate-key check, hence the small loader
below (a SafeLoader subclass; no new constructors, so still exactly safe_load's types).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
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


def read_text_file(path: Path, what: str, max_bytes: int = MAX_YAML_BYTES) -> str:
    """A small UTF-8 text file, or a one-line ConfigError (missing, too large, binary)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ConfigError(f"{path}: {size:,} bytes is too large for a {what}; the limit is {max_bytes:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text {what} (byte {exc.start} is not UTF-8); expected YAML text") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text {what} (contains NUL bytes); expected YAML text")
    return text


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


# ------------------------------------------------------------------------------------ model files

def config_dicts(o):
    """Every mapping in a Keras model config (the JSON tree of layers, nested models, initialisers), depth first."""
    if isinstance(o, dict):
        yield o
        for v in o.values():
            yield from config_dicts(v)
    elif isinstance(o, list):
        for v in o:
            yield from config_dicts(v)


_CODE_LAYERS = {"Lambda"}  # layers whose config carries Python code (marshalled bytecode / a function)


def _model_config(path: Path) -> Any:
    """The stored model config (JSON) of a .h5 or .keras file, read without Keras."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                with z.open("config.json") as f:
                    return json.loads(f.read(MAX_YAML_BYTES * 4))
        except (KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--keras: {path}: a .keras archive without a readable config.json ({exc})") from None
    try:
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError:
        raise ConfigError(f"--keras: {path} is not a Keras model file (neither .keras zip nor HDF5)") from None
    if raw is None:
        raise ConfigError(f"--keras: {path}: an HDF5 file without a model_config (weights only?); "
                          f"save the whole model (model.save)")
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"--keras: {path}: its model_config is not JSON") from None


def check_model_file(path: Path) -> str:
    """Refuse a model file whose config holds code, before anything deserializes it. Returns its format."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--keras: {path} does not exist")
    found = [str((o.get("config") or {}).get("name", o.get("class_name"))) + f" ({o.get('class_name')})"
             for o in config_dicts(_model_config(path))
             if o.get("class_name") in _CODE_LAYERS or (isinstance(o.get("config"), dict)
                                                        and "function_type" in o["config"])]
    if found:
        raise ConfigError(f"--keras: {path}: refused: layer {found[0]} holds Python code that would run while loading"
                          f"{f' (and {len(found) - 1} more)' if len(found) > 1 else ''}; "
                          f"replace Lambda layers with built-in or QKeras layers")
    return "keras" if zipfile.is_zipfile(path) else "h5"


def load_model_file(path: Path):
    """A saved Keras/QKeras model, after check_model_file; `.keras` with Keras' safe_mode on."""
    path = Path(path)
    fmt = check_model_file(path)
    import tensorflow as tf
    from qkeras.utils import _add_supported_quantized_objects

    from hwflow.hls_ext.keras_layers import CUSTOM_OBJECTS

    objects: dict = dict(CUSTOM_OBJECTS)
    _add_supported_quantized_objects(objects)
    kw = {"safe_mode": True} if fmt == "keras" else {}
    try:
        try:
            return tf.keras.models.load_model(path, custom_objects=objects, compile=False, **kw)
        except TypeError as exc:
            if fmt != "keras" or "could not be deserialized" not in str(exc):
                raise
            return _load_qkeras_keras(path, objects)
    except Exception as exc:  # noqa: BLE001 - Keras raises OSError/ValueError/TypeError/KeyError for bad files
        msg = " ".join(str(exc).split())[:200]
        raise ConfigError(f"--keras: {path} is not a loadable Keras/QKeras model ({type(exc).__name__}: {msg})") from None


def _load_qkeras_keras(path: Path, objects: dict):
    """A QKeras model in the .keras format (e.g. the keras_model.keras hls4ml writes into a project).

    Keras 2.14 hands QActivation its quantizer as a plain config dict, which QKeras 0.9 cannot take;
    so the (already checked) config has its QKeras quantizer dicts turned into quantizer objects
    (only subclasses of qkeras' BaseQuantizer), the model is rebuilt from it and the weights loaded.
    """
    import qkeras.quantizers as qq
    import tensorflow as tf

    def fix(o):
        if isinstance(o, dict):
            cls = getattr(qq, str(o.get("class_name")), None) if o.get("module") == "qkeras.quantizers" else None
            if isinstance(cls, type) and issubclass(cls, qq.BaseQuantizer) and isinstance(o.get("config"), dict):
                return cls(**o["config"])
            return {k: fix(v) for k, v in o.items()}
        return [fix(v) for v in o] if isinstance(o, list) else o

    conf = fix(_model_config(path))
    with tf.keras.utils.custom_object_scope(objects):
        model = tf.keras.Model.from_config(conf["config"], custom_objects=objects)
    model.load_weights(path)
    return model


# --------------------------------------------------------------------------------- output / locks


def out_dir(path: str | Path | None, flag: str = "--out") -> Path | None:
    """An output folder argument: may not exist yet, but may not be a file."""
    if path is None:
        return None
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{flag}: {p} is an existing file; give a folder (it is created if missing)")
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
