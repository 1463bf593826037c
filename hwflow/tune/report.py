"""Outputs of `hwflow tune`: the tuned YAML, the sensitivity heat map, the Pareto plot, tune.md/json."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import yaml

from hwflow.paths import write_text_atomic
from hwflow.tune.search import pareto_front, sens_key
from hwflow.tune.space import LayerInfo, sparsity_of


def write_tuned_yaml(cfg, overrides: dict[str, dict], out: Path, note: str,
                     prune_layers: dict[str, float] | None = None) -> Path:
    """A copy of cfg's YAML with quantization.layers replaced by `overrides` (merged over the
    original per-layer entries) and, when the search pruned layers, prune.layers likewise (the
    rest of a prune section the config had is kept); a relative data.source is re-based so it
    resolves from `out`."""
    raw = copy.deepcopy(cfg.raw)
    q = raw.setdefault("quantization", {}) or {}
    raw["quantization"] = q
    layers = dict(q.get("layers") or {})
    for name, entry in overrides.items():
        layers[name] = {**(layers.get(name) or {}), **entry}
    q["layers"] = layers
    if prune_layers:
        p = dict(raw.get("prune") or {})
        p["layers"] = {**dict(p.get("layers") or {}), **{n: float(v) for n, v in prune_layers.items()}}
        raw["prune"] = p
    # QAT of the tuned widths starts from the base config's trained 8-bit QKeras weights (as in
    # hwflow tune), so `make hls` reproduces the tuned accuracy on a machine without the cache
    train_raw = dict(raw.get("train") or {})
    train_raw["init_from"] = os.path.relpath(cfg.path.resolve(), Path(out).resolve().parent)
    raw["train"] = train_raw
    data = raw.get("data") or {}
    if cfg.data.path is not None and not Path(data.get("source", "")).is_absolute():
        data["source"] = os.path.relpath(cfg.data.path, Path(out).resolve().parent)
    header = "".join(f"# {line}\n" for line in note.splitlines())
    write_text_atomic(Path(out), header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, width=110))
    return Path(out)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def sensitivity_table(state, infos: list[LayerInfo], base: dict, weight_bits, act_bits, sparsities=()) -> dict:
    """{"weight": {layer: {bits: drop points}}, "activation": {...}, "sparsity": {layer: {share: drop}}}
    vs the baseline QKeras model ("sparsity" only when sparsities were searched)."""
    out: dict = {"baseline_accuracy": state.base_acc, "weight": {}, "activation": {}}
    roles = [("weight", weight_bits, int), ("activation", act_bits, int)]
    if sparsities:
        out["sparsity"] = {}
        roles.append(("sparsity", sparsities, float))
    for role, cands, kind in roles:
        for i in infos:
            row = {}
            for b in cands:
                acc = state.sensitivity.get(sens_key(i.name, role, b))
                if acc is not None:
                    row[kind(b)] = round(100.0 * (state.base_acc - acc), 3)
            if row:
                out[role][i.name] = row
    return out


def plot_sensitivity(table: dict, infos: list[LayerInfo], weight_bits, act_bits, path: Path, title: str,
                     sparsities=()) -> Path:
    """Heat maps of the drop per (layer, candidate): weights, activations and, when searched,
    sparsity (blank cells: the layer cannot take that value, e.g. a depthwise layer's sparsity)."""
    plt = _plt()
    names = [i.name for i in infos]
    panels = [("weight", sorted(weight_bits, reverse=True), int, "bits"),
              ("activation", sorted(act_bits, reverse=True), int, "bits")]
    if sparsities and "sparsity" in table:
        panels.append(("sparsity", sorted(sparsities), float, ""))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 0.32 * len(names) + 1.8), sharey=True)
    vmax = max([v for role, *_ in panels for row in table[role].values() for v in row.values()] + [1.0])
    im = None
    for ax, (role, cands, kind, unit) in zip(axes, panels):
        grid = np.full((len(names), len(cands)), np.nan)
        for r, n in enumerate(names):
            for c, b in enumerate(cands):
                grid[r, c] = table[role].get(n, {}).get(kind(b), np.nan)
        im = ax.imshow(np.clip(grid, 0, None), aspect="auto", cmap="magma_r", vmin=0, vmax=min(vmax, 50))
        for r in range(len(names)):
            for c in range(len(cands)):
                if not np.isnan(grid[r, c]):
                    ax.text(c, r, f"{grid[r, c]:.1f}", ha="center", va="center", fontsize=6,
                            color="white" if grid[r, c] > 0.5 * min(vmax, 50) else "black")
        ax.set_xticks(range(len(cands)), [f"{b:g}" for b in cands])
        ax.set_xlabel("sparsity (share of zero weights; only this layer pruned)" if role == "sparsity"
                      else f"{role} {unit} (only this layer narrowed)")
        ax.set_title(role if role == "sparsity" else f"{role}s")
    axes[0].set_yticks(range(len(names)), names, fontsize=7)
    fig.colorbar(im, ax=axes, label="top-1 drop vs 8-bit QKeras (points)", shrink=0.8)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_pareto(visited: list[dict], float_acc: float, budget: float, final: dict | None, path: Path,
                title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    acc = np.array([100 * v["accuracy"] for v in visited])
    cst = np.array([v["cost"] for v in visited])
    ok = np.array([v["accepted"] for v in visited])
    ax.scatter(cst[ok], acc[ok], s=14, c="tab:blue", label="accepted (search path)")
    ax.scatter(cst[~ok], acc[~ok], s=14, c="tab:gray", marker="x", label="rejected")
    front = pareto_front(visited)
    ax.plot([v["cost"] for v in front], [100 * v["accuracy"] for v in front], "-", c="tab:orange", lw=1,
            label="Pareto front (visited)")
    ax.axhline(100 * float_acc, c="k", lw=0.8, ls="--", label="float")
    ax.axhline(100 * float_acc - budget, c="tab:red", lw=0.8, ls=":", label=f"float - {budget:g} points")
    if final is not None:
        ax.scatter([final["cost"]], [100 * final["accuracy"]], marker="*", s=160, c="tab:green", zorder=5,
                   label="chosen after QAT")
    ax.set_xlabel("cost: 50% MAC-weighted bits + 50% weight bits (x density), 100 = baseline")
    ax.set_ylabel("top-1 on the tuning slice (%)")
    lo = max(min(acc.min(), 100 * float_acc - 3 * budget - 2), 0)
    ax.set_ylim(lo, max(acc.max(), 100 * float_acc) + 1)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def markdown(r) -> str:
    """tune.md from a TuneResult (the sparsity columns only when sparsity was searched or the
    config was pruned already: a widths-only report reads as before)."""
    show_sp = bool(r.sparsities) or any(sparsity_of(e) > 0 for e in r.base.values())
    zw = ("zero weights | ", "---|") if show_sp else ("", "")
    L = [f"# Quantization tuning: {r.name}", "",
         f"Budget: top-1 drop <= {r.budget:g} points vs float. Search on {r.slice_images} {r.slice_split} images "
         f"(a seeded random subset{', held out of training' if r.slice_split == 'validation' else ''}); "
         + (f"accuracy below on all {r.test_images} test images, none of which the search saw. "
            if r.unseen_images == r.test_images else
            f"accuracy below on all {r.test_images} test images and on the {r.unseen_images} the search never saw. ")
         + f"Cost: {r.cost_metric}.", "",
         f"| model | weights (mean bits) | {zw[0]}cost | float | QKeras | C-sim | drop vs float (QKeras) | "
         "QKeras, unseen images |",
         f"|---|---|{zw[1]}---|---|---|---|---|---|"]
    for row in r.rows:
        drop = "-" if row["qkeras"] is None else f"{100 * (r.float_acc - row['qkeras']):.2f}"
        zeros = f"{100 * row.get('sparsity', 0.0):.1f}% | " if show_sp else ""
        L.append(f"| {row['label']} | {row['mean_weight_bits']:.2f} | {zeros}{row['cost']:.1f} | {_pct(r.float_acc)} | "
                 f"{_pct(row['qkeras'])} | {_pct(row.get('csim'))} | {drop} | {_pct(row.get('qkeras_unseen'))} |")
    engine = {"qkeras": "the QKeras model", "emulate": "the firmware (hls4ml conversion + bit-exact emulator)"}[r.engine]
    L += ["", f"Accuracy of each point from {engine}."]
    if r.engine_check:
        L[-1] += (f" Firmware (emulator) vs QKeras predictions on the tuning slice: "
                  f"{100 * r.engine_check['baseline_agreement']:.2f}% identical for the baseline, "
                  f"{100 * r.engine_check['chosen_agreement']:.2f}% for the chosen point.")
    L += ["", f"Search: {len(r.visited)} points visited ({sum(v['accepted'] for v in r.visited)} accepted), "
          f"{r.search_s:.0f} s; sensitivity {r.sensitivity_points} points, {r.sensitivity_s:.0f} s; "
          f"QAT of the final choice {r.qat_s:.0f} s.", ""]
    if r.estimates:
        L += ["| resources (hwflow.estimate) | " + " | ".join(r.estimates[0]["totals"]) + " |",
              "|---|" + "---|" * len(r.estimates[0]["totals"])]
        for e in r.estimates:
            L.append(f"| {e['label']} | " + " | ".join(str(v) for v in e["totals"].values()) + " |")
        L.append("")
    L += ["## Bits and sparsity per layer" if show_sp else "## Bits per layer", "",
          "| layer | MACs | weights | weight bits | activation bits |" + (" sparsity | zeros after QAT |" if show_sp else ""),
          "|---|---|---|---|---|" + ("---|---|" if show_sp else "")]
    for i in r.infos:
        w, a = r.point[i.name][:2]
        w0, a0 = r.base[i.name][:2]
        s, s0 = sparsity_of(r.point[i.name]), sparsity_of(r.base[i.name])
        if not i.prunable and s == s0 == 0:
            sp = "-"  # depthwise (TFMOT does not prune it) or excluded by prune.exclude
        else:
            sp = f"{s0:g} -> **{s:g}**"
        got = r.sparsity_after_qat.get(i.name)
        L.append(f"| {i.name} | {i.macs:,} | {i.weights:,} | {w0} -> **{w}** | "
                 f"{'-' if a is None else f'{a0} -> **{a}**'} |"
                 + (f" {sp} | {'-' if got is None else f'{100 * got:.1f}%'} |" if show_sp else ""))
    if r.sparsities:
        L += ["", f"Sparsity candidates {', '.join(f'{v:g}' for v in r.sparsities)} (prunable layers: not "
              "depthwise, not in prune.exclude); a layer's zeros count in the cost by its density. The tuned "
              "config's QAT magnitude-prunes its start weights to prune.layers and keeps them zero (frozen mask)."]
    L += ["", f"Tuned config: `{r.yaml_path}`. Plots: `{r.sensitivity_png.name}` (per-layer drop when only that "
          f"layer is narrowed), `{r.pareto_png.name}` (accuracy vs cost of every visited point).", ""]
    return "\n".join(L)


def write_json(path: Path, obj) -> Path:
    write_text_atomic(path, json.dumps(obj, indent=1, default=str))
    return path
