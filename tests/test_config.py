"""Config validation: every error is one line naming file, key and valid values; exit status 2."""

from __future__ import annotations

import pytest

from hwflow.cli import main
from hwflow.config import load_config
from hwflow.errors import ConfigError
from hwflow.paths import CONFIG_DIR
from tests.conftest import write_config

BASE = """\
model:
  arch: squeezenet
  input_shape: [32, 32, 3]
  classes: 10
  width: 0.25
  pool_size: 2
hls:
  board: pynq-z2
  reuse_factor: 1
"""


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
def test_shipped_configs_load(name):
    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    assert cfg.name == name
    # the part comes from the board table unless the config names one
    assert cfg.hls.part == ((cfg.raw.get("hls") or {}).get("part") or cfg.hls.board.part)


def test_defaults_and_board_table():
    cfg = load_config(CONFIG_DIR / "squeezenet.yaml")
    assert cfg.hls.board.name == "pynq-z2" and cfg.hls.part == "xc7z020clg400-1"
    assert cfg.hls.io_type == "io_stream" and cfg.hls.strategy == "Resource"
    assert cfg.model.params["input_shape"] == (32, 32, 3)
    plan = cfg.quant_plan(["conv1", "fire9_expand3x3"])
    assert plan.get("fire9_expand3x3").weight.bits == 6 and plan.get("conv1").weight.bits == 8
    assert str(plan.get("conv1").activation) == "quantized_relu(6,3)"
    assert cfg.hls.reuse_factor == "auto" and cfg.hls.fold and cfg.hls.default_reuse_factor == 1


CASES = [
    # (yaml edit: (old, new) or appended text, expected message fragments)
    (("hls:\n", "hls:\n  clokc_period_ns: 5\n"), ["hls", "unknown key 'clokc_period_ns'", "valid keys:", "clock_period_ns"]),
    (("board: pynq-z2", "board: pynq-z3"), ["hls.board", "unknown board 'pynq-z3'", "zcu102", "alveo-u250"]),
    (("board: pynq-z2", "board: pynq-z2\n  backend: Quartus"), ["hls.backend", "'Quartus' is not valid", "Vivado, Vitis, VivadoAccelerator"]),
    (("board: pynq-z2", "board: pynq-z2\n  io_type: io_serial"), ["hls.io_type", "io_stream, io_parallel"]),
    (("board: pynq-z2", "board: pynq-z2\n  strategy: Fast"), ["hls.strategy", "Latency, Resource"]),
    (("reuse_factor: 1", "reuse_factor: many"), ["hls.reuse_factor", "'many' is not valid", "an integer >= 1 or auto"]),
    (("classes: 10", "classes: ten"), ["model.classes", "expected an integer"]),
    (("arch: squeezenet", "arch: resnet"), ["model.arch", "unknown architecture 'resnet'", "mobilenet", "squeezenet"]),
    (("width: 0.25", "width: 0.25\n  depth_multiplier: 2"), ["model", "unknown key 'depth_multiplier'", "variant"]),
    ("quantization:\n  default: {weight: \"quantized_bits(8,0,alpha=1\"}\n", ["quantization.default.weight", "not a quantizer call"]),
    ("quantization:\n  default: {weight: \"__import__('os')\"}\n", ["quantization.default.weight"]),
    ("quantization:\n  default: {weight: \"quantized_po2(4)\"}\n", ["unknown quantizer 'quantized_po2'", "quantized_bits"]),
    ("quantization:\n  default: {activation: \"quantized_bits(8,0)\"}\n", ["activation quantizer must be quantized_relu"]),
    ("quantization:\n  default: {weight: 1}\n", ["bit width must be 2..32"]),
    ("hls_extra: 1\n", ["unknown key 'hls_extra'", "model, data, train, quantization, prune, hls, parity"]),
    (("board: pynq-z2", "board: pynq-z2\n  layers: {conv1: {precision: {result: 'fixed<16>'}}}"), ["hls.layers.conv1.precision.result", "not a precision"]),
    (("board: pynq-z2", "board: pynq-z2\n  layers: {conv1: {reuse: 4}}"), ["hls.layers.conv1", "unknown key 'reuse'", "reuse_factor"]),
    ("data:\n  source: /nonexistent/folder\n", ["data.source", "does not exist"]),
    ("parity:\n  min_argmax_agreement: 1.5\n", ["parity.min_argmax_agreement", "must be in"]),
    ("data:\n  validation: -5\n", ["data.validation", "must be >= 0"]),
    ("train:\n  label_smoothing: 0.9\n", ["train.label_smoothing", "must be in [0, 0.5]"]),
    ("train:\n  optimizer: rmsprop\n", ["train.optimizer", "'rmsprop' is not valid", "valid: adam, sgd"]),
    ("train:\n  weight_decay: 0.5\n", ["train.weight_decay", "must be in [0, 0.1]"]),
    ("train:\n  qat_learning_rate: 2\n", ["train.qat_learning_rate", "must be in [0, 1]"]),
    # zoo parameters an entry point would reject with ValueError: caught at load time (hwflow.zoo.register choices)
    (("pool_size: 2", "pool_size: 2\n  variant: '1.2'"), ["model.variant", "'1.2' is not valid for squeezenet", "valid: 1.0, 1.1"]),
    (("pool_size: 2", "pool_size: 2\n  variant: [1]"), ["model.variant", "expected a string"]),
    (("board: pynq-z2", "board: pynq-z2\n  fifo_depth: full\n  io_type: io_parallel\n  backend: vitis"),
     ["hls.backend", "'vitis' is not valid", "Vivado, Vitis, VivadoAccelerator"]),
]


def _make(tmp_path, edit) -> str:
    text = BASE
    if isinstance(edit, tuple):
        assert edit[0] in text
        text = text.replace(edit[0], edit[1], 1)
    else:
        text += edit
    return write_config(tmp_path, text)


@pytest.mark.parametrize("edit,fragments", CASES, ids=[c[1][0] + f"-{i}" for i, c in enumerate(CASES)])
def test_validation_error_message_and_exit_status(tmp_path, capsys, edit, fragments):
    path = _make(tmp_path, edit)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert str(path) in msg and "\n" not in msg
    for frag in fragments:
        assert frag in msg, (frag, msg)
    # the same through the CLI: one line on stderr, exit status 2
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("hwflow check: error:") and fragments[0] in err


def test_bad_yaml_and_missing_file(tmp_path, capsys):
    bad = write_config(tmp_path, "model: [unclosed\n")
    assert main(["check", "--config", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["check", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such config file" in capsys.readouterr().err


@pytest.mark.parametrize("edit,fragments", [
    ("quantization:\n  layers: {fire2_sqeeze: {weight: 4}}\n",
     ["quantization.layers.fire2_sqeeze", "no such layer with weights", "fire2_squeeze, fire2_expand1x1"]),
    (("board: pynq-z2", "board: pynq-z2\n  layers: {conv11: {reuse_factor: 2}}"),
     ["hls.layers.conv11", "no such layer", "conv10_relu"]),
    # fire2_expand3x3: n_in = 3*3*4 = 36, n_out = 16 (width 0.25): 5 is not a valid reuse factor
    (("board: pynq-z2", "board: pynq-z2\n  layers: {fire2_expand3x3: {reuse_factor: 5}}"),
     ["hls.layers.fire2_expand3x3.reuse_factor: 5 is invalid for n_in=36, n_out=16", "valid: 1, 2, 3, 4, 6, 9, 12"]),
])
def test_layer_errors_before_any_training(tmp_path, capsys, build_dir, edit, fragments):
    """Layer names and per-layer reuse factors are checked on the untrained model, before data or training."""
    path = _make(tmp_path, edit)
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    for frag in fragments:
        assert frag in err, (frag, err)
    assert not (build_dir / "cfg" / "model").exists()  # nothing trained, nothing half-written


def test_validation_split_too_large_names_the_valid_range(tmp_path):
    from hwflow.data import load_dataset

    cfg = load_config(write_config(tmp_path, BASE + "data:\n  validation: 5000\n"))
    with pytest.raises(ConfigError, match=r"data.validation: 5000 held-out images leave none to train on; valid: 0\.\.1257 \(the training split has 1258\)"):
        load_dataset(cfg.data, cfg.model.params["input_shape"], cfg.train.seed)
    cfg = load_config(write_config(tmp_path, BASE + "data:\n  validation: 100\n"))
    ds = load_dataset(cfg.data, cfg.model.params["input_shape"], cfg.train.seed)
    assert (len(ds.x_train), len(ds.x_val)) == (1158, 100) and ds.has_validation


MOBILENET = """\
model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 10, alpha: 0.25, depth: 14}
hls: {board: pynq-z2}
"""


def test_zoo_parameter_out_of_range_is_a_config_error(tmp_path, capsys):
    """mobilenet(depth=14) raises ValueError in the entry point; validation names the key and range first."""
    path = write_config(tmp_path, MOBILENET)
    with pytest.raises(ConfigError, match=r"model\.depth: 14 is not valid for mobilenet; valid: 1\.\.13$") as exc:
        load_config(path)
    assert str(exc.value).startswith(str(path))
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "model.depth" in err and "Traceback" not in err


# Today's cache keys (computed on the raw-dict fingerprints before the typed config): training caches
# (hwflow.train) are keyed by them, so the typed canonical form must reproduce them exactly.
PINNED = {
    "squeezenet_cifar10": ("025b424eb35e8a77", "28ed9f1076861d2f", "float-479cd3eac2e15d2d"),
    "mobilenet_cifar10": ("ef55caedaf6da2ef", "1a3747c356d12f83", "float-582332c87872ca01"),
    "squeezenet_cifar10_tuned": ("0fb76084da799565", "e18ed828bb522d10", "float-479cd3eac2e15d2d"),  # init_from
    # squeezenet: 6-bit activations since it is folded for pynq-z2 (the float key is unchanged)
    "squeezenet": ("454813d0540d851a", "71f066f2a054ac47", "float-55c87efdc469ea8a"),  # quantization.layers
    "mobilenet_imagenet": ("bdaa38200f963759", "9ac4d0333e1330a3", "float-8c9220a29484c271"),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_fingerprints_pinned(name, monkeypatch):
    from types import SimpleNamespace

    from hwflow.train import float_cache_dir

    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    plain, with_parts, float_dir = PINNED[name]
    assert cfg.fingerprint() == plain
    assert cfg.fingerprint("dsfp", "base") == with_parts
    assert float_cache_dir(cfg, SimpleNamespace(fingerprint="dsfp")).name == float_dir
    # the same file named relative to another working folder: the same keys
    monkeypatch.chdir(CONFIG_DIR.parent)
    rel = load_config(f"{CONFIG_DIR.name}/{name}.yaml")
    assert (rel.fingerprint(), rel.float_fingerprint("dsfp")) == (plain, float_dir[len("float-"):])


def test_fingerprint_follows_the_typed_values(tmp_path):
    """Keys come from the typed sections: key order and YAML spelling do not matter, values do."""
    a = load_config(write_config(tmp_path, BASE + "train: {epochs: 2, seed: 1}\n"))
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    b = load_config(write_config(b_dir, BASE + "train:\n  seed: 1\n  epochs: 2\n"))
    c_dir = tmp_path / "c"
    c_dir.mkdir()
    c = load_config(write_config(c_dir, BASE + "train: {epochs: 3, seed: 1}\n"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    # quantization changes the QAT key but not the float-training key
    d_dir = tmp_path / "d"
    d_dir.mkdir()
    d = load_config(write_config(d_dir, BASE + "train: {epochs: 2, seed: 1}\nquantization: {default: {weight: 6}}\n"))
    assert d.fingerprint() != a.fingerprint() and d.float_fingerprint() == a.float_fingerprint()
    assert a.quantization.default.weight == 8 and d.quantization.default.weight == 6


def test_defaults_live_on_the_dataclasses(tmp_path):
    from hwflow.config import Backend, FifoMode, HlsSection, IoType, Strategy, TrainSection

    cfg = load_config(write_config(tmp_path, BASE))
    assert cfg.train == TrainSection() and cfg.model.input_shape == (32, 32, 3)
    hls = HlsSection()
    assert (hls.backend, hls.io_type, hls.strategy, hls.fifo_depth) == (Backend.VITIS, IoType.STREAM,
                                                                       Strategy.LATENCY, FifoMode.AUTO)
    assert HlsSection(io_type=IoType.PARALLEL).fifo_depth == "full" and hls.part == hls.board.part
    assert isinstance(cfg.hls.backend, Backend) and cfg.hls.backend == "Vitis"
    # a choice that reaches a YAML writer (derived configs, hls4ml's yaml.dump) is its plain value
    import yaml

    assert yaml.safe_dump({"b": cfg.hls.backend}) == yaml.dump({"b": cfg.hls.backend}) == "b: Vitis\n"
