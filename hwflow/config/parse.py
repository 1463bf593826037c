"""Reading a config file into the dataclasses of hwflow.config.sections: one parser per section, each key
checked where it is read (type, range, choice); every error is one line naming the file, the key and what
would be valid."""

from __future__ import annotations

import math
import os
from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Any

from hwflow import zoo
from hwflow.boards import get_board
from hwflow.config.sections import (
    MAX_CLASSES, MAX_INT, MAX_SEED, MAX_WIDTH_MULTIPLIER, PRECISION_KEYS, ROLES, Backend, DataSection, FifoMode,
    FlowConfig, HlsSection, IoType, LayerHls, LayerQuantOverride, ModelSection, ParitySection, PruneSection,
    Optimizer, QuantDefaults, QuantizationSection, Strategy, TrainSection)
from hwflow.errors import ConfigError
from hwflow.guard import (check_input_shape, check_part, check_precision, load_yaml_text, read_text_file,
                          regular_file, show)
from hwflow.zoo.quant import AUTO, spec_from_value


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
        "qat_learning_rate": _optional(lambda v, w: _num(v, w, 0, 1)),
        "batch_size": lambda v, w: _int(v, w, 1),
        "learning_rate": lambda v, w: _num(v, w, 0, 1),
        "optimizer": lambda v, w: _choice(v, Optimizer, w),
        "weight_decay": lambda v, w: _num(v, w, 0, 0.1),
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
    time) and activation_integer (bits, or 'auto': calibrated on the float model's activations), as written."""
    out = {}
    for k, v in check_keys(raw, QUANT_KEYS, where).items():
        if k in ROLES:
            spec_from_value(v, role=k, where=f"{where}.{k}")
        elif v is not None and v != AUTO:
            _expect(v, int, f"{where}.{k}", f"an integer (integer bits) or '{AUTO}'")
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
    cfg = FlowConfig(
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
    if cfg.model.file is not None:
        _no_auto_activations(cfg)
    return cfg


def _no_auto_activations(cfg: FlowConfig) -> None:
    """`activation_integer: auto` is calibrated per zoo layer (`<layer>_relu` / `<layer>_q` outputs of the
    float twin); a model file's activations are matched to kernel layers differently (hwflow.usermodel)."""
    q = cfg.quantization
    for key, entry in [("default", q.default), *((f"layers.{n}", e) for n, e in q.layers.items())]:
        if entry.activation_integer == AUTO:
            raise ConfigError(f"{cfg.path}: quantization.{key}.activation_integer: '{AUTO}' is calibrated for zoo "
                              f"models (model.arch) only; valid for a model file: integer bits (0..bits-1)")


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
