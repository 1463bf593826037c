"""Training: float -> BN fold -> QAT, the cache, and `train.init_from` (QAT started from another config)."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.config import load_config
from hwflow.data import load_dataset
from hwflow.errors import ConfigError
from hwflow.train import float_cache_dir, train
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


def test_init_from_must_exist_and_not_chain(tmp_path):
    bad = write_config(tmp_path, BASE.replace("batch_size: 64}", "batch_size: 64, init_from: nope.yaml}"), "bad")
    with pytest.raises(ConfigError, match=r"train.init_from: 'nope.yaml' does not exist"):
        load_config(bad)
