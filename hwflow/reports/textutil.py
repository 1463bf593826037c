"""Small helpers shared by the parsers: numbers with unknowns, ASCII tables, file reading.

Hand-written because the Xilinx text reports have no machine-readable twin and hls4ml's own
`parse_vivado_report` returns strings, prints instead of raising and reads only the top level.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from hwflow.errors import ReportError

UNKNOWN = {"", "undef", "?", "-", "na", "n/a", "none"}
_TIME_UNITS = {"ps": 1e-12, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def read_text(path: Path) -> str:
    """The file's text; an empty file is a ReportError (a tool that crashed mid-write)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise ReportError(f"{path}: cannot read report ({exc.strerror})") from None
    if not text.strip():
        raise ReportError(f"{path}: report file is empty")
    return text


def number(text: str | None, *, file: Path, key: str, kind: type = int) -> int | float | None:
    """`text` as int/float; None for the tools' unknown markers (undef, ?, -, NA)."""
    if text is None:
        return None
    t = text.strip().replace(",", "")
    if t.lower() in UNKNOWN or t.startswith("~"):
        return None
    try:
        v = kind(t) if kind is float else int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            raise ReportError(f"{file}: {key} = {t!r} is not a number (expected {kind.__name__}, 'undef' or '?')") from None
        v = int(f) if kind is int and f.is_integer() else f
    if isinstance(v, float) and not math.isfinite(v):  # a NaN compares False with every limit: "fits"
        raise ReportError(f"{file}: {key} = {t!r} is not a finite number (expected {kind.__name__}, 'undef' or '?')")
    return v


def seconds(text: str | None, *, file: Path, key: str) -> float | None:
    """'0.480 ms' / '60.000 ns' / '1.975 us' -> seconds; None when unknown."""
    if text is None or text.strip().lower() in UNKNOWN:
        return None
    m = re.fullmatch(r"\s*([-+0-9.eE]+)\s*(ps|ns|us|ms|s)\s*", text)
    if not m:
        raise ReportError(f"{file}: {key} = {text.strip()!r} is not a time with a unit (ns, us, ms)")
    v = float(m.group(1)) * _TIME_UNITS[m.group(2)]
    if not math.isfinite(v):
        raise ReportError(f"{file}: {key} = {text.strip()!r} is not a finite time")
    return v


def split_row(line: str) -> list[str]:
    """'|a |  b|' -> ['a', 'b']."""
    s = line.strip()
    return [c.strip() for c in s.strip("|").split("|")]


def ascii_tables(lines: list[str], start: int = 0) -> list[tuple[int, list[list[list[str]]]]]:
    """All `+---+` / `|..|` tables from line `start`: (first line index, blocks of rows).

    A block is the rows between two `+---` rulers, so blocks[0] is the header and the rest
    are data (hls4ml reports put the Total row in its own block).
    """
    tables = []
    i = start
    n = len(lines)
    while i < n:
        s = lines[i].lstrip()
        if s.startswith("+-") and i + 1 < n and lines[i + 1].lstrip().startswith("|"):
            first = i
            blocks: list[list[list[str]]] = [[]]
            while i < n and lines[i].lstrip()[:1] in ("+", "|"):
                s = lines[i].lstrip()
                if s.startswith("|"):
                    blocks[-1].append(split_row(s))
                elif blocks[-1]:
                    blocks.append([])
                i += 1
            tables.append((first, [b for b in blocks if b]))
        else:
            i += 1
    return tables
