"""`make hls` end to end on the shipped small configs: train -> check -> convert -> C-sim parity.

Slow (training on the CPU, g++ compile, C-simulation of a few hundred images); this is the
honest check that the generated firmware computes what the QKeras model computes.
"""

from __future__ import annotations

import json

import pytest

from hwflow.config import load_config
from hwflow.flow import run_hls
from hwflow.paths import CONFIG_DIR

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["squeezenet", "mobilenet"])
def test_make_hls_small_configs(name, session_build, monkeypatch):
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(session_build))
    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    res = run_hls(cfg, images=200)
    hls = res.paths.hls
    for rel in ("firmware/myproject.cpp", "firmware/parameters.h", "firmware/weights", "build_prj.tcl",
                "myproject_bridge.cpp", "hwflow_layers.json", "tb_data/tb_input_features.dat"):
        assert (hls / rel).exists(), rel
    p = res.parity
    assert p.passed and p.n_images == 200
    assert p.argmax_agreement >= 0.995 and p.bit_exact_share == 1.0 and p.max_abs_diff == 0.0
    assert p.float_accuracy > 0.8 and p.qkeras_accuracy > 0.8 and p.csim_accuracy == p.qkeras_accuracy
    saved = json.loads((res.paths.reports / "parity.json").read_text())
    assert saved["passed"] and saved["n_images"] == 200
    times = json.loads((res.paths.reports / "time_per_stage.json").read_text())
    assert list(times) == ["models", "check", "plan", "convert", "estimate", "parity"]  # flow.STAGES up to parity
    trained = json.loads((res.paths.reports / "training.json").read_text())  # the models stage's training metrics
    assert trained["float_accuracy"] == res.models.float_accuracy and trained["weights_dir"] == str(res.models.weights_dir)

    # a second run reuses the trained weights and the compiled C-sim library
    again = run_hls(cfg, images=20)
    assert again.parity.csim["compile_cached"] and again.parity.passed


def test_imagenet_mobilenet_converts(session_build, monkeypatch):
    """Full size (224x224x3, 1000 classes) converts and writes a project (compile + C-sim: see README)."""
    from hwflow.convert import convert
    from hwflow.paths import ModelPaths
    from hwflow.train import untrained_models

    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(session_build))
    cfg = load_config(CONFIG_DIR / "mobilenet_imagenet.yaml")
    _, qmodel, _ = untrained_models(cfg)
    res = convert(cfg, qmodel, ModelPaths.for_model(cfg.name).hls)
    assert (res.hls_dir / "firmware" / "myproject.cpp").exists()
    # the BN-folded network: kernels + one bias per output channel (the float twin has 4,253,864 with BN)
    assert sum(l.n_params for l in res.layers) == 4221032
    assert res.layers[-1].shape == [1000]
