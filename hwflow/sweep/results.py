"""The sweep's result table (CSV growing row by row, Parquet when pyarrow exists), Pareto plot, best point.

The CSV is appended one complete line per finished point and fsync'ed, so a killed sweep
leaves every finished point on disk; a line cut by the kill (no trailing newline) is dropped
when the table is opened again, and the file is rewritten clean before new rows go in.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hwflow.errors import ConfigError
from hwflow.sweep.point import FAILED, META, METRICS, OK


class ResultTable:
    """results.csv of one sweep: META + parameter columns + METRICS."""

    def __init__(self, path: Path, parameters: list[str]):
        self.path = Path(path)
        self.columns = [*META, *parameters, *METRICS]
        clash = set(parameters) & (set(META) | set(METRICS))
        if clash:
            raise ConfigError(f"sweep parameters clash with result columns: {sorted(clash)}")

    def load(self, *, drop_failed: bool = False) -> list[dict[str, str]]:
        """Rows already on disk (complete lines only); rewrites the file clean. [] when absent."""
        if not self.path.exists():
            return []
        text = self.path.read_text()
        if text and not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]  # the kill cut the last line
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None:
            return []
        if header != self.columns:
            params = ", ".join(header[len(META):len(header) - len(METRICS)])
            raise ConfigError(f"{self.path}: written by a sweep over other parameters ({params}); "
                              f"use another --out folder or delete the file")
        rows, seen = [], set()
        for cells in reader:
            if len(cells) != len(self.columns):
                continue
            row = dict(zip(self.columns, cells))
            if row["key"] in seen or (drop_failed and row["status"] == FAILED):
                continue
            seen.add(row["key"])
            rows.append(row)
        self._rewrite(rows)
        return rows

    def _rewrite(self, rows: list[dict]) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, self.columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.path)

    def append(self, row: dict[str, Any]) -> None:
        """One finished point: a complete line, flushed to disk before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        buf = io.StringIO()
        w = csv.DictWriter(buf, self.columns, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow({k: _cell(v) for k, v in row.items()})
        with open(self.path, "a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())

    def frame(self):
        """The table as a pandas DataFrame with numeric columns typed."""
        import pandas as pd

        df = pd.read_csv(self.path, dtype={"key": str}, keep_default_na=True)
        return df

    def write_parquet(self) -> Path | None:
        """results.parquet next to the CSV when pyarrow is installed (not a dependency)."""
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None or not self.path.exists():
            return None
        out = self.path.with_suffix(".parquet")
        tmp = out.with_suffix(".parquet.tmp")
        self.frame().to_parquet(tmp)
        os.replace(tmp, out)
        return out


def _cell(v):
    if isinstance(v, float) and math.isnan(v):
        return ""
    if isinstance(v, str):
        return v.replace("\r", " ").replace("\n", " ")
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return v


# ------------------------------------------------------------------------------------ analysis


def accuracy_column(df) -> str | None:
    """The accuracy a point is judged by: C-sim top-1 when measured, else the QKeras model's."""
    for col in ("csim_accuracy", "qkeras_accuracy"):
        if col in df and df[col].notna().any():
            return col
    return None


def pareto_mask(df, minimize: list[str], maximize: list[str] = ()):
    """True for rows no other row dominates (<= on every minimized, >= on every maximized, one strict)."""
    import numpy as np

    cols = [df[c].to_numpy(float) for c in minimize] + [-df[c].to_numpy(float) for c in maximize]
    v = np.stack(cols, axis=1) if cols else np.zeros((len(df), 0))
    keep = np.ones(len(df), bool)
    for i in range(len(df)):
        dominated = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
        keep[i] = not dominated.any()
    return keep


def ok_rows(df):
    ok = df[df["status"] == OK].copy()
    return ok[ok["latency_us"].notna() & ok["util_max"].notna()]


def fitting(df):
    return df[df["fits"].astype(str).str.lower() == "true"]


def pick_best(df, objective: str):
    """The best ok point among those that fit the board, by `objective`; accuracy breaks ties (and is
    the objective itself for 'accuracy'). When no point fits: the smallest one (closest to fitting).
    None when no point is ok."""
    ok = ok_rows(df)
    if ok.empty:
        return None
    pool = fitting(ok)
    if pool.empty:
        return ok.sort_values(["util_max", "latency_us"], kind="stable").iloc[0]
    acc = accuracy_column(pool)
    if objective == "accuracy":
        if acc is None:
            raise ConfigError("objective: accuracy needs accuracy numbers (weights: trained, or depth: csim)")
        order, asc = [acc, "latency_us", "util_max"], [False, True, True]
    else:
        order, asc = [objective, "util_max", "latency_us"], [True, True, True]
        if acc is not None:
            order.insert(1, acc)
            asc.insert(1, False)
    return pool.sort_values(order, ascending=asc, kind="stable").iloc[0]


def plot_pareto(df, out: Path, title: str, best_key: str | None = None) -> Path | None:
    """Resources (max % of the board) vs latency, colour = accuracy when known; front and best marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ok = ok_rows(df)
    if ok.empty:
        return None
    acc = accuracy_column(ok)
    fig, ax = plt.subplots(figsize=(7, 5))
    if acc is not None:
        sc = ax.scatter(ok["util_max"], ok["latency_us"], c=ok[acc], cmap="viridis", s=28, zorder=2)
        fig.colorbar(sc, ax=ax, label=f"top-1 ({acc.replace('_', ' ')})")
    else:
        ax.scatter(ok["util_max"], ok["latency_us"], s=28, color="tab:blue", zorder=2)
    front = ok[pareto_mask(ok, ["util_max", "latency_us"], [acc] if acc else [])]
    front2d = ok[pareto_mask(ok, ["util_max", "latency_us"])].sort_values("util_max")
    ax.plot(front2d["util_max"], front2d["latency_us"], "-", color="tab:red", lw=1, zorder=1,
            label=f"Pareto front ({len(front)} points{' incl. accuracy' if acc else ''})")
    ax.scatter(front["util_max"], front["latency_us"], facecolors="none", edgecolors="tab:red", s=70, zorder=3)
    if best_key is not None and (ok["key"] == best_key).any():
        b = ok[ok["key"] == best_key].iloc[0]
        ax.scatter([b["util_max"]], [b["latency_us"]], marker="*", s=260, color="gold", edgecolors="k", zorder=4,
                   label=f"best ({best_key})")
    ax.axvline(100, color="grey", ls="--", lw=1, label="100% of the board")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("resources: max utilisation of the board (%, binding resource)")
    ax.set_ylabel("latency (us, estimate)")
    n_failed = int((df["status"] == FAILED).sum())
    ax.set_title(f"{title}: {len(ok)} points ok, {n_failed} failed")
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def export_best(base_raw: dict, base_path: Path, point: dict, out: Path) -> Path:
    """The best point as a flow config YAML that `hwflow hls --config` accepts.

    Relative data paths are made absolute (the file does not live next to the base config);
    the file is validated with load_config before it is moved into place.
    """
    from hwflow.config import load_config
    from hwflow.sweep.spec import apply_overrides

    merged = apply_overrides(base_raw, point)
    data = merged.get("data")
    if isinstance(data, dict) and data.get("source", "default") != "default" and not Path(data["source"]).is_absolute():
        data["source"] = str((Path(base_path).parent / data["source"]).resolve())
    header = (f"# best point of a sweep over {base_path}\n"
              f"# overrides: {json.dumps(point, sort_keys=True)}\n")
    tmp = out.with_name(out.stem + ".tmp.yaml")
    tmp.write_text(header + yaml.safe_dump(merged, sort_keys=False))
    load_config(tmp)
    os.replace(tmp, out)
    return out


@dataclass
class Summary:
    total: int
    ok: int
    failed: int
    best_key: str | None


def write_summary(df, out: Path, title: str, parameters: list[str], best, objective: str) -> Summary:
    """summary.md: counts, the best point, the Pareto front, the failures."""
    ok = ok_rows(df)
    failed = df[df["status"] == FAILED]
    acc = accuracy_column(ok) if not ok.empty else None
    n_ok = int((df["status"] == OK).sum())
    lines = [f"# Sweep {title}", "", f"{len(df)} points: {n_ok} ok, {len(failed)} failed.", ""]
    cols = ["key", *parameters, "util_max", "binding", "latency_us", "ii_cycles", "est_dsp", "est_lut", "est_bram_18k"]
    if acc:
        cols.append(acc)
    if best is not None and fitting(ok).empty:
        lines += [f"No point fits its board: best.yaml is the smallest point, `{best['key']}` "
                  f"({best['util_max']:.0f}% of {best['binding']}).", ""]
    elif best is not None:
        lines += [f"Best by {objective} among the {len(fitting(ok))} points that fit the board: `{best['key']}` "
                  f"-> best.yaml", ""]
    if not ok.empty:
        front = ok[pareto_mask(ok, ["util_max", "latency_us"], [acc] if acc else [])].sort_values("util_max")
        lines += ["## Pareto front", "", _md_table(front, cols), ""]
    if not failed.empty:
        lines += ["## Failed points", "", _md_table(failed, ["key", *parameters, "error"]), ""]
    tmp = out.with_name(out.stem + ".tmp.md")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, out)
    return Summary(len(df), int((df["status"] == OK).sum()), len(failed), None if best is None else str(best["key"]))


def _md_table(df, cols: list[str]) -> str:
    cols = [c for c in cols if c in df]

    def fmt(v):
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.4g}"
        return str(v).replace("|", "/")

    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    rows += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for _, r in df.iterrows()]
    return "\n".join(rows)
