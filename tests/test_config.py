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
    assert str(plan.get("conv1").activation) == "quantized_relu(8,3)"


CASES = [
    # (yaml edit: (old, new) or appended text, expected message fragments)
    (("hls:\n", "hls:\n  clokc_period_ns: 5\n"), ["hls", "unknown key 'clokc_period_ns'", "valid keys:", "clock_period_ns"]),
    (("board: pynq-z2", "board: pynq-z3"), ["hls.board", "unknown board 'pynq-z3'", "zcu102", "alveo-u250"]),
    (("board: pynq-z2", "board: pynq-z2\n  backend: Quartus"), ["hls.backend", "'Quartus' is not valid", "Vivado, Vitis, VivadoAccelerator"]),
    (("board: pynq-z2", "board: pynq-z2\n  io_type: io_serial"), ["hls.io_type", "io_stream, io_parallel"]),
    (("board: pynq-z2", "board: pynq-z2\n  strategy: Fast"), ["hls.strategy", "Latency, Resource"]),
    (("reuse_factor: 1", "reuse_factor: many"), ["hls.reuse_factor", "expected an integer", "'many'"]),
    (("classes: 10", "classes: ten"), ["model.classes", "expected an integer"]),
    (("arch: squeezenet", "arch: resnet"), ["model.arch", "unknown architecture 'resnet'", "mobilenet", "squeezenet"]),
    (("width: 0.25", "width: 0.25\n  depth_multiplier: 2"), ["model", "unknown key 'depth_multiplier'", "variant"]),
    ("quantization:\n  default: {weight: \"quantized_bits(8,0,alpha=1\"}\n", ["quantization.default.weight", "not a quantizer call"]),
    ("quantization:\n  default: {weight: \"__import__('os')\"}\n", ["quantization.default.weight"]),
    ("quantization:\n  default: {weight: \"quantized_po2(4)\"}\n", ["unknown quantizer 'quantized_po2'", "quantized_bits"]),
    ("quantization:\n  default: {activation: \"quantized_bits(8,0)\"}\n", ["activation quantizer must be quantized_relu"]),
    ("quantization:\n  default: {weight: 1}\n", ["bit width must be 2..32"]),
    ("hls_extra: 1\n", ["unknown key 'hls_extra'", "model, data, train, quantization, hls, parity"]),
    (("board: pynq-z2", "board: pynq-z2\n  layers: {conv1: {precision: {result: 'fixed<16>'}}}"), ["hls.layers.conv1.precision.result", "not a precision"]),
    (("board: pynq-z2", "board: pynq-z2\n  layers: {conv1: {reuse: 4}}"), ["hls.layers.conv1", "unknown key 'reuse'", "reuse_factor"]),
    ("data:\n  source: /nonexistent/folder\n", ["data.source", "does not exist"]),
    ("parity:\n  min_argmax_agreement: 1.5\n", ["parity.min_argmax_agreement", "must be in"]),
    ("data:\n  validation: -5\n", ["data.validation", "must be >= 0"]),
    ("train:\n  label_smoothing: 0.9\n", ["train.label_smoothing", "must be in [0, 0.5]"]),
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
