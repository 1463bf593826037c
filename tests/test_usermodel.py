"""A user's own model file through the flow (issue 19): `model: {file: ...}` and `hwflow hls --keras`.

Every model is built and saved inside the test (never downloaded). The fast tests cover the
config errors, the QKeras twin (BN folding, ReLU6 -> exact bounded ReLU, softmax to the host, QAT),
the check's refusals and a sweep point; the slow ones run `hwflow hls` end to end and require
C-sim parity to be bit-exact: a QKeras CNN in the style of hls4ml's test suite, and Keras
applications MobileNet(alpha=0.25) and MobileNetV2(alpha=0.35) at 32x32.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from hwflow.config import load_config
from hwflow.errors import ConfigError


def _save(model, path):
    model.save(path)
    return path


def _cfg(tmp_path, model_file, name="user", **sections):
    raw = {"model": {"file": model_file}, "train": {"epochs": 0}, **sections}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _cli(capsys, *argv) -> tuple[int, str]:
    from hwflow.cli import main

    rc = main(list(map(str, argv)))
    out = capsys.readouterr()
    return rc, out.out + out.err


def _float_cnn(shape=(12, 12, 3), bn_stats=True, relu6=True, softmax="activation"):
    """Conv-BN-ReLU6, ZeroPadding + strided depthwise, a linear projection into an Add, GAP, Dense."""
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(3)
    act = (lambda n: L.ReLU(6.0, name=n)) if relu6 else (lambda n: L.ReLU(name=n))
    i = L.Input(shape)
    x = act("c1_relu")(L.BatchNormalization(name="c1_bn")(L.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(i)))
    x = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(x)
    x = L.DepthwiseConv2D(3, strides=2, use_bias=False, name="dw")(x)
    x = L.Activation("relu6", name="dw_relu")(L.BatchNormalization(name="dw_bn")(x))
    y = L.BatchNormalization(name="pw_bn")(L.Conv2D(8, 1, use_bias=False, name="pw")(x))
    x = L.GlobalAveragePooling2D(name="gap")(L.Add(name="add")([x, y]))
    if softmax == "dense":
        x = L.Dense(5, activation="softmax", name="fc")(x)
    else:
        x = L.Activation("softmax", name="prob")(L.Dense(5, name="fc")(x))
    m = tf.keras.Model(i, x)
    if bn_stats:  # folding must matter: non-trivial BN statistics
        rng = np.random.default_rng(0)
        for layer in m.layers:
            if isinstance(layer, L.BatchNormalization):
                n = layer.moving_mean.shape[0]
                layer.set_weights([rng.uniform(0.5, 1.5, n), rng.uniform(-0.2, 0.2, n), rng.uniform(-0.2, 0.2, n),
                                   rng.uniform(0.5, 1.5, n)])
    return m


# ------------------------------------------------------------------------------ config errors


def test_model_file_errors_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.file: 'nope\.h5' does not exist \(resolved to .*nope\.h5\)"):
        load_config(_cfg(tmp_path, "nope.h5"))
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"x" * 64)
    with pytest.raises(ConfigError, match=r"model\.file: .*junk\.h5 is not a Keras model file"):
        load_config(_cfg(tmp_path, "junk.h5"))
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"is not a model file; valid: \.h5, \.keras"):
        load_config(_cfg(tmp_path, "m.txt"))
    raw = {"model": {"file": "nope.h5", "arch": "squeezenet"}}
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="unknown key 'arch' next to 'file'"):
        load_config(tmp_path / "two.yaml")


def test_config_path_is_relative_to_the_config_and_the_hash_keys_the_cache(tmp_path):
    sub = tmp_path / "models"
    sub.mkdir()
    f = _save(_float_cnn(), sub / "net.h5")
    cfg = load_config(_cfg(tmp_path, "models/net.h5"))
    assert cfg.model.file == f.resolve() and cfg.model.input_shape == (12, 12, 3) and cfg.model.arch == "file"
    fp = cfg.fingerprint()
    _save(_float_cnn(bn_stats=False), f)  # other weights, same place: another model
    assert load_config(_cfg(tmp_path, "models/net.h5")).fingerprint() != fp


def test_unknown_custom_objects_are_named(tmp_path, build_dir, capsys):
    import tensorflow as tf

    class Scale(tf.keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    i = tf.keras.Input((8, 8, 1))
    m = tf.keras.Model(i, tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(Scale(name="s")(i))))
    _save(m, tmp_path / "custom.h5")
    rc, out = _cli(capsys, "check", "--config", _cfg(tmp_path, "custom.h5"))
    assert rc == 2
    (line,) = [ln for ln in out.splitlines() if "error" in ln]
    assert "layer 's' (Scale) is not supported by hwflow" in line and "ChannelShuffle" in line  # before Keras loads it


# --------------------------------------------------------------------------- the QKeras twin


@pytest.mark.parametrize("softmax", ["activation", "dense"])
def test_twin_folds_bn_bounds_relu6_and_cuts_the_softmax(tmp_path, build_dir, softmax):
    import tensorflow as tf

    from hwflow.train import untrained_models

    orig = _float_cnn(softmax=softmax)
    cfg = load_config(_cfg(tmp_path, str(_save(orig, tmp_path / "f.h5"))))
    float_model, qmodel, plan = untrained_models(cfg)
    x = np.random.default_rng(1).integers(0, 256, (32, 12, 12, 3)).astype(np.float32) / 256
    # the float model ends at the logits: softmax of them is the file's output
    np.testing.assert_allclose(tf.nn.softmax(float_model.predict(x, verbose=0)).numpy(), orig.predict(x, verbose=0),
                               atol=1e-5)
    names = [l.name for l in qmodel.layers]
    assert not any("bn" in n for n in names) and "pw_q" in names and "prob" not in names  # folded; linear_q
    assert type(qmodel.get_layer("c1")).__name__ == "QConv2D"
    for name in ("c1_relu", "dw_relu"):  # Keras ReLU(6) and relu6: QKeras' bounded quantized_relu, bound active
        q = qmodel.get_layer(name).quantizer
        assert (type(q).__name__, q.relu_upper_bound, q.is_quantized_clip) == ("quantized_relu", 6, False)
    qf, ff = qmodel.predict(x, verbose=0), float_model.predict(x, verbose=0)
    assert np.corrcoef(qf.ravel(), ff.ravel())[0, 1] > 0.97  # 8-bit twin of the folded float model
    assert plan.layers["c1"].weight.integer is not None  # integer bits resolved on the folded weights


def test_flow_check_on_a_float_file_finds_no_unbounded_relu(tmp_path, build_dir, capsys):
    rc, out = _cli(capsys, "check", "--config", _cfg(tmp_path, str(_save(_float_cnn(), tmp_path / "f.keras"))))
    assert rc == 0, out
    assert "bounded-relu" not in out and "none fatal" in out


def test_qkeras_file_with_keras_relu6_is_refused(tmp_path, build_dir, capsys):
    import qkeras
    import tensorflow as tf

    i = tf.keras.Input((8, 8, 1))
    x = qkeras.QConv2D(4, 3, kernel_quantizer="quantized_bits(8,0,alpha=1)", bias_quantizer="quantized_bits(8,0,alpha=1)",
                       name="c")(i)
    x = tf.keras.layers.ReLU(6.0, name="r6")(x)
    x = qkeras.QDense(3, kernel_quantizer="quantized_bits(8,0,alpha=1)", bias_quantizer="quantized_bits(8,0,alpha=1)",
                      name="fc")(tf.keras.layers.Flatten()(x))
    cfg = _cfg(tmp_path, str(_save(tf.keras.Model(i, x), tmp_path / "q.h5")))
    rc, out = _cli(capsys, "check", "--config", cfg)
    assert rc == 3 and "r6: [bounded-relu]" in out  # CheckError and "silently dropped" in out


def test_5d_reshape_is_refused_naming_the_channel_shuffle_layer(tmp_path, build_dir, capsys):
    import tensorflow as tf

    L = tf.keras.layers
    i = L.Input((4, 4, 3))
    x = L.Conv2D(8, 1, name="c")(i)
    x = L.Reshape((4, 4, 2, 4), name="split")(x)
    x = L.Reshape((4, 4, 8), name="merge")(L.Permute((1, 2, 4, 3), name="swap")(x))
    x = L.Dense(3, name="fc")(L.Flatten()(x))
    rc, out = _cli(capsys, "check", "--config", _cfg(tmp_path, str(_save(tf.keras.Model(i, x), tmp_path / "s.h5"))))
    assert rc == 3  # CheckError
    assert "split: [reshape-5d]" in out and "hwflow.hls_ext.keras_layers.ChannelShuffle(groups)" in out


def _npz(tmp_path, *, seed: int, n_test: int):
    """tmp_path/d.npz: 48 training and n_test test images of 12x12x3 with 5 random labels."""
    rng = np.random.default_rng(seed)
    np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (48, 12, 12, 3), dtype=np.uint8),
             y_train=rng.integers(0, 5, 48), x_test=rng.integers(0, 256, (n_test, 12, 12, 3), dtype=np.uint8),
             y_test=rng.integers(0, 5, n_test))


def test_qat_on_given_data_changes_the_twin_and_reports_accuracy(tmp_path, build_dir):
    from hwflow.flow import Options, run
    from hwflow.train import untrained_models

    _npz(tmp_path, seed=0, n_test=16)
    f = str(_save(_float_cnn(), tmp_path / "f.h5"))
    cfg = load_config(_cfg(tmp_path, f, data={"source": "d.npz"}, train={"epochs": 1, "batch_size": 16}))
    b = run(cfg, stop="models", options=Options(command="test"))
    before = untrained_models(cfg)[1]
    assert not np.array_equal(b.qmodel.get_layer("c1").get_weights()[0], before.get_layer("c1").get_weights()[0])
    assert 0 <= b.models.float_accuracy <= 1 and 0 <= b.models.qkeras_accuracy <= 1


def test_a_sweep_point_runs_on_a_model_file_config(tmp_path, build_dir):
    from hwflow.sweep.point import PointTask, run_point
    from hwflow.sweep.run import prepare_model, validate
    from hwflow.sweep.spec import spec_from_dict

    cfg = load_config(_cfg(tmp_path, str(_save(_float_cnn(), tmp_path / "f.h5"))))
    spec = spec_from_dict({"depth": "estimate", "weights": "trained", "space": {"reuse_factor": [2],
                                                                                 "layers": {"fc": {"reuse_factor": [8]}}}},
                          tmp_path / "space.yaml")
    (point,) = spec.points()
    (pcfg,) = validate(cfg, spec, [point])
    assert pcfg.model.file == cfg.model.file and pcfg.hls.reuse_factor == 2
    blob = prepare_model(cfg, spec, {})
    row = run_point(PointTask("p", point, cfg.raw, str(cfg.path), "estimate", str(tmp_path / "p")), blob)
    assert row["status"] == "ok", row.get("error")
    assert row["est_lut"] > 0 and row["latency_cycles"] > 0


def _qkeras_file(tmp_path):
    import qkeras
    import tensorflow as tf

    qb = "quantized_bits(8,0,alpha=1)"
    i = tf.keras.Input((8, 8, 1))
    x = qkeras.QConv2D(4, 3, kernel_quantizer=qb, bias_quantizer=qb, name="c")(i)
    x = qkeras.QDense(3, kernel_quantizer=qb, bias_quantizer=qb, name="fc")(tf.keras.layers.Flatten()(x))
    return str(_save(tf.keras.Model(i, x), tmp_path / "q.h5"))


def test_tune_refuses_a_qkeras_file_in_one_line(tmp_path, build_dir, capsys):
    cfg = _cfg(tmp_path, _qkeras_file(tmp_path), train={"epochs": 1})
    rc, out = _cli(capsys, "tune", "--config", cfg)
    assert rc == 2 and "q.h5 is a QKeras model; tune searches the widths" in out and "Traceback" not in out


@pytest.mark.slow
def test_tune_runs_on_a_float_model_file(tmp_path, build_dir):
    """tune on a user's float file: the search narrows widths of the twin, the tuned config names the
    same file (relative to where it is written) and loads again."""
    from hwflow.tune import tune

    _npz(tmp_path, seed=1, n_test=32)
    f = str(_save(_float_cnn(), tmp_path / "f.h5"))
    cfg = load_config(_cfg(tmp_path, f, data={"source": "d.npz"}, train={"epochs": 1, "batch_size": 16}))
    r = tune(cfg, 100.0, slice_images=16, weight_bits=[4, 8], act_bits=[8], qat=True,
             estimate_resources=False, engine="qkeras", out=tmp_path / "out" / "user_tuned.yaml")
    assert r.yaml_path.is_file()
    tuned = load_config(r.yaml_path)
    assert tuned.model.file == cfg.model.file  # the same model file, resolved from the tuned config's folder
    assert r.rows[-1]["label"] == "tuned (after QAT)"  # QAT of the twin at the tuned widths ran on the file's model
    assert r.rows[-1]["mean_weight_bits"] < 8  # a 100-point budget lets the search narrow every layer it may
    assert any(lq.weight == 4 or str(lq.weight).startswith(("4", "quantized_bits(4,")) for lq in tuned.quantization.layers.values())


def test_fit_on_a_model_file_config_writes_a_config_that_finds_the_file(tmp_path, build_dir, capsys):
    _save(_float_cnn(), tmp_path / "f.h5")
    src = _cfg(tmp_path, "f.h5")  # relative to the config
    out = tmp_path / "elsewhere" / "user_pynq-z2.yaml"
    rc, text = _cli(capsys, "fit", "--config", src, "--board", "pynq-z2", "--out", out,
                    "--report-dir", tmp_path / "fit")
    assert rc == 0, text
    fitted = load_config(out)
    assert yaml.safe_load(out.read_text())["model"]["file"] == "../f.h5"  # rebased to the written config
    assert fitted.model.file == load_config(src).model.file == (tmp_path / "f.h5").resolve()
    assert fitted.hls.board.name == "pynq-z2"


# --------------------------------------------------------------------------------- end to end


def _parity(build_dir, name) -> dict:
    return json.loads((build_dir / name / "reports" / "parity.json").read_text())


def _assert_bit_exact(build_dir, name, images):
    p = _parity(build_dir, name)
    assert p["n_images"] == images and p["bit_exact_share"] == 1.0 and p["max_abs_diff"] == 0.0, p
    # the QKeras logits the firmware matched (the testbench data parity writes) are not trivially zero
    logits = np.loadtxt(build_dir / name / "hls" / "tb_data" / "tb_output_predictions.dat", ndmin=2)
    assert len(np.unique(logits)) > logits.shape[1], logits


def _calibrate_bn(model, x):
    """Moving statistics of every BN from its input on `x`, in graph order (an untrained `weights=None`
    application has mean 0 / variance 1 everywhere: its quantized activations would die out to zero)."""
    import tensorflow as tf

    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            a = tf.keras.Model(model.inputs, layer.input).predict(x, verbose=0)
            gamma, beta, _, _ = layer.get_weights()
            layer.set_weights([gamma, beta, a.mean(axis=(0, 1, 2)), a.var(axis=(0, 1, 2)) + 1e-3])


@pytest.mark.slow
def test_qkeras_cnn_hls4ml_test_suite_style_through_hwflow_hls_bit_exact(tmp_path, build_dir, capsys):
    """QConv2D, QDepthwiseConv2D, pooling, BN, Add, Concatenate, QDense (QKeras model taken as it is)."""
    import qkeras
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(7)

    def qb(bits=6, integer=0):
        return qkeras.quantized_bits(bits, integer, alpha=1)

    i = L.Input((16, 16, 3), name="img")
    x = qkeras.QConv2D(8, 3, padding="same", kernel_quantizer=qb(), bias_quantizer=qb(), name="conv1")(i)
    x = L.BatchNormalization(name="bn1")(x)
    x = qkeras.QActivation(qkeras.quantized_relu(8, 3), name="relu1")(x)
    x = L.MaxPooling2D(2, name="pool1")(x)
    a = qkeras.QDepthwiseConv2D(3, padding="same", depthwise_quantizer=qb(), bias_quantizer=qb(), name="dw")(x)
    a = qkeras.QActivation(qkeras.quantized_relu(8, 3), name="relu_dw")(a)
    b = qkeras.QConv2D(8, 1, kernel_quantizer=qb(), bias_quantizer=qb(), name="pw")(x)
    b = qkeras.QActivation(qkeras.quantized_relu(8, 3), name="relu_pw")(b)
    s = L.Add(name="add")([a, b])
    c = L.Concatenate(name="cat")([s, x])
    c = L.MaxPooling2D(2, name="pool2")(c)  # an AveragePooling2D here: hls4ml rounds its result type (0.5 LSB)
    c = qkeras.QActivation(qkeras.quantized_bits(8, 3, alpha=1), name="q_pool")(c)
    y = qkeras.QDense(10, kernel_quantizer=qb(), bias_quantizer=qb(), name="fc")(L.Flatten(name="flat")(c))
    y = L.Activation("softmax", name="prob")(y)
    model = tf.keras.Model(i, y)
    rng = np.random.default_rng(0)
    # hls4ml computes an unfolded BN as x * scale + shift in fixed point: bit-exact when scale and shift
    # are representable (here: var + eps == 4.0 in float32, gamma and beta, mean on a 1/16 grid)
    model.get_layer("bn1").set_weights([rng.choice([0.5, 1.0, 1.5, 2.0], 8), rng.integers(-4, 5, 8) / 16,
                                        rng.integers(-4, 5, 8) / 16, np.full(8, 4.0 - 1e-3)])
    cfg = _cfg(tmp_path, str(_save(model, tmp_path / "qcnn.h5")), name="qcnn", parity={"images": 8})
    rc, out = _cli(capsys, "hls", "--config", cfg)
    assert rc == 0, out
    assert "QKeras model, taken as it is; trailing softmax 'prob' runs on the host: parity compares logits" in out
    _assert_bit_exact(build_dir, "qcnn", 8)


@pytest.mark.slow
@pytest.mark.parametrize("app, alpha", [("MobileNet", 0.25), ("MobileNetV2", 0.35)])
def test_keras_application_through_hls_keras_bit_exact(tmp_path, build_dir, capsys, app, alpha):
    """ReLU6 and ZeroPadding2D of the Keras applications, untrained (weights=None), 32x32, 2 images."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = getattr(tf.keras.applications, app)(alpha=alpha, weights=None, input_shape=(32, 32, 3), classes=10)
    _calibrate_bn(model, np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)).astype(np.float32) / 256)
    name = app.lower()
    rc, out = _cli(capsys, "hls", "--keras", _save(model, tmp_path / f"{name}.h5"), "--images", "2")
    assert rc == 0, out
    written = build_dir / name / f"{name}.yaml"
    assert f"config {written}" in out and load_config(written).model.file == (tmp_path / f"{name}.h5").resolve()
    assert "Keras float model -> QKeras twin (BN folded); trailing softmax 'predictions' runs on the host" in out
    assert "BoundedReLU" in out and "ZeroPadding2D" in out  # ReLU6 converted exactly, padding kept
    _assert_bit_exact(build_dir, name, 2)
