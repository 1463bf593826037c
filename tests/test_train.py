"""Training: float -> BN fold -> QAT, the cache, and `train.init_from` (QAT started from another config)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwflow.config import load_config
from hwflow.data import load_dataset
from hwflow.errors import ConfigError
from hwflow.train import float_cache_dir, qat_learning_rate, train
from tests.conftest import write_config

BASE = """\
model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 10, alpha: 0.25, depth: 2, dropout: 0.0}
data: {source: default, max_train: 256, max_test: 64}
train: {epochs: 1, qat_epochs: 1, batch_size: 64}
hls: {board: pynq-z2}
"""


@pytest.mark.slow
def test_cache_and_init_from(tmp_path, build_dir):
    base_path = write_config(tmp_path, BASE, "base")
    narrow = BASE.replace("train: {epochs: 1, qat_epochs: 1, batch_size: 64}",
                          "train: {epochs: 1, qat_epochs: 1, batch_size: 64, init_from: base.yaml}")
    narrow += "quantization: {default: {weight: 4, activation: 6}}\n"
    narrow_path = write_config(tmp_path, narrow, "narrow")
    base_cfg, narrow_cfg = load_config(base_path), load_config(narrow_path)
    assert narrow_cfg.train.init_from == base_path.resolve()
    ds = load_dataset(base_cfg.data, (16, 16, 3))

    base = train(base_cfg, ds)
    assert not base.from_cache and 0 <= base.qkeras_accuracy <= 1
    again = train(base_cfg, ds)
    assert again.from_cache and again.weights_dir == base.weights_dir
    np.testing.assert_array_equal(again.qmodel.get_weights()[0], base.qmodel.get_weights()[0])

    tuned = train(narrow_cfg, ds)
    # the float baseline is shared (same model/data/train), the QAT differs and is cached on its own
    assert float_cache_dir(narrow_cfg, ds) == float_cache_dir(base_cfg, ds)
    np.testing.assert_array_equal(tuned.float_model.get_weights()[0], base.float_model.get_weights()[0])
    assert str(tuned.plan.get("conv1").weight).startswith("quantized_bits(4,")
    assert train(narrow_cfg, ds).from_cache
    # what each run trained, timed: the base all of its schedule, the tuned config its QAT only
    ran = [json.loads((t.weights_dir / "metrics.json").read_text())["trained"] for t in (base, tuned)]
    assert {k: v["epochs"] for k, v in ran[0].items()} == {"float": 1, "qat": 1}
    assert ran[0]["float"]["seconds"] > 0 and ran[0]["qat"]["seconds"] > 0
    assert ran[1]["float"] is None and ran[1]["qat"]["epochs"] == 1


def test_init_from_must_exist_and_not_chain(tmp_path):
    bad = write_config(tmp_path, BASE.replace("batch_size: 64}", "batch_size: 64, init_from: nope.yaml}"), "bad")
    with pytest.raises(ConfigError, match=r"train.init_from: 'nope.yaml' does not exist"):
        load_config(bad)


RESUME = """\
model: {arch: mobilenet, input_shape: [32, 32, 3], classes: 10, alpha: 0.5, depth: 4, dropout: 0.0}
data: {source: default, max_test: 64}
train: {epochs: 8, qat_epochs: 1, batch_size: 16}
hls: {board: pynq-z2}
"""


def _saved_epoch(backup) -> int | None:
    """The last epoch Keras BackupAndRestore saved in `backup` (0-based), None before the first."""
    import tensorflow as tf

    ckpt = tf.train.latest_checkpoint(str(backup / "chief")) or tf.train.latest_checkpoint(str(backup))
    if ckpt is None:
        return None
    names = [n for n, _ in tf.train.list_variables(ckpt) if n.startswith("ckpt_saved_epoch")]
    return int(tf.train.load_variable(ckpt, names[0])) if names else None


@pytest.mark.slow
def test_interrupted_training_resumes_at_the_saved_epoch(tmp_path, build_dir):
    """A training killed (SIGKILL) after some epochs continues from its last per-epoch checkpoint in
    the build cache, not from epoch 0, and ends with the same kind of result."""
    import subprocess
    import sys
    import time

    path = write_config(tmp_path, RESUME, "resume")
    code = ("import sys; from hwflow.config import load_config; from hwflow.data import load_dataset; "
            "from hwflow.train import train; c = load_config(sys.argv[1]); train(c, load_dataset(c.data, (32, 32, 3)))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    cache = build_dir / "cache"
    saved = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            backups = list(cache.glob(".float-*.partial")) if cache.exists() else []
            if backups and (saved := _saved_epoch(backups[0])) is not None and saved >= 1:
                break
            time.sleep(0.05)
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert saved is not None and saved >= 1, "no checkpoint after 2 epochs"
    backup = next(cache.glob(".float-*.partial"))
    saved = _saved_epoch(backup)  # the kill may have come after one more epoch's save
    assert saved is not None and 1 <= saved < 7
    assert not list(cache.glob("float-*/float.weights.h5")), "the float training must not have finished"

    cfg = load_config(path)
    res = train(cfg, load_dataset(cfg.data, (32, 32, 3)))
    metrics = json.loads((res.weights_dir / "metrics.json").read_text())
    assert metrics["started_at_epoch"]["float"] == saved + 1  # continues after the saved epoch
    assert metrics["trained"]["float"]["epochs"] == 8 - (saved + 1)  # the epochs this run trained, timed
    assert metrics["trained"]["float"]["seconds"] > 0
    assert not list(cache.glob(".*.partial"))  # the checkpoints are removed once the trainings end
    assert 0 <= res.qkeras_accuracy <= 1 and list(cache.glob("float-*/float.weights.h5"))


RESTARTS = "train: {epochs: 1, qat_epochs: 1, batch_size: 64, restarts: [{epochs: 1, learning_rate: 0.0005}]}"


def test_restarts_are_parsed_and_keyed_after_the_first_cycle(tmp_path):
    base = load_config(write_config(tmp_path, BASE, "base"))
    warm = load_config(write_config(tmp_path, BASE.replace("train: {epochs: 1, qat_epochs: 1, batch_size: 64}",
                                                           RESTARTS), "warm"))
    assert warm.train.restarts == ((1, 0.0005),)
    keys = warm.float_cycle_fingerprints("ds")
    # the first cycle is the same training as the config without restarts: its cache is reused
    assert keys[0] == base.float_fingerprint("ds") and len(keys) == 2
    assert warm.float_fingerprint("ds") == keys[1] != keys[0]
    assert warm.fingerprint("ds") != base.fingerprint("ds")  # the QAT (and shipped-weights) key changes too
    longer = load_config(write_config(tmp_path, BASE.replace(
        "train: {epochs: 1, qat_epochs: 1, batch_size: 64}", RESTARTS.replace("epochs: 1, learning_rate", "epochs: 2, learning_rate")), "longer"))
    assert longer.float_cycle_fingerprints("ds")[0] == keys[0] and longer.float_fingerprint("ds") != keys[1]


@pytest.mark.parametrize("value, message", [
    ("5", r"train.restarts: expected a list, got 5"),
    ("[3]", r"train.restarts\[0\]: expected a mapping, got 3"),
    ("[{epochs: 2}]", r"train.restarts\[0\]: missing learning_rate"),
    ("[{epochs: 2, learning_rate: 0.01, lr: 1}]", r"train.restarts\[0\]: unknown key 'lr'; valid keys: epochs, learning_rate"),
    ("[{epochs: 0, learning_rate: 0.01}]", r"train.restarts\[0\].epochs: must be >= 1, got 0"),
    ("[{epochs: 2, learning_rate: 3}]", r"train.restarts\[0\].learning_rate: must be in \[0, 1\], got 3"),
    ("[{epochs: 2, learning_rate: 0.1}], epochs: 0", r"bad.yaml: train.restarts: restarts continue a float training, but epochs is 0; valid: epochs >= 1"),
])
def test_bad_restarts_are_one_line_errors(tmp_path, value, message):
    text = BASE.replace("train: {epochs: 1, qat_epochs: 1, batch_size: 64}", f"train: {{qat_epochs: 1, restarts: {value}}}")
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, text, "bad"))


@pytest.mark.slow
def test_restarts_continue_from_the_cached_first_cycle(tmp_path, build_dir):
    """A warm restart starts from the cached training of the same config without restarts, caches each
    cycle under its own key, and gives the same weights as training every cycle in one go."""
    base_cfg = load_config(write_config(tmp_path, BASE, "base"))
    warm_cfg = load_config(write_config(tmp_path, BASE.replace("train: {epochs: 1, qat_epochs: 1, batch_size: 64}",
                                                               RESTARTS), "warm"))
    ds = load_dataset(base_cfg.data, (16, 16, 3))
    base = train(base_cfg, ds)
    warm = train(warm_cfg, ds)
    first, last = (build_dir / "cache" / f"float-{k}" for k in warm_cfg.float_cycle_fingerprints(ds.fingerprint))
    assert first == float_cache_dir(base_cfg, ds) and last == float_cache_dir(warm_cfg, ds)
    assert (last / "float.weights.h5").is_file() and not list((build_dir / "cache").glob(".*.partial"))
    moved = [np.abs(a - b).max() for a, b in zip(warm.float_model.get_weights(), base.float_model.get_weights())]
    assert max(moved) > 0  # the restart trained on from the first cycle's weights
    assert warm.qkeras_accuracy is not None and 0 <= warm.qkeras_accuracy <= 1
    # this run trained the restart's epoch only (the first cycle was cached)
    assert json.loads((warm.weights_dir / "metrics.json").read_text())["trained"]["float"]["epochs"] == 1

    # from scratch (no caches): every cycle in turn, to the same weights
    import shutil

    shutil.rmtree(build_dir)
    again = train(warm_cfg, ds)
    for a, b in zip(again.float_model.get_weights(), warm.float_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


SGD = "train: {epochs: 4, qat_epochs: 1, batch_size: 64, optimizer: sgd, learning_rate: 0.1}"


def test_optimizer_and_weight_decay_are_keyed_only_when_written(tmp_path):
    base = load_config(write_config(tmp_path, BASE, "base"))
    assert base.train.optimizer == "adam" and base.train.weight_decay == 0
    sgd = load_config(write_config(tmp_path, BASE.replace("train: {epochs: 1, qat_epochs: 1, batch_size: 64}", SGD), "sgd"))
    decayed = load_config(write_config(tmp_path, BASE.replace(
        "train: {epochs: 1, qat_epochs: 1, batch_size: 64}", SGD.replace("}", ", weight_decay: 0.01}")), "wd"))
    keys = {c.float_fingerprint("ds") for c in (base, sgd, decayed)}
    assert len(keys) == 3  # each recipe is its own training
    qat = load_config(write_config(tmp_path, BASE.replace("batch_size: 64}", "batch_size: 64, qat_learning_rate: 0.0001}"),
                                   "qat"))
    # the QAT's learning rate is not the float training's: same float cache, its own QAT key
    assert qat.float_fingerprint("ds") == base.float_fingerprint("ds") and qat.fingerprint("ds") != base.fingerprint("ds")
    assert [qat_learning_rate(c) for c in (qat, base, sgd)] == pytest.approx([0.0001, 0.001 / 10, 0.1 / 10])
    explicit = load_config(write_config(tmp_path, BASE.replace("batch_size: 64}", "batch_size: 64, optimizer: adam}"),
                                        "explicit"))
    assert explicit.train == base.train  # the default written out is the same training...
    assert explicit.float_fingerprint("ds") != base.float_fingerprint("ds")  # ...keyed by what is written (as every key)


MORE = BASE.replace("max_train: 256, max_test: 64", "max_train: 1024, max_test: 256")


@pytest.mark.slow
def test_sgd_with_weight_decay_trains_and_shrinks_the_weights(tmp_path, build_dir):
    """train.optimizer sgd is Keras's SGD with Nesterov momentum 0.9 and train.weight_decay its decoupled
    decay: the same 4-epoch training with decay ends with smaller kernels than without, and both learn."""
    from tensorflow import keras

    from hwflow.train import _optimizer

    sgd = load_config(write_config(tmp_path, MORE.replace("train: {epochs: 1, qat_epochs: 1, batch_size: 64}", SGD), "sgd"))
    decayed = load_config(write_config(tmp_path, MORE.replace(
        "train: {epochs: 1, qat_epochs: 1, batch_size: 64}", SGD.replace("}", ", weight_decay: 0.1}")), "wd"))
    opt = _optimizer(decayed, 0.1)
    assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov and opt.momentum == 0.9 and opt.weight_decay == 0.1
    assert _optimizer(load_config(write_config(tmp_path, BASE, "base")), 0.001).weight_decay is None
    qat = _optimizer(decayed, 0.0004, qat=True)  # QAT: Adam, no decay (the folded twin has no BN to undo it)
    assert isinstance(qat, keras.optimizers.Adam) and qat.weight_decay is None
    ds = load_dataset(sgd.data, (16, 16, 3))
    runs = [train(cfg, ds) for cfg in (sgd, decayed)]
    kernel = [sum(float(np.sum(layer.kernel.numpy() ** 2)) for layer in r.float_model.layers if hasattr(layer, "kernel"))
              for r in runs]
    # learnt: top-1 on training images with batch statistics (the moving averages of BN have not settled in 64 steps)
    fit = [float(np.mean(np.argmax(r.float_model(ds.x_train[:512], training=True), axis=1) == ds.y_train[:512]))
           for r in runs]
    assert kernel[1] < 0.9 * kernel[0]  # 64 steps, each w -= lr * 0.1 * w (lr 0.1 cosine down to 0): 39% less measured
    assert min(fit) > 0.5  # 10 classes: chance is 0.1
