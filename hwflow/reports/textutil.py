"""Small helpers shared by the parsers: numbers with unknowns, ASCII tables, file reading.

Hand-written because the Xilinx text reports have no machine-readable twin and hls4ml's own
`parse_vivado_report` returns strings, prints instead of raising and reads only the top level.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from hwflow.errors import ReportError
from hwflow.guard import read_capped, show

UNKNOWN = {"", "undef", "?", "-", "na", "n/a", "none"}
_TIME_UNITS = {"ps": 1e-12, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


MAX_REPORT_BYTES = 256 << 20  # the largest real report (a hierarchical utilization of a big design) is tens of MB


def read_text(path: Path) -> str:
    """The file's text, read only from a regular file of at most MAX_REPORT_BYTES (a named pipe or a
    link to /dev/zero is refused, never read); an empty file is a ReportError (a tool that crashed mid-write)."""
    text = read_capped(Path(path), "report", MAX_REPORT_BYTES, ReportError).decode("utf-8", errors="replace")
    if not text.strip():
        raise ReportError(f"{show(path)}: report file is empty")
    return text


def read_head(path: Path, n: int | None = 2000) -> str:
    """The first `n` characters (None: all) of a report, with read_text's checks; an empty file gives ''."""
    try:
        return read_text(path)[:n]
    except ReportError as exc:
        if "is empty" in str(exc):
            return ""
        raise


def report_parser(fn):
    """Decorator of every report parser (first argument: the file): a report damaged in a way the
    parser did not foresee (a row cut short, a missing cell, a depth no real report has) is a
    ReportError naming the file, never a traceback."""
    import functools

    @functools.wraps(fn)
    def parse(path, *args, **kwargs):
        try:
            return fn(path, *args, **kwargs)
        except (IndexError, KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise ReportError(f"{show(path)}: cannot read this report ({type(exc).__name__}: "
                              f"{show(' '.join(str(exc).split()), 100)}); damaged or truncated?") from None

    return parse


def number(text: str | None, *, file: Path, key: str, kind: type = int, signed: bool = False) -> int | float | None:
    """`text` as int/float; None for the tools' unknown markers (undef, ?, -, NA). Negative values
    are a ReportError unless `signed` (slack): a negative LUT count or latency would turn a verdict
    into "fits"."""
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
            raise ReportError(f"{file}: {key} = {show(t, 40)!r} is not a number (expected {kind.__name__}, 'undef' or "
                              f"'?')") from None
        v = int(f) if kind is int and f.is_integer() else f
    if isinstance(v, float) and not math.isfinite(v):  # a NaN compares False with every limit: "fits"
        raise ReportError(f"{file}: {key} = {t!r} is not a finite number (expected {kind.__name__}, 'undef' or '?')")
    if v < 0 and not signed:
        raise ReportError(f"{file}: {key} = {show(t, 40)!r} is negative; a resource count, latency or clock is never "
                          f"negative (a damaged report?)")
    return v


def seconds(text: str | None, *, file: Path, key: str) -> float | None:
    """'0.480 ms' / '60.000 ns' / '1.975 us' -> seconds; None when unknown."""
    if text is None or text.strip().lower() in UNKNOWN:
        return None
    m = re.fullmatch(r"\s*([-+0-9.eE]+)\s*(ps|ns|us|ms|s)\s*", text)
    if not m:
        raise ReportError(f"{file}: {key} = {show(text.strip(), 40)!r} is not a time with a unit (ns, us, ms)")
    v = float(m.group(1)) * _TIME_UNITS[m.group(2)]
    if not math.isfinite(v) or v < 0:
        raise ReportError(f"{file}: {key} = {show(text.strip(), 40)!r} is not a finite, non-negative time")
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
