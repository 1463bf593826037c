"""Sweep spec (hls_configs/sweeps/<name>.yaml): which parameters vary, how points are drawn, how deep each runs.

    depth: estimate          # estimate | csim | synth
    weights: trained         # trained (hwflow.train cache) | init (seeded initialisation, no data, no training)
    sampling: grid           # grid (every combination) | random (`samples` distinct combinations, `seed`)
    samples: 50
    seed: 0
    images: 200              # csim: test images per point (default: the config's parity.images)
    objective: latency_us    # best point: latency_us | ii_cycles | util_max | accuracy
    space:                   # lists of values; a global key and the same key under layers.<name>
      reuse_factor: [8, 16, 32]
      strategy: [Latency, Resource]
      io_type: [io_stream]
      board: [pynq-z2, zcu102]
      clock_period_ns: [5, 10]
      bits: [6, 8]           # weight, bias and activation bits together; or weight_bits / bias_bits / activation_bits
      layers:
        conv1: {reuse_factor: [27, 9], weight_bits: [4, 6]}
    include:                 # extra points, same keys with single values (beyond the grid / sample)
      - {reuse_factor: 16, layers: {conv1: {reuse_factor: 3}}}

A point is a flat mapping "parameter id" -> value, where the id is the key ("reuse_factor") or
"layers.<name>.<key>"; `apply_overrides(raw, point)` turns it into a config dict that
`hwflow.config.config_from_dict` validates. Layer names are checked against the built model by
`check_layers` (the error lists the names that exist).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from hwflow.boards import BOARDS
from hwflow.config import BACKENDS, IO_TYPES, STRATEGIES, check_keys, read_yaml
from hwflow.errors import ConfigError
from hwflow.zoo.quant import spec_from_value

DEPTHS = ("estimate", "csim", "synth")
WEIGHTS = ("trained", "init")
SAMPLINGS = ("grid", "random")
OBJECTIVES = ("latency_us", "ii_cycles", "util_max", "accuracy")
TOP_KEYS = ("depth", "weights", "sampling", "samples", "seed", "images", "objective", "space", "include")
BIT_ROLES = {"weight_bits": ("weight",), "bias_bits": ("bias",), "activation_bits": ("activation",),
             "bits": ("weight", "bias", "activation")}
# global parameter -> path in the flow config (bits: quantization.default.<role>)
GLOBAL_PATHS = {"reuse_factor": ("hls", "reuse_factor"), "strategy": ("hls", "strategy"),
                "io_type": ("hls", "io_type"), "board": ("hls", "board"),
                "clock_period_ns": ("hls", "clock_period_ns"), "backend": ("hls", "backend")}
GLOBAL_KEYS = (*GLOBAL_PATHS, *BIT_ROLES)
LAYER_KEYS = ("reuse_factor", "strategy", *BIT_ROLES)
MAX_POINTS = 100_000  # points one sweep may list (counted from the value lists before any is built)


def _check_value(key: str, value: Any, where: str) -> None:
    """One value of one parameter, checked like hwflow.config checks the same key."""
    if key == "reuse_factor":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}: reuse_factor must be an integer >= 1, got {value!r}")
    elif key == "clock_period_ns":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value <= 100:
            raise ConfigError(f"{where}: clock_period_ns must be a number in [0.5, 100], got {value!r}")
    elif key in ("strategy", "io_type", "board", "backend"):
        choices = {"strategy": STRATEGIES, "io_type": IO_TYPES, "board": tuple(BOARDS), "backend": BACKENDS}[key]
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not valid; valid: {', '.join(choices)}")
    elif key == "bits":
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 32:
            raise ConfigError(f"{where}: bits must be an integer 2..32 (weight, bias and activation), got {value!r}")
    else:  # weight_bits / bias_bits / activation_bits: a width or a quantizer string
        spec_from_value(value, role=BIT_ROLES[key][0], where=where)


def _mapping(raw: Any, allowed, where: str) -> dict:
    return check_keys(raw, allowed, where)


def _flatten(section: dict, where: str, *, single: bool) -> dict[str, Any]:
    """space/include section -> {parameter id: list of values (space) or value (include)}."""
    section = _mapping(section, (*GLOBAL_KEYS, "layers"), where)
    out: dict[str, Any] = {}
    items = [(k, k, v) for k, v in section.items() if k != "layers"]
    layers = section.get("layers") or {}
    if not isinstance(layers, dict):
        raise ConfigError(f"{where}.layers: expected a mapping of layer name -> parameters")
    for name, params in layers.items():
        params = _mapping(params, LAYER_KEYS, f"{where}.layers.{name}")
        items += [(f"layers.{name}.{k}", k, v) for k, v in params.items()]
    for pid, key, values in items:
        w = f"{where}.{pid}"
        if single:
            if isinstance(values, (list, dict)):
                raise ConfigError(f"{w}: an include point takes one value, got {values!r}")
            _check_value(key, values, w)
            out[pid] = values
            continue
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{w}: expected a non-empty list of values, got {values!r}")
        for i, v in enumerate(values):
            _check_value(key, v, f"{w}[{i}]")
        if len({json.dumps(v) for v in values}) != len(values):
            raise ConfigError(f"{w}: values repeat: {values!r}")
        out[pid] = values
    return out


def point_key(point: dict[str, Any]) -> str:
    """Stable id of a point: hash of its overrides (the resume key)."""
    return hashlib.sha256(json.dumps(point, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    path: Path
    depth: str
    weights: str
    sampling: str
    samples: int | None
    seed: int
    images: int | None
    objective: str
    space: dict[str, list]  # parameter id -> values, in file order
    include: list[dict[str, Any]] = field(default_factory=list)

    @property
    def parameters(self) -> list[str]:
        """Every parameter id any point sets (the CSV's parameter columns)."""
        ids = list(self.space)
        for p in self.include:
            ids += [k for k in p if k not in ids]
        return ids

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.space.values()) if self.space else 0

    def points(self) -> list[dict[str, Any]]:
        """The points, deterministic for a given spec (so a resumed sweep gets the same ones)."""
        ids = list(self.space)
        if not ids:
            chosen = []
        elif self.sampling == "grid" or (self.samples or 0) >= self.grid_size:
            chosen = [dict(zip(ids, combo)) for combo in itertools.product(*(self.space[i] for i in ids))]
        else:
            # draw coordinates one parameter at a time: the grid may be far too large to enumerate
            rng = random.Random(self.seed)
            seen, chosen = set(), []
            while len(chosen) < self.samples:
                p = {i: rng.choice(self.space[i]) for i in ids}
                k = point_key(p)
                if k not in seen:
                    seen.add(k)
                    chosen.append(p)
        out, keys = [], set()
        for p in chosen + list(self.include):
            k = point_key(p)
            if k not in keys:
                keys.add(k)
                out.append(p)
        return out


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec; every problem is a one-line ConfigError naming file and key."""
    return spec_from_dict(read_yaml(path, "sweep spec"), Path(path))


def spec_from_dict(raw: Any, path: Path) -> SweepSpec:
    where = str(path)
    raw = _mapping(raw, TOP_KEYS, where)

    def choice(key, choices, default):
        v = raw.get(key, default)
        if v not in choices:
            raise ConfigError(f"{where}: {key}: {v!r} is not valid; valid: {', '.join(choices)}")
        return v

    def integer(key, lo, default):
        v = raw.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{where}: {key}: expected an integer >= {lo}, got {v!r}")
        return v

    sampling = choice("sampling", SAMPLINGS, "grid")
    samples = integer("samples", 1, None)
    if sampling == "random" and samples is None:
        raise ConfigError(f"{where}: samples: required with sampling: random (how many points to draw)")
    if sampling == "grid" and samples is not None:
        raise ConfigError(f"{where}: samples: only valid with sampling: random")
    space = _flatten(raw.get("space"), f"{where}: space", single=False)
    include_raw = raw.get("include") or []
    if not isinstance(include_raw, list):
        raise ConfigError(f"{where}: include: expected a list of points")
    include = [_flatten(p, f"{where}: include[{i}]", single=True) for i, p in enumerate(include_raw)]
    if not space and not include:
        raise ConfigError(f"{where}: space: empty; give at least one parameter (valid: {', '.join(GLOBAL_KEYS)}, "
                          f"layers.<name>.{{{', '.join(LAYER_KEYS)}}}) or an include list")
    grid = math.prod(len(v) for v in space.values()) if space else 0
    n = (grid if sampling == "grid" else min(samples, grid)) + len(include)
    if n > MAX_POINTS:
        what = f"a grid of {grid:,}" if sampling == "grid" else f"samples: {samples:,}"
        raise ConfigError(f"{where}: {n:,} points ({what}); too many, the limit is {MAX_POINTS:,}; "
                          f"use sampling: random with samples <= {MAX_POINTS:,} or fewer values per parameter")
    return SweepSpec(name=path.stem, path=path, depth=choice("depth", DEPTHS, "estimate"),
                     weights=choice("weights", WEIGHTS, "trained"), sampling=sampling, samples=samples,
                     seed=integer("seed", 0, 0), images=integer("images", 1, None),
                     objective=choice("objective", OBJECTIVES, "latency_us"), space=space, include=include)


def _set(d: dict, path: tuple[str, ...], value) -> None:
    for k in path[:-1]:
        nxt = d.get(k)
        if not isinstance(nxt, dict):
            nxt = d[k] = {}
        d = nxt
    d[path[-1]] = value


def apply_overrides(raw: dict, point: dict[str, Any]) -> dict:
    """The base config dict with one point's values set (a new dict; `raw` is not changed).

    When the board changes, an explicit `hls.part` of the base is dropped: the part comes from
    the board table.
    """
    merged = copy.deepcopy(raw)
    for pid, value in point.items():
        parts = pid.split(".")
        if parts[0] == "layers":
            name, key = ".".join(parts[1:-1]), parts[-1]
            if key in BIT_ROLES:
                for role in BIT_ROLES[key]:
                    _set(merged, ("quantization", "layers", name, role), value)
            else:
                _set(merged, ("hls", "layers", name, key), value)
        elif pid in BIT_ROLES:
            for role in BIT_ROLES[pid]:
                _set(merged, ("quantization", "default", role), value)
        else:
            _set(merged, GLOBAL_PATHS[pid], value)
            if pid == "board" and isinstance(merged.get("hls"), dict):
                merged["hls"].pop("part", None)
    return merged


def check_layers(spec: SweepSpec, layer_names: list[str], kernel_layers: list[str]) -> None:
    """Per-layer parameters must name layers of the built model (bits: layers with weights)."""
    for pid in spec.parameters:
        parts = pid.split(".")
        if parts[0] != "layers":
            continue
        name, key = ".".join(parts[1:-1]), parts[-1]
        valid = kernel_layers if key in BIT_ROLES else layer_names
        if name not in valid:
            what = "layer with weights" if key in BIT_ROLES else "layer"
            raise ConfigError(f"{spec.path}: layers.{name}.{key}: no such {what} in the model; "
                              f"valid: {', '.join(valid)}")
