"""The typed config: the choices (enums), the limits, one frozen dataclass per YAML section, and
`FlowConfig`, the one place each layer's precision and sparsity is decided (`quant_plan`,
`sparsity_plan`) and the training caches are keyed (`fingerprint`, `float_fingerprint`). The comment on
each field is its row in the config reference (hwflow.config_reference). Reading a file into these is
hwflow.config.parse."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import yaml

from hwflow.boards import Board, get_board
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


class Optimizer(StrEnum):  # train.optimizer
    ADAM = "adam"
    SGD = "sgd"  # momentum 0.9, Nesterov


OPTIMIZER_NAMES = {Optimizer.ADAM: "Adam", Optimizer.SGD: "SGD"}  # as the results tables write them


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


def schedule_text(epochs, restarts, qat_epochs, optimizer: str = "adam", weight_decay: float = 0.0) -> str:
    """How a model was (or will be) trained, in one phrase: "45 + 50 + 15 + 4 QAT epochs" (the float
    epochs, each warm restart's, the QAT epochs), with the optimizer and weight decay when they are not the
    default Adam without decay: "120 + 4 QAT epochs, SGD, weight decay 0.005". Used by the shipped-weights
    load line and the results tables."""
    text = " + ".join(str(e) for e in [epochs, *restarts]) + f" + {qat_epochs} QAT epochs"
    if optimizer != Optimizer.ADAM or weight_decay:
        text += f", {OPTIMIZER_NAMES[Optimizer(optimizer)]}" + (f", weight decay {weight_decay:g}" if weight_decay else "")
    return text


@dataclass(frozen=True)
class TrainSection(Written):
    epochs: int = 10  # float training epochs (0: no training, e.g. the untrained *_imagenet configs)
    qat_epochs: int = 3  # quantization-aware training epochs of the QKeras twin, after BN folding
    qat_learning_rate: float | None = None  # peak learning rate of QAT (Adam, no decay); None: learning_rate / 10
    batch_size: int = 64  # images per training step
    learning_rate: float = 1e-3  # peak learning rate of the float training (QAT and pruning derive theirs from it)
    optimizer: Optimizer = Optimizer.ADAM  # adam, or sgd (momentum 0.9, Nesterov): float training and pruning
    weight_decay: float = 0.0  # decoupled weight decay of float training and pruning: each step w -= lr * weight_decay * w
    seed: int = 0  # seeds weight initialisation, shuffling and augmentation
    augment: bool = False  # random flips and pad-and-crop of the training images
    label_smoothing: float = 0.0  # cross-entropy label smoothing, 0 .. 0.5
    cutout: int = 0  # side of the square zeroed at a random place of each training image (0: off)
    restarts: tuple[tuple[int, float], ...] = ()  # SGDR: more cosine cycles after `epochs`, from its weights
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
    activation_integer: int | str | None = None  # integer bits of an activation given as a width (3 when absent), or "auto": per layer, calibrated on the float model's activations


@dataclass(frozen=True)
class LayerQuantOverride:
    """quantization.layers.<name>: the roles it overrides (None = the default's)."""

    weight: QuantValue | None = None  # this layer's kernel quantizer (None: quantization.default's)
    bias: QuantValue | None = None  # this layer's bias quantizer
    activation: QuantValue | None = None  # this layer's activation quantizer
    activation_integer: int | str | None = None  # integer bits of this layer's activation given as a width, or "auto"

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
                 if k not in ("qat_epochs", "qat_learning_rate", "init_from", "restarts")}
        first = _hash({"model": self.model.canonical(), "data": self.data.canonical(), "train": train}, parts)
        restarts = [list(r) for r in self.train.restarts]
        return [first] + [_hash({"float": first, "restarts": restarts[:k]}, parts) for k in range(1, len(restarts) + 1)]
