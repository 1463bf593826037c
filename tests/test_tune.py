"""hwflow tune: cost arithmetic, quantizer swapping, the greedy search's budget, the written YAML.

The end-to-end test trains a tiny MobileNet on a small slice of the real CIFAR-10 JPEGs
(600 train / 200 test images at 16x16, a few seconds) and tunes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from hwflow.config import load_config
from hwflow.errors import ConfigError
from hwflow.paths import REPO_ROOT
from hwflow.tune import search, space

CIFAR = REPO_ROOT.parent / "shared" / "data" / "cifar10-jpg"


def _tiny_yaml(tmp_path: Path, **train) -> Path:
    raw = {
        "model": {"arch": "mobilenet", "input_shape": [16, 16, 3], "classes": 10, "alpha": 0.25, "depth": 2,
                  "stem_stride": 1, "dropout": 0.0},
        "data": {"source": str(CIFAR), "max_train": 600, "max_test": 200, "validation": 150},
        "train": {"epochs": 4, "qat_epochs": 1, "batch_size": 32, "learning_rate": 0.005, **train},
        "quantization": {"default": {"weight": 8, "bias": 8, "activation": 8, "activation_integer": 3}},
        "hls": {"backend": "Vitis", "board": "pynq-z2", "io_type": "io_stream", "strategy": "Resource",
                "reuse_factor": 8, "layers": {"conv1": {"reuse_factor": 9}, "fc": {"strategy": "Latency",
                                                                                  "reuse_factor": 1}}},
        "parity": {"images": 20},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def build_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(tmp_path / "build"))
    return tmp_path / "build"


INFOS = [space.LayerInfo("a", "Conv2D", 1000, 100, True), space.LayerInfo("b", "Conv2D", 3000, 300, True),
         space.LayerInfo("fc", "Dense", 100, 100, False)]
BASE = {"a": [8, 8], "b": [8, 8], "fc": [8, None]}


def test_cost_and_mean_weight_bits():
    assert space.cost(BASE, INFOS, BASE) == pytest.approx(100.0)
    p = {"a": [4, 8], "b": [8, 6], "fc": [2, None]}
    # logic (1000*12 + 3000*14 + 100*2) / (1000*16 + 3000*16 + 100*8), memory (100*4 + 300*8 + 100*2) / (500*8)
    assert space.cost(p, INFOS, BASE) == pytest.approx(50 * 54200 / 64800 + 50 * 3000 / 4000)
    assert space.mean_weight_bits(p, INFOS) == pytest.approx((100 * 4 + 300 * 8 + 100 * 2) / 500)


def _fake_evaluator(penalty: dict[str, float]):
    """Accuracy falls by penalty[layer] points per bit removed (any role) from 8; counts calls."""
    calls = []

    def evaluate(point):
        calls.append(point)
        lost = sum(penalty[n] * ((8 - w) + (0 if a is None else 8 - a)) for n, (w, a) in point.items())
        return 0.90 - lost / 100.0

    return evaluate, calls


@pytest.mark.parametrize("budget", [0.0, 1.0, 3.0])
def test_search_respects_budget_and_resumes(tmp_path, budget):
    evaluate, calls = _fake_evaluator({"a": 0.1, "b": 0.4, "fc": 0.05})
    wb, ab = [6, 5, 4, 3, 2], [6, 5, 4, 3]
    state = search.State.load(tmp_path / "state.json", "k")
    state.float_acc, state.base_acc = 0.90, evaluate(BASE)
    search.sensitivity(state, evaluate, INFOS, BASE, wb, ab)
    assert len(state.sensitivity) == 3 * 5 + 2 * 4
    point = search.search(state, evaluate, INFOS, BASE, budget, wb, ab)
    drop = 100 * (0.90 - evaluate(point))
    assert drop <= budget + 1e-9
    for v in state.visited:  # accepted <=> within budget
        assert v["accepted"] == (100 * (0.90 - v["accuracy"]) <= budget + 1e-9)
    if budget == 0.0:
        assert point == BASE
    if budget == 3.0:  # weights first (they count in both cost terms): 0.6 + 2.0 + 0.3 points
        assert point == {"a": [2, 8], "b": [3, 8], "fc": [2, None]}
        assert space.cost(point, INFOS, BASE) == pytest.approx(50 * 43200 / 64800 + 50 * 1300 / 4000)
    # greedy maximality: no single further step stays within the budget
    for name, role, bits in search._moves(state, INFOS, wb, ab):
        assert 100 * (0.90 - evaluate(search._with(point, name, role, bits))) > budget
    for name, role in state.blocked:
        i = search.ROLES.index(role)
        lower = [b for b in (wb if role == "weight" else ab) if b < point[name][i]]
        if lower:
            assert 100 * (0.90 - evaluate(search._with(point, name, role, max(lower)))) > budget
    # a second run on the same state file evaluates nothing new and returns the same point
    n = len(calls)
    again = search.State.load(tmp_path / "state.json", "k")
    assert again.done and again.visited == state.visited
    assert search.search(again, evaluate, INFOS, BASE, budget, wb, ab) == point
    assert len(calls) == n
    # another key (other slice, candidates or model) starts afresh; another budget keeps the sensitivity
    assert search.State.load(tmp_path / "state.json", "other").sensitivity == {}
    search.search(again, evaluate, INFOS, BASE, budget + 0.5, wb, ab)
    assert len(again.sensitivity) == 23 and again.visited[0]["point"] == BASE and again.search_key == f"{budget + 0.5:g}"


def test_bad_budget_is_a_config_error(tmp_path, build_dir):
    from hwflow.tune.run import tune

    with pytest.raises(ConfigError, match="--budget"):
        tune(load_config(_tiny_yaml(tmp_path)), -1.0)


@pytest.mark.slow
def test_tune_tiny_model_end_to_end(tmp_path, build_dir, monkeypatch):
    from hwflow.convert import to_hls_model
    from hwflow.flow import stage_models
    from hwflow.train import build_models
    from hwflow.tune.run import tune

    cfg = load_config(_tiny_yaml(tmp_path))
    ds, tm = stage_models(cfg)
    names = [i for i in tm.plan.layers]
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (450, 150, 200)  # data.validation held out
    # the held-out images are training images the model never trained on
    assert not any((ds.x_train == v).all(axis=(1, 2, 3)).any() for v in ds.x_val[:20])

    # swapping quantizers in place == rebuilding the QKeras model with the narrowed plan
    point = {n: [4, 5] if n != "fc" else [3, None] for n in names}
    _, work = build_models(cfg, tm.plan)
    work.set_weights(tm.qmodel.get_weights())
    evaluate = search.Evaluator(work, tm.plan, ds.x_test, ds.y_test)
    swapped_acc = evaluate(point)
    _, rebuilt = build_models(cfg, space.plan_for(point, tm.plan))
    rebuilt.set_weights(tm.qmodel.get_weights())
    np.testing.assert_array_equal(work.predict(ds.x_test[:50], verbose=0), rebuilt.predict(ds.x_test[:50], verbose=0))
    assert swapped_acc == pytest.approx(float(np.mean(np.argmax(rebuilt.predict(ds.x_test, verbose=0), 1) == ds.y_test)))
    assert not np.allclose(tm.qmodel.predict(ds.x_test[:50], verbose=0), rebuilt.predict(ds.x_test[:50], verbose=0))

    # the firmware (hls4ml conversion + bit-exact emulator) predicts what the swapped QKeras model does
    firmware = search.FirmwareEvaluator(cfg, tm.qmodel, tm.plan, ds.x_test[:100], ds.y_test[:100])
    qk = search.Evaluator(work, tm.plan, ds.x_test[:100], ds.y_test[:100])
    np.testing.assert_array_equal(firmware.predictions(point), qk.predictions(point))

    budget = 2.0
    out = tmp_path / "cfgs" / "tiny_tuned.yaml"
    r = tune(cfg, budget, slice_images=100, weight_bits=[4, 2], act_bits=[4], out=out)
    state = json.loads((build_dir / "tiny" / "tune" / "state.json").read_text())
    # the search ran on validation images: every test image is unseen, the float reference is on validation
    assert (r.slice_split, r.unseen_images) == ("validation", 200)
    # engine "auto": QKeras searched, the firmware emulator agreed image for image on both checked points
    assert r.engine == "qkeras" and r.engine_check == {"baseline_agreement": 1.0, "chosen_agreement": 1.0}
    assert "100.00% identical for the baseline" in r.report_md.read_text()
    order = np.random.default_rng(cfg.train.seed).permutation(150)[:100]
    xs, ys = ds.x_val[order], ds.y_val[order]
    assert state["float_acc"] == pytest.approx(float(np.mean(np.argmax(tm.float_model.predict(xs, verbose=0), 1) == ys)))
    for v in state["visited"]:
        assert v["accepted"] == (100 * (state["float_acc"] - v["accuracy"]) <= budget + 1e-9)
    assert r.point == state["current"]
    assert space.cost(r.point, r.infos, r.base) < 100  # something got narrower
    assert (build_dir / "tiny" / "reports" / "tune_sensitivity.png").stat().st_size > 10_000
    assert (build_dir / "tiny" / "reports" / "tune_pareto.png").stat().st_size > 10_000
    assert "| layer | MACs |" in r.report_md.read_text()
    base_est, tuned_est = r.estimates  # hwflow.estimate on the baseline and the tuned QKeras models
    assert tuned_est["totals"]["LUT"] < base_est["totals"]["LUT"]

    # the YAML round-trips: load_config -> quant plan == chosen point -> hls4ml precisions
    tuned = load_config(out)
    assert tuned.name == "tiny_tuned" and tuned.data.path == cfg.data.path  # source re-based to the new folder
    resolved = space.plan_for(r.point, tm.plan)
    plan = tuned.quant_plan(names)
    for n in names:
        assert plan.layers[n].weight.bits == r.point[n][0]
        if r.point[n][1] is not None:
            assert plan.layers[n].activation == resolved.layers[n].activation
    tuned_ds, ttm = stage_models(tuned)  # cached: trained by tune's QAT step
    assert ttm.from_cache
    assert len(list((build_dir / "cache").glob("float-*"))) == 1  # the tuned QAT reused the float baseline
    hls_model = to_hls_model(tuned, ttm.qmodel)
    for n in names:
        w = r.point[n][0]
        prec = hls_model.graph[n].get_weights("weight").type.precision
        assert prec.width == w, (n, str(prec))

    # engine "auto" when the firmware disagrees with QKeras: the search is redone, every point on
    # the firmware evaluator (a stand-in that predicts like QKeras except once, to stay fast)
    class DisagreeingFirmware(search.Evaluator):
        engine = "emulate"
        calls = 0

        def __init__(self, _cfg, _qmodel, base_plan, x, y):
            super().__init__(work, base_plan, x, y)

        def predictions(self, point):
            DisagreeingFirmware.calls += 1
            p = super().predictions(point)
            return (p + 1) % 10 if DisagreeingFirmware.calls == 1 else p

    monkeypatch.setattr(search, "FirmwareEvaluator", DisagreeingFirmware)
    r2 = tune(cfg, budget, slice_images=100, weight_bits=[4, 2], act_bits=[4], out=tmp_path / "cfgs2" / "tiny_tuned.yaml",
              qat=False, estimate_resources=False)
    assert r2.engine == "emulate" and r2.engine_check == {"baseline_agreement": 0.0, "chosen_agreement": 1.0}
    redone = json.loads((build_dir / "tiny" / "tune" / "state.json").read_text())
    assert redone["key"] != state["key"] and redone["done"] and r2.point == redone["current"]
    assert DisagreeingFirmware.calls > len(redone["visited"])  # the redo evaluated every point with it
    assert "Accuracy of each point from the firmware" in r2.report_md.read_text()
