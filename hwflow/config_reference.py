"""The config reference (docs/config.md) written from the typed config in hwflow.config.

Every key a config file may hold is a field of one of the section dataclasses (`DataSection`,
`HlsSection`, ...) or, under `model:`, a keyword parameter of the architecture's registered entry
point (`zoo.params_of`). This module lists them with their type, default and the comment on the
field's line in hwflow/config/sections.py, so the page cannot drift from the code: the docs build calls
`reference_markdown()` (docs/hooks.py), and tests/test_docs.py checks that every key is listed.
"""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
from dataclasses import MISSING, Field, fields
from enum import Enum
from pathlib import Path

from hwflow import config as C
from hwflow.config import sections
from hwflow import zoo
from hwflow.boards import BOARDS, Board

# Fields of the section dataclasses that are not keys of the file (derived or bookkeeping).
NOT_KEYS = {"written", "path", "init_from_key"}

# section -> [(key prefix, dataclass)]: the tables of each section, in page order.
TABLES: dict[str, list[tuple[str, type]]] = {
    "data": [("", C.DataSection)],
    "train": [("", C.TrainSection)],
    "quantization": [("default.", C.QuantDefaults), ("layers.<layer>.", C.LayerQuantOverride)],
    "prune": [("", C.PruneSection)],
    "hls": [("", C.HlsSection), ("layers.<layer>.", C.LayerHls)],
    "parity": [("", C.ParitySection)],
}
# Keys whose value is a mapping documented by a table of its own (listed, but not as a leaf).
CONTAINERS = {("quantization", "default"), ("quantization", "layers"), ("hls", "layers")}

_CHOICES = {"Backend": C.Backend, "IoType": C.IoType, "Strategy": C.Strategy, "FifoMode": C.FifoMode}


def _comments() -> dict[int, str]:
    """Line number -> the comment on that line of hwflow/config/sections.py."""
    src = Path(sections.__file__).read_text()
    return {t.start[0]: t.string.lstrip("#").strip()
            for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type == tokenize.COMMENT}


def _field_lines() -> dict[tuple[str, str], int]:
    """(class name, field name) -> line of its definition in hwflow/config/sections.py."""
    tree = ast.parse(Path(sections.__file__).read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out[(node.name, item.target.id)] = item.lineno
    return out


def key_fields(cls: type) -> list[Field]:
    """The fields of a section dataclass that are keys of the file."""
    return [f for f in fields(cls) if f.name not in NOT_KEYS]


def type_text(f: Field) -> str:
    """The field's annotation for people: enums as their choices, boards as names, `|` as `or`."""
    t = str(f.type)
    for name, enum in _CHOICES.items():
        if name in t.split(" | "):
            t = t.replace(name, "one of " + ", ".join(m.value for m in enum))
    t = t.replace("Board", "board name").replace("QuantValue", "bits (int) or quantizer (str)")
    t = t.replace("tuple[tuple[int, float], ...]", "list of {epochs, learning_rate}")
    return t.replace(" | ", " or ")


def _value_text(v) -> str:
    if isinstance(v, Enum):
        return str(v.value)
    if isinstance(v, Board):
        return v.name
    if isinstance(v, tuple):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def default_text(f: Field) -> str:
    if f.default is not MISSING:
        return _value_text(f.default)
    if f.default_factory is not MISSING:
        return _value_text(f.default_factory())
    return "required"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def section_rows(section: str) -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every key of a section (model excluded: see model_rows)."""
    comments, lines = _comments(), _field_lines()
    rows = []
    for prefix, cls in TABLES[section]:
        for f in key_fields(cls):
            if (section, f.name) in CONTAINERS and not prefix:
                continue
            meaning = comments.get(lines.get((cls.__name__, f.name), -1), "")
            if section == "hls" and f.name == "precision":
                meaning = meaning or ("per-layer precision strings, keys: " + ", ".join(C.PRECISION_KEYS))
            rows.append((prefix + f.name, type_text(f), default_text(f), meaning))
    return rows


def model_rows() -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The `model:` keys of every architecture as one table: key, type, then per architecture its
    default (with the valid values, where the entry point restricts them), "-" where it has no such key."""
    archs = zoo.list_models()
    params = {a: zoo.params_of(a) for a in archs}
    names = list(dict.fromkeys(n for a in archs for n in params[a]))
    rows = [("arch", "str", *(f"{a} (required)" for a in archs))]
    for name in names:
        first = next(params[a][name] for a in archs if name in params[a])
        t = "[height, width, channels]" if name == "input_shape" else type(first.default).__name__
        cells = []
        for a in archs:
            if name not in params[a]:
                cells.append("-")
                continue
            d = params[a][name].default
            valid = zoo.choices_of(a).get(name)
            cells.append(_value_text(list(d) if isinstance(d, tuple) else d)
                         + (f" ({C._valid_text(valid)})" if valid is not None else ""))
        rows.append((name, t, *cells))
    return ("key", "type", *archs), rows


def _table(head: tuple[str, ...], rows) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) if i else f"`{c}`" for i, c in enumerate(r)) + " |" for r in rows]
    return out + [""]


def _doc(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return "" if doc.startswith(cls.__name__ + "(") else " ".join(doc.split())


def reference_markdown() -> str:
    """The reference part of docs/config.md: one table per section, every key with type and default."""
    out = ["## Sections", "",
           "A config has these sections; only `model` is required: " + ", ".join(f"`{s}`" for s in C.SECTIONS) + ".", ""]
    out += ["## model", "",
            "`model: {arch: NAME, ...}` builds a network of the model zoo; the other keys are the keyword "
            "parameters of that architecture's entry point. `model: {file: path/to/model.h5}` takes a saved "
            "Keras or QKeras model instead (see *Bring your own model*). Architectures: "
            + ", ".join(f"`{a}`" for a in zoo.list_models()) + ".", ""]
    head, rows = model_rows()
    out += ["Keys of each architecture and their defaults (valid values in brackets; - : not a key of that "
            "architecture):", ""]
    out += _table(head, rows)
    for section in TABLES:
        out += [f"## {section}", ""]
        intro = " ".join(_doc(cls) for prefix, cls in TABLES[section] if not prefix)
        if intro:
            out += [intro, ""]
        out += _table(("key", "type", "default", "meaning"), section_rows(section))
    out += ["## Boards", "", "`hls.board` takes one of these names (hwflow/boards.py); the part and the default "
            "clock come from the board.", ""]
    out += _table(("board", "part", "default clock (ns)", "DSP", "LUT", "BRAM_18K"),
                  [(b.name, b.part, f"{b.clock_period_ns:g}", f"{b.dsp:,}", f"{b.lut:,}", f"{b.bram_18k:,}")
                   for b in BOARDS.values()])
    return "\n".join(out)
