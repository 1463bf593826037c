"""Load and validate a flow config (hls_configs/<name>.yaml) into typed dataclasses.

Two layers of validation:
- `load_config(path)`: the file alone. Unknown keys, wrong types, unknown board / backend /
  io_type / strategy, bad precision strings and quantizer specs are ConfigErrors naming the
  file, the key and the valid values.
- `validate_layers(cfg, layer_names, kernel_layers)`: against the built model. Per-layer keys
  must name real layers (the error lists the ones that exist). Reuse factors hls4ml would
  silently replace are caught in `hwflow.convert`, where hls4ml's own rule is applied.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import yaml

from hwflow import zoo
from hwflow.boards import Board, get_board
from hwflow.errors import ConfigError
from hwflow.guard import (MAX_CHANNELS, MAX_IMAGE_SIDE, MAX_PRECISION_WIDTH, check_input_shape, check_part,
                          check_precision, load_yaml_text, read_text_file, regular_file, show)
from hwflow.zoo.quant import LayerQuant, QuantPlan, spec_from_value


# The choices of the config, each defined here once. StrEnum members are str (they compare equal to
# and print as their value); hwflow.convert hands hls4ml `.value`.
class Backend(StrEnum):
    VIVADO = "Vivado"
    VITIS = "Vitis"
    VIVADO_ACCELERATOR = "VivadoAccelerator"


class IoType(StrEnum):
    STREAM = "io_stream"
    PARALLEL = "io_parallel"


class Strategy(StrEnum):
    LATENCY = "Latency"
    RESOURCE = "Resource"


class FifoMode(StrEnum):  # hls.fifo_depth: hwflow.fifo model | hls4ml's H*W | hls4ml's co-simulation
    AUTO = "auto"
    FULL = "full"
    COSIM = "cosim"


def _represent_choice(dumper: yaml.SafeDumper, value: StrEnum):
    return dumper.represent_str(value.value)


# A choice that reaches a YAML writer (a derived config, hls4ml's own yaml.dump of its config) is
# written as its plain value, never as a Python tag.
for _choice_type in (Backend, IoType, Strategy, FifoMode):
    yaml.SafeDumper.add_representer(_choice_type, _represent_choice)
    yaml.Dumper.add_representer(_choice_type, _represent_choice)

BACKENDS = tuple(b.value for b in Backend)
IO_TYPES = tuple(t.value for t in IoType)
STRATEGIES = tuple(s.value for s in Strategy)
FIFO_MODES = tuple(m.value for m in FifoMode)
ROLES = ("weight", "bias", "activation")
PRECISION_KEYS = ("result", "accum", "weight", "bias")
MAX_WIDTH_MULTIPLIER = 4.0  # model.width / model.alpha: channel multipliers beyond this do not fit any board
MAX_INT = 2**31 - 1  # no config integer is larger (a 20-digit count is a typo, not a size)
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_CLASSES = 100_000


def _plain(value):
    """A typed value in the form the fingerprints hash (JSON-like: enums as their value, tuples as lists)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Written:
    """Base of the sections that feed the fingerprints: `written` names the keys the file set (None:
    the section was absent or null). `canonical()` is those keys' typed values, which is the form the
    training caches have always been keyed by (the keys of the written YAML, normalised)."""

    written: tuple[str, ...] | None = field(default=None, kw_only=True, compare=False, repr=False)

    def canonical(self) -> dict | None:
        if self.written is None:
            return None
        return {k: _plain(getattr(self, k)) for k in self.written}


@dataclass(frozen=True)
class ModelSection:
    arch: str
    params: dict[str, Any]  # keyword parameters of the registry entry point, as written (typed)
    input_shape: tuple[int, int, int]  # params["input_shape"] or the entry point's default
    file: Path | None = None  # `model: {file: ...}`: a saved Keras/QKeras model (hwflow.usermodel); arch "file"
    file_sha256: str | None = None

    def canonical(self) -> dict:
        if self.file is not None:  # the file's content, not its place, defines the model
            return {"file": self.file_sha256}
        return {"arch": self.arch, **_plain(self.params)}


@dataclass(frozen=True)
class DataSection(Written):
    source: str = "default"  # "default" (scikit-learn digits, shipped with the package) or a path
    path: Path | None = None  # resolved path for image folders / .npz, None for default (not a key)
    test_fraction: float = 0.3  # for sources without a test split
    max_train: int | None = None  # at most this many training images (None: all)
    max_test: int | None = None  # at most this many test images (None: all)
    validation: int = 0  # training images held out (seeded) for model selection, e.g. `hwflow tune`


@dataclass(frozen=True)
class TrainSection(Written):
    epochs: int = 10  # float training epochs (0: no training, e.g. the untrained *_imagenet configs)
    qat_epochs: int = 3  # quantization-aware training epochs of the QKeras twin, after BN folding
    batch_size: int = 64  # images per training step
    learning_rate: float = 1e-3  # Adam learning rate of the float training (QAT and pruning derive theirs from it)
    seed: int = 0  # seeds weight initialisation, shuffling and augmentation
    augment: bool = False  # random flips and pad-and-crop of the training images
    label_smoothing: float = 0.0  # cross-entropy label smoothing, 0 .. 0.5
    cutout: int = 0  # side of the square zeroed at a random place of each training image (0: off)
    restarts: tuple[tuple[int, float], ...] = ()  # warm restarts after `epochs`: [{epochs, learning_rate}, ...], each a new cosine cycle from the last one's weights (SGDR)
    init_from: Path | None = None  # another config whose trained QKeras weights start this QAT
    init_from_key: str | None = field(default=None, compare=False, repr=False)  # relative to this config's folder

    def canonical(self) -> dict | None:
        """init_from as the path relative to the config's folder, as it is written."""
        out = super().canonical()
        if out is not None and self.init_from is not None:
            out["init_from"] = self.init_from_key
        return out


QuantValue = int | str  # a bit width, or a quantizer call like "quantized_relu(6,3)"


@dataclass(frozen=True)
class QuantDefaults(Written):
    weight: QuantValue = 8  # kernel quantizer: bits (integer bits from the trained weights) or e.g. "quantized_bits(6,1,alpha=1)"
    bias: QuantValue = 8  # bias quantizer, as weight
    activation: QuantValue = 8  # activation quantizer: bits or e.g. "quantized_relu(6,3)"
    activation_integer: int | None = None  # integer bits of an activation given as a width


@dataclass(frozen=True)
class LayerQuantOverride:
    """quantization.layers.<name>: the roles it overrides (None = the default's)."""

    weight: QuantValue | None = None  # this layer's kernel quantizer (None: quantization.default's)
    bias: QuantValue | None = None  # this layer's bias quantizer
    activation: QuantValue | None = None  # this layer's activation quantizer
    activation_integer: int | None = None  # integer bits of this layer's activation given as a width

    def given(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    canonical = given


@dataclass(frozen=True)
class QuantizationSection(Written):
    default: QuantDefaults = field(default_factory=QuantDefaults)
    layers: dict[str, LayerQuantOverride] = field(default_factory=dict)

    def canonical(self) -> dict | None:
        if self.written is None:
            return None
        out = {"default": self.default.canonical(), "layers": {n: o.canonical() for n, o in self.layers.items()}}
        return {k: out[k] for k in self.written}


@dataclass(frozen=True)
class PruneSection(Written):
    """prune: magnitude pruning (TensorFlow Model Optimization) of the kernel layers, as a fine-tune
    of the trained float baseline (`epochs` epochs; the sparsity rises from 0 to its target over the
    first `ramp` share of them, then the mask is frozen), kept through BN folding and QAT. `sparsity`
    is the share of zero weights per layer; `layers` overrides it per layer (0 = not pruned);
    `exclude` lists layers never pruned. Absent section: nothing is pruned."""

    sparsity: float = 0.0  # share of zero weights of every kernel layer, 0 .. 0.99
    layers: dict[str, float] = field(default_factory=dict)  # per-layer sparsity (0: not pruned)
    exclude: tuple[str, ...] = ()  # layers never pruned
    epochs: int = 8  # pruning fine-tune epochs of the float baseline
    ramp: float = 0.6  # share of the epochs over which the sparsity rises to its target
    frequency: int = 100  # training steps between mask updates while the sparsity ramps
    learning_rate: float | None = None  # None: train.learning_rate / 2


@dataclass(frozen=True)
class LayerHls:
    reuse_factor: int | None = None  # this layer's reuse factor (must be one hls4ml keeps; the error lists them)
    strategy: Strategy | None = None  # this layer's strategy
    precision: dict[str, str] = field(default_factory=dict)  # hls4ml precision per role: result, accum, weight, bias


DEFAULT_BOARD = "pynq-z2"


@dataclass(frozen=True)
class HlsSection:
    """hls: part, clock and fifo_depth default to the board's part and clock and to the io_type's
    FIFO mode (auto for io_stream, full for io_parallel, which has no FIFOs)."""

    backend: Backend = Backend.VITIS  # hls4ml backend (VivadoAccelerator: bitstream + driver on pynq-z2, zcu102, Alveo)
    board: Board = field(default_factory=lambda: get_board(DEFAULT_BOARD))  # target board (see Boards below)
    part: str | None = None  # FPGA part (None: the board's)
    clock_period_ns: float | None = None  # target clock period (None: the board's default)
    io_type: IoType = IoType.STREAM  # io_stream: dataflow with FIFOs between layers; io_parallel: arrays
    strategy: Strategy = Strategy.LATENCY  # default strategy of every layer
    # default reuse factor (where a layer cannot take it, the closest valid one, with a note), or "auto": fold
    # every layer without its own reuse_factor / strategy for the board during the run (hwflow.reuse.fit on
    # the Vivado-level projection; the plan is written to reports/fit.*)
    reuse_factor: int | str = 1
    input_precision: str = "ufixed<8,0,RND_CONV,SAT>"  # precision of the input images
    layers: dict[str, LayerHls] = field(default_factory=dict)  # per-layer settings (below)
    fifo_depth: FifoMode | None = None  # io_stream FIFO depths: auto (hwflow.fifo), full (H*W), cosim (hls4ml's pass); None: auto for io_stream

    @property
    def fold(self) -> bool:
        """reuse_factor: auto: the flow folds the design for its board (hwflow.flow.models)."""
        return self.reuse_factor == "auto"

    @property
    def default_reuse_factor(self) -> int:
        """The model-wide reuse factor before folding (1 with auto: the fold sets every layer's)."""
        return 1 if self.fold else int(self.reuse_factor)

    def __post_init__(self):
        if self.part is None:
            object.__setattr__(self, "part", self.board.part)
        if self.clock_period_ns is None:
            object.__setattr__(self, "clock_period_ns", float(self.board.clock_period_ns))
        if self.fifo_depth is None:
            object.__setattr__(self, "fifo_depth", FifoMode.AUTO if self.io_type == IoType.STREAM else FifoMode.FULL)


@dataclass(frozen=True)
class ParitySection:
    images: int = 500  # how many test images go through C-sim
    min_argmax_agreement: float = 0.99  # C-sim vs QKeras, share of images
    max_logit_lsb: float = 4.0  # C-sim vs QKeras, max |diff| in units of the output LSB
    max_accuracy_drop: float | None = None  # C-sim vs float top-1, points; None = report only


def _hash(blob: dict, parts) -> str:
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256((text + "".join(parts)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FlowConfig:
    name: str
    path: Path
    model: ModelSection
    data: DataSection
    train: TrainSection
    quantization: QuantizationSection
    hls: HlsSection
    parity: ParitySection
    raw: dict[str, Any]  # the file as read: the base of derived configs (tune, sweep, fit); never hashed
    prune: PruneSection = field(default_factory=PruneSection)

    def sparsity_plan(self, kernel_layers: list[str]) -> dict[str, float]:
        """Target share of zero weights per kernel layer: default, per-layer overrides, exclusions
        (the one place a layer's sparsity is decided). Empty when nothing is pruned."""
        p = self.prune
        plan = {n: (0.0 if n in p.exclude else p.layers.get(n, p.sparsity)) for n in kernel_layers}
        return {n: s for n, s in plan.items() if s > 0}

    def quant_plan(self, kernel_layers: list[str], activation_layers: list[str] | None = None) -> QuantPlan:
        """Per-layer quantizers: defaults, then per-layer overrides (the one place precision is decided)."""
        q = self.quantization
        where = f"{self.path}: quantization"
        plan = QuantPlan()
        base = {f.name: getattr(q.default, f.name) for f in fields(LayerQuantOverride)}
        for name in kernel_layers:
            values = {**base, **(q.layers[name].given() if name in q.layers else {})}
            plan.layers[name] = LayerQuant(
                weight=spec_from_value(values["weight"], role="weight", where=f"{where}.layers.{name}.weight"),
                bias=spec_from_value(values["bias"], role="bias", where=f"{where}.layers.{name}.bias"),
                activation=spec_from_value(values["activation"], role="activation",
                                           where=f"{where}.layers.{name}.activation",
                                           integer=values["activation_integer"]),
            )
        return plan

    def fingerprint(self, *parts: str) -> str:
        """A short hash of the sections that determine the trained model (+ extra parts): the QAT
        cache key (hwflow.train). Built from the typed sections (their written keys, normalised)."""
        blob = {"model": self.model.canonical(), "data": self.data.canonical(),
                "train": self.train.canonical(), "quantization": self.quantization.canonical()}
        if self.prune.written is not None:  # absent: the keys of unpruned configs stay what they were
            blob["prune"] = self.prune.canonical()
        return _hash(blob, parts)

    def pruned_float_fingerprint(self, *parts: str) -> str:
        """The pruned float model's cache key: the float baseline's key plus the prune section."""
        return _hash({"float": self.float_fingerprint(), "prune": self.prune.canonical()}, parts)

    def float_fingerprint(self, *parts: str) -> str:
        """The float-training cache key: the sections that define the float model only (model, data,
        train minus qat_epochs and init_from), so configs that differ only in their quantization
        (e.g. a tuned `<model>_tuned.yaml`) share the float baseline. With `train.restarts`, the key of
        the last cycle (float_cycle_fingerprints)."""
        return self.float_cycle_fingerprints(*parts)[-1]

    def float_cycle_fingerprints(self, *parts: str) -> list[str]:
        """The cache key after each float training cycle: the first cycle (`epochs`) is keyed without
        `restarts`, so a config that adds warm restarts starts from the cached training of the same
        config without them; restart k is keyed by that key and the first k restarts."""
        train = {k: v for k, v in (self.train.canonical() or {}).items()
                 if k not in ("qat_epochs", "init_from", "restarts")}
        first = _hash({"model": self.model.canonical(), "data": self.data.canonical(), "train": train}, parts)
        restarts = [list(r) for r in self.train.restarts]
        return [first] + [_hash({"float": first, "restarts": restarts[:k]}, parts) for k in range(1, len(restarts) + 1)]


# ---------------------------------------------------------------------------------------------
# helpers


def _expect(value, types, where: str, what: str):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"{where}: expected {what}, got {show(repr(value))}")
    if not isinstance(value, types):
        raise ConfigError(f"{where}: expected {what}, got {show(repr(value))}")
    return value


def check_keys(section: dict, allowed, where: str) -> dict:
    """A mapping whose keys are all in `allowed` (None = empty), or a one-line ConfigError."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
    unknown = [k for k in section if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown key {show(repr(unknown[0]))}; valid keys: {', '.join(allowed)}")
    return section


def _choice(value, choices, where: str):
    """`value` if it is one of `choices` (a StrEnum class: the member), else a one-line ConfigError."""
    valid = [c.value if isinstance(c, Enum) else c for c in choices]
    if isinstance(value, (dict, list)) or value not in valid:
        raise ConfigError(f"{where}: {show(repr(value))} is not valid; valid: {', '.join(map(str, valid))}")
    return choices(value) if isinstance(choices, type) and issubclass(choices, Enum) else value


def _valid_text(choices) -> str:
    if isinstance(choices, range) and choices.step == 1:
        return f"{choices.start}..{choices.stop - 1}"
    return ", ".join(map(str, choices))


def _reuse_factor(value, where: str) -> int | str:
    """hls.reuse_factor: an integer >= 1, or auto (fold for the board)."""
    if value == "auto":
        return value
    if isinstance(value, str):
        raise ConfigError(f"{where}: {show(repr(value))} is not valid; valid: an integer >= 1 or auto (fold every "
                          f"layer for the board)")
    return _int(value, where, 1)


def _int(value, where: str, lo: int = 0, hi: int = MAX_INT) -> int:
    _expect(value, int, where, "an integer")
    if not lo <= value <= hi:
        raise ConfigError(f"{where}: must be " + (f">= {lo}" if value < lo else f"in {lo}..{hi:,}")
                          + f", got {show(value, 40)}")
    return value


def _num(value, where: str, lo: float | None = None, hi: float | None = None) -> float:
    _expect(value, (int, float), where, "a number")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{where}: must be in [{lo}, {hi}], got {value}")
    return float(value)


# ---------------------------------------------------------------------------------------------
# sections


def _model(raw, where, base: Path = Path(".")) -> ModelSection:
    if isinstance(raw, dict) and "file" in raw:
        from hwflow.modelfile import file_info

        info = file_info(raw, where, base)
        return ModelSection("file", {}, info.input_shape, info.path, info.sha256)
    raw = dict(_expect(raw, dict, where, "a mapping with at least 'arch' (a zoo model) or 'file' (a model file)"))
    if "arch" not in raw:
        raise ConfigError(f"{where}.arch: missing; valid: {', '.join(zoo.list_models())}")
    arch = raw.pop("arch")
    params = zoo.params_of(str(arch), where=f"{where}.arch")
    check_keys(raw, ["arch", *params], where)
    for k, v in raw.items():
        default = params[k].default
        if k == "input_shape":
            raw[k] = check_input_shape(v, f"{where}.input_shape")
        elif k == "dropout":
            raw[k] = _num(v, f"{where}.{k}", 0)
            if v >= 1:
                raise ConfigError(f"{where}.dropout: must be in [0, 1) (a share of units dropped), got {v}")
        elif isinstance(default, bool):
            _expect(v, bool, f"{where}.{k}", "true or false")
        elif isinstance(default, int):
            _int(v, f"{where}.{k}", 2 if k == "classes" else 1, MAX_CLASSES if k == "classes" else MAX_INT)
        elif isinstance(default, float):
            raw[k] = _num(v, f"{where}.{k}", 0)
            if v <= 0 or (k in ("width", "alpha") and v > MAX_WIDTH_MULTIPLIER):
                raise ConfigError(f"{where}.{k}: must be > 0" + (f" and <= {MAX_WIDTH_MULTIPLIER}" if k in ("width", "alpha")
                                  else "") + f", got {v}")
        elif isinstance(default, str):
            raw[k] = str(_expect(v, (str, int, float), f"{where}.{k}", "a string"))
    for k, valid in zoo.choices_of(str(arch)).items():  # what the entry point would reject with ValueError
        if k in raw and raw[k] not in valid:
            raise ConfigError(f"{where}.{k}: {raw[k]!r} is not valid for {arch}; valid: {_valid_text(valid)}")
    return ModelSection(arch, raw, tuple(raw.get("input_shape", params["input_shape"].default)))


def _given(raw: dict, where: str, parse: dict) -> dict:
    """The keys the file set, each through its parser (the dataclass fields hold the defaults)."""
    return {k: parse[k](v, f"{where}.{k}") for k, v in raw.items()}


def _optional(parse):
    return lambda v, where: None if v is None else parse(v, where)


def _bool(v, where: str) -> bool:
    return _expect(v, bool, where, "true or false")


def _data(raw, where, base: Path) -> DataSection:
    written = None if raw is None else tuple(check_keys(raw, [f.name for f in fields(DataSection)
                                                              if f.name not in ("path", "written")], where))
    raw = raw or {}

    def source(v, where):
        _expect(v, str, where, "'default' or a path to an image folder or .npz file")
        return v

    kw = _given(raw, where, {
        "source": source,
        "test_fraction": lambda v, w: _num(v, w, 0.01, 0.99),
        "max_train": _optional(lambda v, w: _int(v, w, 1)),
        "max_test": _optional(lambda v, w: _int(v, w, 1)),
        "validation": _int,
    })
    src = kw.get("source", DataSection.source)
    if src != "default":
        path = (base / src).resolve() if not Path(src).is_absolute() else Path(src)
        if not path.exists():
            raise ConfigError(f"{where}.source: {show(repr(src))} does not exist (resolved to {show(path)}); "
                              f"valid: 'default', an image folder <root>/<class>/*.jpg|png, or a .npz file")
        if not path.is_dir():
            regular_file(path, "data file (.npz) or image folder", flag=f"{where}.source")
            if path.suffix != ".npz":
                raise ConfigError(f"{where}.source: {show(repr(src))} is a file but not .npz")
        kw["path"] = path
    return DataSection(**kw, written=written)


def _train(raw, where, base: Path) -> TrainSection:
    written = None if raw is None else tuple(check_keys(raw, [f.name for f in fields(TrainSection)
                                                              if f.name not in ("written", "init_from_key")], where))

    def init_from(src, where):
        _expect(src, str, where, "the path of another config file")
        path = (base / src).resolve()
        if not path.is_file():
            raise ConfigError(f"{where}: {src!r} does not exist (resolved to {path}); "
                              f"valid: the path of another config file, relative to this one")
        return path

    kw = _given(raw or {}, where, {
        "init_from": _optional(init_from),
        "epochs": _int,
        "qat_epochs": _int,
        "batch_size": lambda v, w: _int(v, w, 1),
        "learning_rate": lambda v, w: _num(v, w, 0, 1),
        "seed": lambda v, w: _int(v, w, 0, MAX_SEED),
        "augment": _bool,
        "label_smoothing": lambda v, w: _num(v, w, 0, 0.5),
        "cutout": _int,
        "restarts": _restarts,
    })
    if kw.get("restarts") and kw.get("epochs", TrainSection.epochs) == 0:
        raise ConfigError(f"{where}.restarts: restarts continue a float training, but epochs is 0; "
                          f"valid: epochs >= 1, or no restarts")
    if kw.get("init_from") is not None:
        kw["init_from_key"] = os.path.relpath(kw["init_from"], base.resolve())
    return TrainSection(**kw, written=written)


def _restarts(raw, where) -> tuple[tuple[int, float], ...]:
    """train.restarts: a list of {epochs, learning_rate} mappings (a cycle of at least one epoch each)."""
    valid = "valid: a list of {epochs: N, learning_rate: x} mappings"
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list, got {show(repr(raw))}; {valid}")
    out = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a mapping, got {show(repr(item))}; {valid}")
        item = check_keys(item, ["epochs", "learning_rate"], at)
        missing = [k for k in ("epochs", "learning_rate") if k not in item]
        if missing:
            raise ConfigError(f"{at}: missing {', '.join(missing)}; {valid}")
        out.append((_int(item["epochs"], f"{at}.epochs", 1), _num(item["learning_rate"], f"{at}.learning_rate", 0, 1)))
    return tuple(out)


QUANT_KEYS = [*ROLES, "activation_integer"]


def _quant_values(raw, where) -> dict:
    """weight/bias/activation (bits or a quantizer string, parsed now so a bad spec fails at load
    time) and activation_integer, as written."""
    out = {}
    for k, v in check_keys(raw, QUANT_KEYS, where).items():
        if k in ROLES:
            spec_from_value(v, role=k, where=f"{where}.{k}")
        elif v is not None:
            _int(v, f"{where}.{k}")
        out[k] = v
    return out


def _quantization(raw, where) -> QuantizationSection:
    written = None if raw is None else tuple(check_keys(raw, ["default", "layers"], where))
    raw = raw or {}
    default = raw.get("default")
    layers = raw.get("layers") or {}
    _expect(layers, dict, f"{where}.layers", "a mapping of layer name -> quantizers")
    return QuantizationSection(
        default=QuantDefaults(**_quant_values(default, f"{where}.default"),
                              written=None if default is None else tuple(default)),
        layers={name: LayerQuantOverride(**_quant_values(spec, f"{where}.layers.{name}"))
                for name, spec in layers.items()},
        written=written,
    )


def _layer_hls(raw, where) -> LayerHls:
    raw = check_keys(raw, ["reuse_factor", "strategy", "precision"], where)
    prec = check_keys(raw.get("precision"), PRECISION_KEYS, f"{where}.precision")
    return LayerHls(
        reuse_factor=None if "reuse_factor" not in raw else _int(raw["reuse_factor"], f"{where}.reuse_factor", 1),
        strategy=None if "strategy" not in raw else _choice(raw["strategy"], Strategy, f"{where}.strategy"),
        precision={k: check_precision(v, f"{where}.precision.{k}") for k, v in prec.items()},
    )


def _hls(raw, where) -> HlsSection:
    raw = check_keys(raw, [f.name for f in fields(HlsSection)], where)
    layers = raw.get("layers") or {}
    _expect(layers, dict, f"{where}.layers", "a mapping of layer name -> settings")
    kw = _given({k: v for k, v in raw.items() if k != "layers"}, where, {
        "board": lambda v, w: get_board(_expect(v, str, w, "a board name"), where=w),
        "backend": lambda v, w: _choice(v, Backend, w),
        "part": check_part,
        "clock_period_ns": lambda v, w: _num(v, w, 0.5, 100),
        "io_type": lambda v, w: _choice(v, IoType, w),
        "strategy": lambda v, w: _choice(v, Strategy, w),
        "reuse_factor": _reuse_factor,
        "input_precision": check_precision,
        "fifo_depth": lambda v, w: _choice(v, FifoMode, w),
    })
    hls = HlsSection(**kw, layers={name: _layer_hls(v, f"{where}.layers.{name}") for name, v in layers.items()})
    if hls.io_type != IoType.STREAM and hls.fifo_depth != FifoMode.FULL:
        raise ConfigError(f"{where}.fifo_depth: {hls.fifo_depth.value!r} needs io_type io_stream "
                          f"(io_parallel has no FIFOs); valid: full")
    return hls


def _prune(raw, where) -> PruneSection:
    written = None if raw is None else tuple(check_keys(raw, [f.name for f in fields(PruneSection)
                                                              if f.name != "written"], where))
    share = lambda v, w: _num(v, w, 0, 0.99)  # noqa: E731

    def layers(v, w):
        _expect(v, dict, w, "a mapping of layer name -> sparsity (0 .. 0.99)")
        return {str(k): share(x, f"{w}.{k}") for k, x in v.items()}

    def exclude(v, w):
        _expect(v, list, w, "a list of layer names")
        return tuple(_expect(x, str, w, "a list of layer names") for x in v)

    kw = _given(raw or {}, where, {
        "sparsity": share,
        "layers": layers,
        "exclude": exclude,
        "epochs": lambda v, w: _int(v, w, 1),
        "ramp": lambda v, w: _num(v, w, 0.05, 1),
        "frequency": lambda v, w: _int(v, w, 1),
        "learning_rate": _optional(lambda v, w: _num(v, w, 0, 1)),
    })
    return PruneSection(**kw, written=written)


def _parity(raw, where) -> ParitySection:
    raw = check_keys(raw, [f.name for f in fields(ParitySection)], where)
    return ParitySection(**_given(raw, where, {
        "images": lambda v, w: _int(v, w, 1),
        "min_argmax_agreement": lambda v, w: _num(v, w, 0, 1),
        "max_logit_lsb": lambda v, w: _num(v, w, 0),
        "max_accuracy_drop": _optional(lambda v, w: _num(v, w, 0, 100)),
    }))


SECTIONS = ("model", "data", "train", "quantization", "prune", "hls", "parity")


def read_yaml(path: str | Path, what: str = "config file"):
    """yaml.safe_load of a file (bounded, no duplicate keys: hwflow.guard); any problem is a one-line ConfigError."""
    path = Path(path)
    return load_yaml_text(read_text_file(path, what), str(path))


def load_config(path: str | Path) -> FlowConfig:
    """Read and validate a YAML config. Every problem is a one-line ConfigError."""
    return config_from_dict(read_yaml(path), Path(path))


def config_from_dict(raw: Any, path: Path) -> FlowConfig:
    where = str(path)
    raw = check_keys(raw, SECTIONS, where)
    if "model" not in raw:
        raise ConfigError(f"{where}: missing section 'model'; sections: {', '.join(SECTIONS)}")
    return FlowConfig(
        name=path.stem,
        path=path,
        model=_model(raw["model"], f"{where}: model", path.parent),
        data=_data(raw.get("data"), f"{where}: data", path.parent),
        train=_train(raw.get("train"), f"{where}: train", path.parent),
        quantization=_quantization(raw.get("quantization"), f"{where}: quantization"),
        hls=_hls(raw.get("hls"), f"{where}: hls"),
        parity=_parity(raw.get("parity"), f"{where}: parity"),
        raw=raw,
        prune=_prune(raw.get("prune"), f"{where}: prune"),
    )


def validate_layers(cfg: FlowConfig, layer_names: list[str], kernel_layers: list[str]) -> None:
    """Per-layer keys must name layers of the built model."""
    for name in cfg.quantization.layers:
        if name not in kernel_layers:
            raise ConfigError(f"{cfg.path}: quantization.layers.{show(name)}: no such layer with weights; "
                              f"valid: {', '.join(kernel_layers)}")
    for key, names in (("layers", cfg.prune.layers), ("exclude", cfg.prune.exclude)):
        for name in names:
            if name not in kernel_layers:
                raise ConfigError(f"{cfg.path}: prune.{key}.{show(name)}: no such layer with weights; "
                                  f"valid: {', '.join(kernel_layers)}")
    for name in cfg.hls.layers:
        if name not in layer_names:
            raise ConfigError(f"{cfg.path}: hls.layers.{show(name)}: no such layer; valid: {', '.join(layer_names)}")

