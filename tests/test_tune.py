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


# ------------------------------------------------------------------ sparsity as a third role

PINFOS = [space.LayerInfo("a", "Conv2D", 1000, 100, True, prunable=True),
          space.LayerInfo("dw", "DepthwiseConv2D", 500, 50, True, prunable=False),
          space.LayerInfo("fc", "Dense", 100, 100, False, prunable=True)]
PBASE = {"a": [8, 8, 0.0], "dw": [8, 8, 0.0], "fc": [8, None, 0.0]}


def test_cost_counts_a_pruned_layer_by_its_density():
    assert space.cost(PBASE, PINFOS, PBASE) == pytest.approx(100.0)
    logic0, memory0 = 1000 * 16 + 500 * 16 + 100 * 8, 100 * 8 + 50 * 8 + 100 * 8
    for s in (0.5, 0.75, 0.9):
        p = search._with(PBASE, "a", "sparsity", s)
        # layer a's products and stored bits both scale by 1 - s; the others are unchanged
        saved = 50 * (1000 * 16 * s) / logic0 + 50 * (100 * 8 * s) / memory0
        assert space.cost(p, PINFOS, PBASE) == pytest.approx(100.0 - saved)
        assert space.mean_sparsity(p, PINFOS) == pytest.approx(100 * s / 250)
    # density and width compose: a at 4 bits and 75% zeros
    p = {"a": [4, 8, 0.75], "dw": [8, 8, 0.0], "fc": [8, None, 0.0]}
    assert space.cost(p, PINFOS, PBASE) == pytest.approx(
        50 * (0.25 * 1000 * 12 + 500 * 16 + 100 * 8) / logic0 + 50 * (0.25 * 100 * 4 + 50 * 8 + 100 * 8) / memory0)
    # a point without sparsities (a state file from before the sparsity search) costs as unpruned
    assert space.cost({k: v[:2] for k, v in p.items()}, PINFOS, PBASE) == pytest.approx(
        50 * (1000 * 12 + 500 * 16 + 100 * 8) / logic0 + 50 * (100 * 4 + 50 * 8 + 100 * 8) / memory0)
    # a baseline already pruned (a config with a prune section) still costs 100
    pruned_base = {"a": [8, 8, 0.5], "dw": [8, 8, 0.0], "fc": [8, None, 0.0]}
    assert space.cost(pruned_base, PINFOS, pruned_base) == pytest.approx(100.0)
    assert space.prune_overrides(p, pruned_base) == {"a": 0.75}
    assert space.prune_overrides(pruned_base, pruned_base) == {}
    assert space.prune_plan(pruned_base) == {"a": 0.5}


def _fake_sparse_evaluator(penalty: dict[str, float], per_share: dict[str, float]):
    """As _fake_evaluator, plus per_share[layer] points lost per 0.1 of sparsity."""
    calls = []

    def evaluate(point):
        calls.append(point)
        lost = 0.0
        for n, entry in point.items():
            w, a = entry[:2]
            lost += penalty[n] * ((8 - w) + (0 if a is None else 8 - a)) + per_share[n] * 10 * space.sparsity_of(entry)
        return 0.90 - lost / 100.0

    return evaluate, calls


def test_search_with_sparsity_roles(tmp_path):
    evaluate, calls = _fake_sparse_evaluator({"a": 0.2, "dw": 0.3, "fc": 0.5}, {"a": 0.05, "dw": 0.0, "fc": 0.6})
    wb, ab, sp = [6, 4], [6], [0.5, 0.75, 0.9]
    state = search.State.load(tmp_path / "state.json", "k")
    state.float_acc, state.base_acc = 0.90, evaluate(PBASE)
    search.sensitivity(state, evaluate, PINFOS, PBASE, wb, ab, sp)
    # sparsity rows only for the prunable layers (dw is depthwise), one per candidate
    assert {k for k in state.sensitivity if "|sparsity|" in k} == {f"{n}|sparsity|{s:g}" for n in ("a", "fc") for s in sp}
    assert len(state.sensitivity) == 3 * 2 + 2 * 1 + 2 * 3
    assert state.sensitivity["a|sparsity|0.9"] == pytest.approx(0.90 - 0.05 * 9 / 100)
    budget = 1.0
    point = search.search(state, evaluate, PINFOS, PBASE, budget, wb, ab, sp)
    assert 100 * (0.90 - evaluate(point)) <= budget + 1e-9
    # a's zeros are cheap (0.45 points at 90%): the loose-for-a budget prunes it to the top candidate;
    # fc's are dear (3 points at 50%): never pruned; dw is never a sparsity candidate
    assert space.sparsity_of(point["a"]) == 0.9 and space.sparsity_of(point["fc"]) == 0.0
    assert space.sparsity_of(point["dw"]) == 0.0
    assert all(v["move"] is None or v["move"][0] != "dw" or v["move"][1] != "sparsity" for v in state.visited)
    assert space.cost(point, PINFOS, PBASE) < 100
    # greedy maximality over all three roles
    for name, role, value in search._moves(state, PINFOS, wb, ab, sp):
        assert 100 * (0.90 - evaluate(search._with(point, name, role, value))) > budget
    # resumes: the second run evaluates nothing
    n = len(calls)
    again = search.State.load(tmp_path / "state.json", "k")
    assert search.search(again, evaluate, PINFOS, PBASE, budget, wb, ab, sp) == point and len(calls) == n
    # the sensitivity table and heat map get the sparsity rows
    from hwflow.tune import report

    table = report.sensitivity_table(again, PINFOS, PBASE, wb, ab, sp)
    assert set(table["sparsity"]) == {"a", "fc"} and table["sparsity"]["fc"][0.5] == pytest.approx(3.0)
    assert "sparsity" not in report.sensitivity_table(again, PINFOS, PBASE, wb, ab)
    png = report.plot_sensitivity(table, PINFOS, wb, ab, tmp_path / "s.png", "t", sp)
    assert png.stat().st_size > 5_000


def test_old_state_file_resumes_as_unpruned(tmp_path):
    """A state file written before the sparsity search (two elements per layer) resumes: its points
    get the baseline's sparsity, and a widths-only search continues from it without re-evaluating."""
    evaluate, calls = _fake_evaluator({"a": 0.1, "b": 0.4, "fc": 0.05})
    wb, ab = [6, 4], [6]
    old = search.State.load(tmp_path / "state.json", "k")
    old.float_acc, old.base_acc = 0.90, evaluate(BASE)
    search.sensitivity(old, evaluate, INFOS, BASE, wb, ab)
    point = search.search(old, evaluate, INFOS, BASE, 1.0, wb, ab)
    assert all(len(e) == 2 for e in json.loads((tmp_path / "state.json").read_text())["current"].values())
    base3 = {k: v + [0.0] for k, v in BASE.items()}
    again = search.State.load(tmp_path / "state.json", "k")
    again.upgrade(base3)
    assert again.current == {k: v + [0.0] for k, v in point.items()}
    assert all(len(e) == 3 for v in again.visited for e in v["point"].values())
    n = len(calls)
    wrapped = lambda p: evaluate({k: v[:2] for k, v in p.items()})  # noqa: E731
    assert search.search(again, wrapped, INFOS, base3, 1.0, wb, ab) == again.current and len(calls) == n


def test_sparsity_option_parsing():
    from hwflow.cli import build_parser
    from hwflow.tune.run import DEFAULT_SPARSITY, _check_sparsity

    def parsed(*extra):
        args = build_parser().parse_args(["tune", "--model", "x", *extra])
        return _check_sparsity([v for g in args.sparsity for v in g])

    assert parsed() == DEFAULT_SPARSITY == (0.5, 0.75, 0.9)
    assert parsed("--sparsity") == () and parsed("--sparsity", "0") == ()
    assert parsed("--sparsity", "0.9", "0.5") == (0.5, 0.9) and parsed("--sparsity", "0.6,0.8") == (0.6, 0.8)
    with pytest.raises(ConfigError, match=r"--sparsity: shares of zero weights in \(0, 0.99\]"):
        _check_sparsity([1.0])


DIGITS = """\
model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 10, alpha: 0.25, depth: 2, dropout: 0.0}
data: {source: default, max_train: 256, max_test: 96, validation: 64}
train: {epochs: 1, qat_epochs: 1, batch_size: 32}
quantization: {default: {weight: 8, bias: 8, activation: 8, activation_integer: 3}}
hls: {board: pynq-z2}
prune: {exclude: [conv1]}
"""


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    """One build/ for the digits tune tests (the base model is trained once)."""
    root = tmp_path_factory.mktemp("tune_digits")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HWFLOW_BUILD_DIR", str(root / "build"))
        (root / "cfgs").mkdir()
        path = root / "cfgs" / "digits.yaml"
        path.write_text(DIGITS)
        yield root, load_config(path)


def test_tune_picks_sparsity_and_the_tuned_qat_keeps_the_zeros(digits_build):
    from hwflow.flow import stage_models
    from hwflow.tune.run import tune

    root, cfg = digits_build
    out = root / "out" / "digits_tuned.yaml"
    r = tune(cfg, 100.0, slice_images=64, weight_bits=[4], act_bits=[6], sparsity=[0.5, 0.75], out=out,
             engine="qkeras", estimate_resources=False)
    prunable = {i.name for i in r.infos if i.prunable}
    # depthwise layers and prune.exclude (conv1) are never candidates
    assert prunable and "conv1" not in prunable and not any(n.startswith("dw") for n in prunable)
    sens = json.loads((root / "build" / "digits" / "reports" / "tune_sensitivity.json").read_text())
    assert set(sens["sparsity"]) == prunable and all(set(row) == {"0.5", "0.75"} for row in sens["sparsity"].values())
    # a loose budget accepts everything: every prunable layer ends at the top candidate
    chosen = space.prune_plan(r.point)
    assert chosen == {n: 0.75 for n in prunable}
    assert r.rows[-1]["cost"] < space.cost({n: e[:2] + [0.0] for n, e in r.point.items()}, r.infos, r.base)
    raw = yaml.safe_load(out.read_text())
    assert raw["prune"] == {"exclude": ["conv1"], "layers": chosen}  # the base's section kept, layers added
    tuned = load_config(out)
    assert tuned.prune.layers == chosen and tuned.train.init_from == cfg.path.resolve()
    # the tuned config's QAT (hwflow.train via train.init_from) pruned and kept the zeros
    _, ttm = stage_models(tuned)
    assert ttm.from_cache
    for n, s in chosen.items():
        kernel = ttm.qmodel.get_layer(n).get_weights()[0]
        assert np.mean(kernel == 0) + 1.0 / kernel.size >= s, n
        assert r.sparsity_after_qat[n] == pytest.approx(float(np.mean(kernel == 0)))
    assert np.mean(ttm.qmodel.get_layer("conv1").get_weights()[0] == 0) < 0.05
    md = r.report_md.read_text()
    assert "| sparsity | zeros after QAT |" in md and "0 -> **0.75**" in md


def test_tune_sparsity_off_is_the_widths_only_search(digits_build, monkeypatch):
    from hwflow.tune.run import tune

    root, cfg = digits_build
    out = root / "off" / "digits_tuned.yaml"
    r = tune(cfg, 100.0, slice_images=64, weight_bits=[4], act_bits=[6], sparsity=[0], out=out,
             engine="qkeras", qat=False, estimate_resources=False)
    assert r.sparsities == () and space.prune_plan(r.point) == {}
    assert all(e[:2] == [4, None if e[1] is None else 6] for e in r.point.values())
    raw = yaml.safe_load(out.read_text())
    assert raw["prune"] == {"exclude": ["conv1"]}  # untouched
    state_path = root / "build" / "digits" / "tune" / "state.json"
    state = json.loads(state_path.read_text())
    assert not any("|sparsity|" in k for k in state["sensitivity"])
    assert "sparsity" not in json.loads((root / "build" / "digits" / "reports" / "tune_sensitivity.json").read_text())
    md = r.report_md.read_text()  # the widths-only report has no sparsity columns
    assert "## Bits per layer" in md and "| sparsity |" not in md and "zero weights" not in md
    # a state file of the widths-only search from before the sparsity search (two elements per layer)
    # resumes under the same key: nothing is evaluated again
    for v in state["visited"]:
        v["point"] = {k: e[:2] for k, e in v["point"].items()}
    state["current"] = {k: e[:2] for k, e in state["current"].items()}
    state_path.write_text(json.dumps(state))
    monkeypatch.setattr(search.Evaluator, "__call__", lambda self, p: pytest.fail("re-evaluated"))
    again = tune(cfg, 100.0, slice_images=64, weight_bits=[4], act_bits=[6], sparsity=[], out=out,
                 engine="qkeras", qat=False, estimate_resources=False)
    assert again.point == r.point


def test_evaluating_a_sparsity_prunes_in_place_and_restores(digits_build):
    """The search's evaluation of a sparsity == a model whose kernels hwflow.prune pruned (what the
    tuned QAT starts from), in QKeras and in the firmware; the working model gets its weights back."""
    from hwflow.flow import stage_models
    from hwflow.prune import prune_in_place
    from hwflow.train import build_models

    _, cfg = digits_build
    ds, tm = stage_models(cfg)
    infos = space.layer_infos(tm.qmodel, list(tm.plan.layers), never_pruned=cfg.prune.exclude)
    base = space.base_point(tm.plan, infos, {})
    point = {n: [e[0], e[1], 0.9 if i.prunable else 0.0] for (n, e), i in zip(base.items(), infos)}
    point["fc"][0] = 4
    _, work = build_models(cfg, tm.plan)
    work.set_weights(tm.qmodel.get_weights())
    x, y = ds.x_test[:64], ds.y_test[:64]
    evaluate = search.Evaluator(work, tm.plan, x, y)
    got = evaluate.logits(point)
    for a, b in zip(work.get_weights(), tm.qmodel.get_weights()):  # trained kernels back
        np.testing.assert_array_equal(a, b)
    _, rebuilt = build_models(cfg, space.plan_for(point, tm.plan))
    rebuilt.set_weights(tm.qmodel.get_weights())
    prune_in_place(rebuilt, space.prune_plan(point))
    assert np.mean(rebuilt.get_layer("fc").get_weights()[0] == 0) >= 0.9 - 1e-3
    want = rebuilt.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    unpruned = evaluate.logits({n: e[:2] + [0.0] for n, e in point.items()})
    assert np.abs(unpruned - want).max() > 100 * 1e-5  # the zeros change the logits
    # the firmware (hls4ml conversion of the pruned kernels + bit-exact emulator) computes the same logits
    firmware = search.FirmwareEvaluator(cfg, tm.qmodel, tm.plan, x, y)
    np.testing.assert_allclose(firmware.logits(point), want, rtol=0, atol=1e-5)


def test_tune_on_a_pruned_config_raises_its_sparsity(tmp_path, build_dir):
    """A config already pruned (prune.sparsity 0.5): that is the baseline (cost 100), the search only
    tries higher sparsities, and the tuned YAML keeps the section with per-layer overrides."""
    from hwflow.flow import stage_models
    from hwflow.tune.run import tune

    path = tmp_path / "cfgs" / "pruned.yaml"
    path.parent.mkdir()
    path.write_text(DIGITS.replace("prune: {exclude: [conv1]}", "prune: {sparsity: 0.5, epochs: 1, exclude: [conv1]}"))
    cfg = load_config(path)
    out = tmp_path / "out" / "pruned_tuned.yaml"
    r = tune(cfg, 100.0, slice_images=64, weight_bits=[6], act_bits=[6], sparsity=[0.5, 0.75], out=out,
             engine="qkeras", estimate_resources=False)
    prunable = {i.name for i in r.infos if i.prunable}
    assert {n: space.sparsity_of(e) for n, e in r.base.items() if n in prunable} == {n: 0.5 for n in prunable}
    assert r.rows[0]["cost"] == 100.0 and r.rows[0]["sparsity"] > 0
    state = json.loads((build_dir / "pruned" / "tune" / "state.json").read_text())
    assert {k.split("|", 2)[2] for k in state["sensitivity"] if "|sparsity|" in k} == {"0.75"}
    assert space.prune_plan(r.point) == {n: 0.75 for n in prunable}
    raw = yaml.safe_load(out.read_text())
    assert raw["prune"] == {"sparsity": 0.5, "epochs": 1, "exclude": ["conv1"], "layers": {n: 0.75 for n in prunable}}
    _, ttm = stage_models(load_config(out))
    for n in prunable:
        kernel = ttm.qmodel.get_layer(n).get_weights()[0]
        assert np.mean(kernel == 0) + 1.0 / kernel.size >= 0.75, n
