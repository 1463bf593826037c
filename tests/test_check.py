"""`hwflow check` flags each known hls4ml 1.3.0 trap on a model built to contain it."""

from __future__ import annotations

import pytest

from hwflow.check import check_model
from hwflow.config import config_from_dict


def _hls(tmp_path, **hls):
    raw = {"model": {"arch": "squeezenet"}, "hls": {"board": "pynq-z2", "reuse_factor": 1, **hls}}
    return config_from_dict(raw, tmp_path / "t.yaml").hls


def _codes(findings):
    return {(f.layer, f.code, f.fatal) for f in findings}


def _model(build):
    from tensorflow import keras

    inp = keras.Input((16, 16, 4), name="x")
    out = build(keras, inp)
    return keras.Model(inp, out)


def test_overlapping_pool_in_io_stream_is_fatal(tmp_path):
    m = _model(lambda k, x: k.layers.MaxPooling2D(3, strides=2, name="pool")(x))
    f = check_model(m, _hls(tmp_path, io_type="io_stream"))
    assert ("pool", "overlapping-pool-stream", True) in _codes(f)
    msg = next(x for x in f if x.code == "overlapping-pool-stream")
    assert "aborts" in msg.problem and "pool_size" in msg.fix
    # fine in io_parallel, and 2x2/2 is fine in io_stream
    assert not check_model(m, _hls(tmp_path, io_type="io_parallel"))
    m2 = _model(lambda k, x: k.layers.MaxPooling2D(2, strides=2, name="pool")(x))
    assert not check_model(m2, _hls(tmp_path, io_type="io_stream"))


def test_global_average_pool_accumulator(tmp_path):
    m = _model(lambda k, x: k.layers.GlobalAveragePooling2D(name="gap")(x))
    f = check_model(m, _hls(tmp_path))
    (g,) = [x for x in f if x.layer == "gap"]
    assert g.code == "global-pool-accum" and not g.fatal and "16x16" in g.problem and "8 integer bits" in g.problem


def test_keras_relu6_is_fatal(tmp_path):
    m = _model(lambda k, x: k.layers.ReLU(6.0, name="relu6")(x))
    assert ("relu6", "bounded-relu", True) in _codes(check_model(m, _hls(tmp_path)))
    m2 = _model(lambda k, x: k.layers.Activation("relu6", name="act6")(x))
    assert ("act6", "bounded-relu", True) in _codes(check_model(m2, _hls(tmp_path)))
    m3 = _model(lambda k, x: k.layers.ReLU(name="relu")(x))
    assert not check_model(m3, _hls(tmp_path))


def test_softmax_warns(tmp_path):
    m = _model(lambda k, x: k.layers.Dense(3, activation="softmax", name="head")(k.layers.Flatten(name="f")(x)))
    f = check_model(m, _hls(tmp_path, strategy="Resource"))
    assert ("head", "softmax-table", False) in _codes(f)


def test_concatenate_three_inputs_is_fatal(tmp_path):
    m = _model(lambda k, x: k.layers.Concatenate(name="cat")([x, x, x]))
    assert ("cat", "concat-inputs", True) in _codes(check_model(m, _hls(tmp_path)))
    m2 = _model(lambda k, x: k.layers.Concatenate(name="cat")([x, x]))
    assert not check_model(m2, _hls(tmp_path))


def test_5d_reshape_is_fatal(tmp_path):
    def shuffle(k, x):
        x = k.layers.Reshape((16, 16, 2, 2), name="split_groups")(x)
        x = k.layers.Permute((1, 2, 4, 3), name="swap")(x)
        return k.layers.Reshape((16, 16, 4), name="merge")(x)

    f = check_model(_model(shuffle), _hls(tmp_path))
    assert ("split_groups", "reshape-5d", True) in _codes(f)


def test_invalid_reuse_factor(tmp_path):
    m = _model(lambda k, x: k.layers.Conv2D(6, 3, name="conv")(x))  # n_in = 36, n_out = 6
    f = check_model(m, _hls(tmp_path, reuse_factor=5))
    (r,) = [x for x in f if x.code == "reuse-factor"]
    assert not r.fatal and "closest valid value 4" in r.problem and "1, 2, 3, 4, 6, 9, 12" in r.fix
    f = check_model(m, _hls(tmp_path, layers={"conv": {"reuse_factor": 5}}))
    (r,) = [x for x in f if x.code == "reuse-factor"]
    assert r.fatal and "hls4ml would silently use 4" in r.problem


def test_too_large_for_latency_and_parallel(tmp_path):
    m = _model(lambda k, x: k.layers.Dense(512, name="big")(k.layers.Flatten(name="f")(x)))  # 1024 x 512
    f = check_model(m, _hls(tmp_path, strategy="Latency"))
    assert ("big", "too-large-latency", False) in _codes(f)
    from tensorflow import keras

    inp = keras.Input((128, 128, 8))
    big = keras.Model(inp, keras.layers.Conv2D(4, 1, name="c")(inp))
    assert ("c", "too-large-parallel", False) in _codes(check_model(big, _hls(tmp_path, io_type="io_parallel", strategy="Resource")))


def test_cli_check_fatal_exit_status(tmp_path, capsys, build_dir):
    """A model whose config asks for the paper's 3x3/2 pooling in io_stream stops with exit status 3."""
    from hwflow.cli import main

    cfg = tmp_path / "paper_pool.yaml"
    cfg.write_text("model: {arch: squeezenet, input_shape: [32, 32, 3], classes: 10, width: 0.25, pool_size: 3}\n"
                   "train: {epochs: 0, qat_epochs: 0}\nhls: {io_type: io_stream, reuse_factor: 1}\n")
    assert main(["check", "--config", str(cfg)]) == 3
    err = capsys.readouterr().err
    assert "pool1: overlapping 3x3/2 pooling in io_stream aborts" in err and err.count("\n") == 1


@pytest.mark.parametrize("n_in,n_out", [(27, 32), (288, 32), (72, 32), (24, 96), (1024, 10), (9, 1)])
def test_fast_valid_reuse_factors_equal_hls4ml(n_in, n_out):
    from hls4ml.backends import get_backend

    from hwflow.reuse import valid_reuse_factors

    backend = get_backend("Vitis")
    assert valid_reuse_factors(backend, n_in, n_out) == backend.get_valid_reuse_factors(n_in, n_out)
