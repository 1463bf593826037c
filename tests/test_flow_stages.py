"""hwflow.flow.run on a tiny untrained MobileNet: the reuse plan is computed once per build and is
what the project gets; hls4ml's fast reuse rule is scoped to the conversion; slices of STAGES."""

from __future__ import annotations

import json
import sys

import pytest

from hwflow import flow, reuse
from hwflow.config import load_config
from hwflow.errors import ConfigError, CsimError
from tests.conftest import write_config

TINY = """
model: {arch: mobilenet, input_shape: [8, 8, 3], classes: 10, alpha: 0.25, depth: 2, stem_stride: 1}
data: {source: default, test_fraction: 0.2}
train: {epochs: 0, qat_epochs: 0}
quantization:
  default: {weight: 8, bias: 8, activation: 4, activation_integer: 2}
hls:
  backend: Vitis
  board: pynq-z2
  io_type: io_stream
  strategy: Resource
  reuse_factor: 7
  layers:
    conv1: {reuse_factor: 9}
parity: {images: 8}
"""


def _count_plans(monkeypatch) -> list:
    """Wrap hwflow.reuse.plan_reuse wherever a hwflow module holds it."""
    import hwflow.check
    import hwflow.convert
    import hwflow.estimate_report  # noqa: F401

    calls, real = [], reuse.plan_reuse

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("hwflow") and getattr(mod, "plan_reuse", None) is real:
            monkeypatch.setattr(mod, "plan_reuse", counting)
    return calls


def test_reuse_plan_once_per_build_and_written_from_it(build_dir, tmp_path, monkeypatch):
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    original_rule = FPGABackend.get_valid_reuse_factors
    calls = _count_plans(monkeypatch)
    cfg = load_config(write_config(tmp_path, TINY))
    b = flow.run(cfg, stop="estimate")

    assert len(calls) == 1  # models stage; check, convert and estimate read b.reuse
    assert list(b.times) == ["models", "check", "plan", "convert", "estimate"]
    plan = b.reuse
    assert plan.layers["conv1"].explicit and plan.factors["conv1"] == 9
    adjusted = [lr for lr in plan.layers.values() if not lr.ok]  # 7 divides no layer's n_in*n_out here
    assert adjusted and all(lr.reuse_factor == lr.closest != 7 for lr in adjusted)
    assert len(b.project.notes) == len(adjusted)
    # the project (hls4ml's own layer attributes, as written) carries exactly the plan
    written = {l.name: l.reuse_factor for l in b.project.layers if l.name in plan.factors}
    assert written == plan.factors
    hcfg = (b.project.hls_dir / "hls4ml_config.yml").read_text()
    assert "ReuseFactor: 7" in hcfg  # Model.ReuseFactor: the default for layers without multipliers
    assert FPGABackend.get_valid_reuse_factors is original_rule  # the fast rule was scoped to the conversion
    times = json.loads((b.paths.reports / "time_per_stage.json").read_text())
    assert list(times) == ["models", "check", "plan", "convert", "estimate"]
    assert (b.paths.reports / "estimate.json").exists()

    # a later slice continues from disk: the check alone plans again (a new build), once
    calls.clear()
    again = flow.run(cfg, stop="check", options=flow.Options(models="untrained"))
    assert len(calls) == 1 and again.reuse.factors == plan.factors


def test_slices_need_what_earlier_stages_make(build_dir, tmp_path):
    cfg = load_config(write_config(tmp_path, TINY))
    with pytest.raises(CsimError, match="no HLS project; run `make hls"):
        flow.run(cfg, start="parity", stop="parity")
    with pytest.raises(ConfigError, match="no hls4ml project at"):
        flow.run(cfg, start="synth", stop="synth")
    with pytest.raises(ConfigError, match="unknown stage 'train'; valid: models, check"):
        flow.run(cfg, stop="train")
    with pytest.raises(ConfigError, match="comes before start"):
        flow.run(cfg, start="convert", stop="check")
    with pytest.raises(ConfigError, match="needs a flow config"):
        flow.run(None, start="estimate", stop="estimate", options=flow.Options(hls_dir=tmp_path))
