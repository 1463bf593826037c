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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from hwflow.boards import Board, get_board
from hwflow.errors import ConfigError
from hwflow.guard import check_part, load_yaml_text, read_text_file
from hwflow.zoo.quant import LayerQuant, QuantPlan, spec_from_value

BACKENDS = ("Vivado", "Vitis", "VivadoAccelerator")
IO_TYPES = ("io_stream", "io_parallel")
STRATEGIES = ("Latency", "Resource")
FIFO_MODES = ("auto", "full", "cosim")  # hls.fifo_depth: hwflow.fifo model | hls4ml's H*W | hls4ml's co-simulation
ROLES = ("weight", "bias", "activation")
PRECISION_KEYS = ("result", "accum", "weight", "bias")
MAX_PRECISION_WIDTH = 64  # widest ap_fixed hwflow accepts (ap_fixed allows 1024, but g++ and the tools crawl far earlier)
MAX_IMAGE_SIDE = 1024  # input_shape height/width limit (checked before any data is resized)
MAX_CHANNELS = 16
MAX_WIDTH_MULTIPLIER = 4.0  # model.width / model.alpha: channel multipliers beyond this do not fit any board
_PRECISION = re.compile(
    r"^(ap_)?(u?fixed<\s*\d+\s*,\s*-?\d+\s*(,\s*(RND|RND_ZERO|RND_MIN_INF|RND_INF|RND_CONV|TRN|TRN_ZERO)"
    r"\s*(,\s*(WRAP|SAT|SAT_ZERO|SAT_SYM)\s*(,\s*\d+\s*)?)?)?>|u?int<\s*\d+\s*>)$"
)


@dataclass(frozen=True)
class ModelSection:
    arch: str
    params: dict[str, Any]  # keyword parameters of the registry entry point


@dataclass(frozen=True)
class DataSection:
    source: str  # "default" (scikit-learn digits, shipped with the package) or a path
    path: Path | None  # resolved path for image folders / .npz, None for default
    test_fraction: float  # for sources without a test split
    max_train: int | None
    max_test: int | None
    validation: int  # training images held out (seeded) for model selection, e.g. `hwflow tune`


@dataclass(frozen=True)
class TrainSection:
    epochs: int
    qat_epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    augment: bool
    label_smoothing: float
    init_from: Path | None = None  # another config whose trained QKeras weights start this QAT


@dataclass(frozen=True)
class LayerHls:
    reuse_factor: int | None = None
    strategy: str | None = None
    precision: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HlsSection:
    backend: str
    board: Board
    part: str
    clock_period_ns: float
    io_type: str
    strategy: str
    reuse_factor: int
    input_precision: str
    layers: dict[str, LayerHls]
    fifo_depth: str = "auto"  # FIFO_MODES; "full" for io_parallel (no FIFOs)


@dataclass(frozen=True)
class ParitySection:
    images: int  # how many test images go through C-sim
    min_argmax_agreement: float  # C-sim vs QKeras, share of images
    max_logit_lsb: float  # C-sim vs QKeras, max |diff| in units of the output LSB
    max_accuracy_drop: float | None  # C-sim vs float top-1, points; None = report only


@dataclass(frozen=True)
class FlowConfig:
    name: str
    path: Path
    model: ModelSection
    data: DataSection
    train: TrainSection
    quantization: dict[str, Any]  # raw, validated; see quant_plan()
    hls: HlsSection
    parity: ParitySection
    raw: dict[str, Any]

    def quant_plan(self, kernel_layers: list[str], activation_layers: list[str] | None = None) -> QuantPlan:
        """Per-layer quantizers: defaults, then per-layer overrides (the one place precision is decided)."""
        q = self.quantization
        where = f"{self.path}: quantization"
        plan = QuantPlan()
        for name in kernel_layers:
            values = dict(q["default"])
            values.update(q["layers"].get(name, {}))
            plan.layers[name] = LayerQuant(
                weight=spec_from_value(values["weight"], role="weight", where=f"{where}.layers.{name}.weight"),
                bias=spec_from_value(values["bias"], role="bias", where=f"{where}.layers.{name}.bias"),
                activation=spec_from_value(values["activation"], role="activation",
                                           where=f"{where}.layers.{name}.activation",
                                           integer=values.get("activation_integer")),
            )
        return plan

    def fingerprint(self, *parts: str) -> str:
        """A short hash of the sections that determine the trained model (+ extra parts)."""
        blob = json.dumps({k: self.raw.get(k) for k in ("model", "data", "train", "quantization")},
                          sort_keys=True, default=str)
        return hashlib.sha256((blob + "".join(parts)).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# helpers


def _expect(value, types, where: str, what: str):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    if not isinstance(value, types):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    return value


def check_keys(section: dict, allowed, where: str) -> dict:
    """A mapping whose keys are all in `allowed` (None = empty), or a one-line ConfigError."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
    unknown = [k for k in section if k not in allowed]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(allowed)}")
    return section


def _choice(value, choices, where: str) -> str:
    if value not in choices:
        raise ConfigError(f"{where}: {value!r} is not valid; valid: {', '.join(choices)}")
    return value


def _int(value, where: str, lo: int = 0) -> int:
    _expect(value, int, where, "an integer")
    if value < lo:
        raise ConfigError(f"{where}: must be >= {lo}, got {value}")
    return value


def _num(value, where: str, lo: float | None = None, hi: float | None = None) -> float:
    _expect(value, (int, float), where, "a number")
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{where}: must be in [{lo}, {hi}], got {value}")
    return float(value)


def check_precision(value, where: str) -> str:
    _expect(value, str, where, "an hls4ml precision string like 'fixed<16,6>'")
    if not _PRECISION.match(value.strip()):
        raise ConfigError(f"{where}: {value!r} is not a precision; valid forms: fixed<W,I>, ufixed<W,I>, "
                          f"fixed<W,I,RND_CONV,SAT>, int<W> (optionally ap_-prefixed)")
    width = int(re.search(r"<\s*(\d+)", value).group(1))
    if not 1 <= width <= MAX_PRECISION_WIDTH:
        raise ConfigError(f"{where}: {value!r}: width {width} is out of range; valid widths: 1..{MAX_PRECISION_WIDTH}")
    return value.strip()


# ---------------------------------------------------------------------------------------------
# sections


def _model(raw, where) -> ModelSection:
    from hwflow import zoo

    raw = dict(_expect(raw, dict, where, "a mapping with at least 'arch'"))
    if "arch" not in raw:
        raise ConfigError(f"{where}.arch: missing; valid: {', '.join(zoo.list_models())}")
    arch = raw.pop("arch")
    params = zoo.params_of(str(arch), where=f"{where}.arch")
    check_keys(raw, ["arch", *params], where)
    for k, v in raw.items():
        default = params[k].default
        if k == "input_shape":
            if not (isinstance(v, list) and len(v) == 3 and all(isinstance(i, int) and not isinstance(i, bool)
                                                                and i > 0 for i in v)):
                raise ConfigError(f"{where}.input_shape: expected [height, width, channels] (3 positive integers), "
                                  f"got {v!r}")
            if max(v[:2]) > MAX_IMAGE_SIDE or v[2] > MAX_CHANNELS:
                raise ConfigError(f"{where}.input_shape: {v!r} is too large; the limit is {MAX_IMAGE_SIDE} pixels "
                                  f"per side and {MAX_CHANNELS} channels")
            raw[k] = tuple(v)
        elif k == "dropout":
            _num(v, f"{where}.{k}", 0)
            if v >= 1:
                raise ConfigError(f"{where}.dropout: must be in [0, 1) (a share of units dropped), got {v}")
        elif isinstance(default, bool):
            _expect(v, bool, f"{where}.{k}", "true or false")
        elif isinstance(default, int):
            _int(v, f"{where}.{k}", 1)
        elif isinstance(default, float):
            _num(v, f"{where}.{k}", 0)
            if v <= 0 or (k in ("width", "alpha") and v > MAX_WIDTH_MULTIPLIER):
                raise ConfigError(f"{where}.{k}: must be > 0" + (f" and <= {MAX_WIDTH_MULTIPLIER}" if k in ("width", "alpha")
                                  else "") + f", got {v}")
        elif isinstance(default, str):
            raw[k] = str(_expect(v, (str, int, float), f"{where}.{k}", "a string"))
    return ModelSection(arch, raw)


def _data(raw, where, base: Path) -> DataSection:
    raw = check_keys(raw, ["source", "test_fraction", "max_train", "max_test", "validation"], where)
    source = raw.get("source", "default")
    _expect(source, str, f"{where}.source", "'default' or a path to an image folder or .npz file")
    path = None
    if source != "default":
        path = (base / source).resolve() if not Path(source).is_absolute() else Path(source)
        if not path.exists():
            raise ConfigError(f"{where}.source: {source!r} does not exist (resolved to {path}); "
                              f"valid: 'default', an image folder <root>/<class>/*.jpg|png, or a .npz file")
        if path.is_file() and path.suffix != ".npz":
            raise ConfigError(f"{where}.source: {source!r} is a file but not .npz")
    return DataSection(
        source=source, path=path,
        test_fraction=_num(raw.get("test_fraction", 0.3), f"{where}.test_fraction", 0.01, 0.99),
        max_train=None if raw.get("max_train") is None else _int(raw["max_train"], f"{where}.max_train", 1),
        max_test=None if raw.get("max_test") is None else _int(raw["max_test"], f"{where}.max_test", 1),
        validation=_int(raw.get("validation", 0), f"{where}.validation"),
    )


def _train(raw, where, base: Path) -> TrainSection:
    raw = check_keys(raw, ["epochs", "qat_epochs", "batch_size", "learning_rate", "seed", "augment", "label_smoothing",
                                 "init_from"], where)
    init_from = None
    if raw.get("init_from") is not None:
        src = _expect(raw["init_from"], str, f"{where}.init_from", "the path of another config file")
        init_from = (base / src).resolve()
        if not init_from.is_file():
            raise ConfigError(f"{where}.init_from: {src!r} does not exist (resolved to {init_from}); "
                              f"valid: the path of another config file, relative to this one")
    return TrainSection(
        init_from=init_from,
        epochs=_int(raw.get("epochs", 10), f"{where}.epochs"),
        qat_epochs=_int(raw.get("qat_epochs", 3), f"{where}.qat_epochs"),
        batch_size=_int(raw.get("batch_size", 64), f"{where}.batch_size", 1),
        learning_rate=_num(raw.get("learning_rate", 1e-3), f"{where}.learning_rate", 0, 1),
        seed=_int(raw.get("seed", 0), f"{where}.seed"),
        augment=_expect(raw.get("augment", False), bool, f"{where}.augment", "true or false"),
        label_smoothing=_num(raw.get("label_smoothing", 0.0), f"{where}.label_smoothing", 0, 0.5),
    )


def _quantization(raw, where) -> dict:
    raw = check_keys(raw, ["default", "layers"], where)
    default = {"weight": 8, "bias": 8, "activation": 8}
    default.update(check_keys(raw.get("default"), [*ROLES, "activation_integer"], f"{where}.default"))
    layers = check_keys(raw.get("layers"), list((raw.get("layers") or {}).keys()), f"{where}.layers")
    out_layers = {}
    for name, spec in layers.items():
        spec = check_keys(spec, [*ROLES, "activation_integer"], f"{where}.layers.{name}")
        out_layers[name] = dict(spec)
    # parse everything once now so a bad spec fails at load time
    for role in ROLES:
        spec_from_value(default[role], role=role, where=f"{where}.default.{role}")
    for name, spec in out_layers.items():
        for role, v in spec.items():
            if role in ROLES:
                spec_from_value(v, role=role, where=f"{where}.layers.{name}.{role}")
    return {"default": default, "layers": out_layers}


def _layer_hls(raw, where) -> LayerHls:
    raw = check_keys(raw, ["reuse_factor", "strategy", "precision"], where)
    prec = check_keys(raw.get("precision"), PRECISION_KEYS, f"{where}.precision")
    return LayerHls(
        reuse_factor=None if "reuse_factor" not in raw else _int(raw["reuse_factor"], f"{where}.reuse_factor", 1),
        strategy=None if "strategy" not in raw else _choice(raw["strategy"], STRATEGIES, f"{where}.strategy"),
        precision={k: check_precision(v, f"{where}.precision.{k}") for k, v in prec.items()},
    )


def _hls(raw, where) -> HlsSection:
    raw = check_keys(raw, ["backend", "board", "part", "clock_period_ns", "io_type", "strategy", "reuse_factor",
                      "input_precision", "layers", "fifo_depth"], where)
    board = get_board(_expect(raw.get("board", "pynq-z2"), str, f"{where}.board", "a board name"),
                      where=f"{where}.board")
    layers_raw = raw.get("layers") or {}
    _expect(layers_raw, dict, f"{where}.layers", "a mapping of layer name -> settings")
    io_type = _choice(raw.get("io_type", "io_stream"), IO_TYPES, f"{where}.io_type")
    fifo = _choice(raw.get("fifo_depth", "auto" if io_type == "io_stream" else "full"), FIFO_MODES,
                   f"{where}.fifo_depth")
    if io_type != "io_stream" and fifo != "full":
        raise ConfigError(f"{where}.fifo_depth: {fifo!r} needs io_type io_stream (io_parallel has no FIFOs); valid: full")
    return HlsSection(
        backend=_choice(raw.get("backend", "Vitis"), BACKENDS, f"{where}.backend"),
        board=board,
        part=check_part(raw.get("part", board.part), f"{where}.part"),
        clock_period_ns=_num(raw.get("clock_period_ns", board.clock_period_ns), f"{where}.clock_period_ns", 0.5, 100),
        io_type=io_type,
        strategy=_choice(raw.get("strategy", "Latency"), STRATEGIES, f"{where}.strategy"),
        reuse_factor=_int(raw.get("reuse_factor", 1), f"{where}.reuse_factor", 1),
        input_precision=check_precision(raw.get("input_precision", "ufixed<8,0,RND_CONV,SAT>"),
                                        f"{where}.input_precision"),
        layers={name: _layer_hls(v, f"{where}.layers.{name}") for name, v in layers_raw.items()},
        fifo_depth=fifo,
    )


def _parity(raw, where) -> ParitySection:
    raw = check_keys(raw, ["images", "min_argmax_agreement", "max_logit_lsb", "max_accuracy_drop"], where)
    drop = raw.get("max_accuracy_drop")
    return ParitySection(
        images=_int(raw.get("images", 500), f"{where}.images", 1),
        min_argmax_agreement=_num(raw.get("min_argmax_agreement", 0.99), f"{where}.min_argmax_agreement", 0, 1),
        max_logit_lsb=_num(raw.get("max_logit_lsb", 4), f"{where}.max_logit_lsb", 0),
        max_accuracy_drop=None if drop is None else _num(drop, f"{where}.max_accuracy_drop", 0, 100),
    )


SECTIONS = ("model", "data", "train", "quantization", "hls", "parity")


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
        model=_model(raw["model"], f"{where}: model"),
        data=_data(raw.get("data"), f"{where}: data", path.parent),
        train=_train(raw.get("train"), f"{where}: train", path.parent),
        quantization=_quantization(raw.get("quantization"), f"{where}: quantization"),
        hls=_hls(raw.get("hls"), f"{where}: hls"),
        parity=_parity(raw.get("parity"), f"{where}: parity"),
        raw=raw,
    )


def validate_layers(cfg: FlowConfig, layer_names: list[str], kernel_layers: list[str]) -> None:
    """Per-layer keys must name layers of the built model."""
    for name in cfg.quantization["layers"]:
        if name not in kernel_layers:
            raise ConfigError(f"{cfg.path}: quantization.layers.{name}: no such layer with weights; "
                              f"valid: {', '.join(kernel_layers)}")
    for name in cfg.hls.layers:
        if name not in layer_names:
            raise ConfigError(f"{cfg.path}: hls.layers.{name}: no such layer; valid: {', '.join(layer_names)}")

