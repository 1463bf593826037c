"""C-simulation in child processes: crashes become errors, parity failures name the layer.

These compile small generated projects with g++ (hls4ml's build_lib.sh): slow, but the only
honest check of the firmware.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from hwflow.config import config_from_dict
from hwflow.convert import convert
from hwflow.errors import CsimError, ParityError
from hwflow.sim import csim




def _tiny(pool: int, seed: int = 0):
    """QConv 3x3 -> quantized ReLU -> MaxPool(pool, stride 2) -> QConv 1x1 -> GAP, 8x8x3 input."""
    import qkeras
    import tensorflow as tf
    from tensorflow import keras

    tf.keras.utils.set_random_seed(seed)
    q = "quantized_bits(8,0,alpha=1)"
    inp = keras.Input((8, 8, 3), name="image")
    x = qkeras.QConv2D(8, 3, padding="same", kernel_quantizer=q, bias_quantizer=q, name="conv")(inp)
    x = qkeras.QActivation("quantized_relu(8,3)", name="conv_relu")(x)
    x = keras.layers.MaxPooling2D(pool, strides=2, name="pool")(x)
    x = qkeras.QConv2D(4, 1, kernel_quantizer=q, bias_quantizer=q, name="head")(x)
    x = qkeras.QActivation("quantized_relu(8,3)", name="head_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, x)


def _cfg(tmp_path, **hls):
    raw = {"model": {"arch": "squeezenet"}, "hls": {"board": "pynq-z2", "io_type": "io_stream", "reuse_factor": 1, **hls},
           "parity": {"images": 16, "min_argmax_agreement": 1.0, "max_logit_lsb": 0}}
    return config_from_dict(raw, tmp_path / "tiny.yaml")


def _x(n=16):
    return (np.random.default_rng(0).integers(0, 256, (n, 8, 8, 3)) / 256).astype(np.float32)


@pytest.mark.slow
def test_cpp_abort_is_a_clear_error_and_python_survives(tmp_path):
    """The overlapping 3x3/2 pool in io_stream asserts in hls4ml's C++: the child dies, we do not."""
    cfg = _cfg(tmp_path)
    res = convert(cfg, _tiny(pool=3), tmp_path / "hls")
    lib = csim.compile_project(res.hls_dir, tmp_path / "cache")
    with pytest.raises(CsimError) as exc:
        csim.run(res.hls_dir, lib, _x(4), workers=2, progress=False)
    msg = str(exc.value)
    assert "aborted (signal SIGABRT)" in msg and "in layer 'pool' (Pooling2D" in msg and "assertion" in msg
    assert os.getpid() > 0  # still here
    # the library is cached by source hash: a second compile is free
    again = csim.compile_project(res.hls_dir, tmp_path / "cache")
    assert again.cached and again.path == lib.path and again.compile_s == 0.0


@pytest.mark.slow
def test_parity_bit_exact_and_narrow_accumulator_is_localised(tmp_path, monkeypatch):
    from hwflow import flow
    from hwflow.paths import ModelPaths

    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(tmp_path / "build"))
    model = _tiny(pool=2)
    x = _x(16)
    ds = SimpleNamespace(x_test=x, y_test=np.zeros(len(x), int))
    tm = SimpleNamespace(qmodel=model, float_model=model)

    good = _cfg(tmp_path)
    paths = ModelPaths.for_model(good.name)
    convert(good, model, paths.hls)
    res = flow.stage_parity(good, paths, ds, tm, workers=2)
    assert res.passed and res.bit_exact_share == 1.0 and res.argmax_agreement == 1.0 and res.max_abs_diff == 0.0
    # by default the emulator computes the batch and C-sim of the C++ confirms it on a sample
    assert res.csim["engine"] == "emulate" and res.csim["emulator_matches_csim"] and res.csim["reference_images"] == 16
    only_csim = flow.stage_parity(good, paths, ds, tm, workers=2, engine="csim")
    assert only_csim.csim["engine"] == "csim" and only_csim.bit_exact_share == 1.0
    assert (paths.reports / "parity.json").exists() and (paths.reports / "parity_hist.png").exists()
    assert (paths.hls / "tb_data" / "tb_input_features.dat").read_text().count("\n") == 16

    # a deliberately narrow accumulator in the 1x1 conv: parity fails and the tracer names it
    bad = _cfg(tmp_path, layers={"head": {"precision": {"accum": "fixed<10,4>", "result": "fixed<10,4>"}}})
    convert(bad, model, paths.hls)
    res = flow.stage_parity(bad, paths, ds, tm, workers=2)
    assert not res.passed and res.max_diff_lsb > 0
    assert res.first_divergence is not None and res.first_divergence.layer == "head"
    assert res.first_divergence.precision.startswith("fixed<10,4")
    exact = {r.layer: r.max_abs_diff for r in res.layer_diffs}
    assert exact["conv"] == 0 and exact["conv_relu"] == 0 and exact["pool"] == 0
    with pytest.raises(ParityError, match="first diverging layer head"):
        flow._fail_on_parity(bad, res)
    md = (paths.reports / "parity.md").read_text()
    assert "**FAIL**" in md and "First diverging layer: **head**" in md


def test_source_hash_ignores_the_random_lib_stamp(tmp_path):
    """hls4ml writes a new random LIB_STAMP into build_lib.sh each time; an identical project must hash equal."""
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "myproject.cpp").write_text("int f() { return 1; }\n")
    (tmp_path / "myproject_bridge.cpp").write_text("// bridge\n")
    (tmp_path / "build_lib.sh").write_text("PROJECT=myproject\nLIB_STAMP=aaaa1111\n")
    h1 = csim.source_hash(tmp_path)
    (tmp_path / "build_lib.sh").write_text("PROJECT=myproject\nLIB_STAMP=bbbb2222\n")
    assert csim.source_hash(tmp_path) == h1
    (tmp_path / "firmware" / "myproject.cpp").write_text("int f() { return 2; }\n")
    assert csim.source_hash(tmp_path) != h1
