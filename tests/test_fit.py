"""hwflow fit (hwflow.reuse.fit + hwflow.fit): balanced folding of a small MobileNet for pynq-z2."""

from __future__ import annotations

import re

import pytest

from hwflow import convert
from hwflow.boards import get_board
from hwflow.config import load_config
from hwflow.estimate import estimate
from hwflow.fit import run_fit
from hwflow.reuse import FitError, fractions, hls4ml_backend, kernel_sizes, plan_reuse, valid_reuse_factors
from hwflow.paths import REPO_ROOT
from tests.conftest import write_config

SMALL = """
model: {arch: mobilenet, input_shape: [16, 16, 3], classes: 4, alpha: 0.25, depth: 3, stem_stride: 1}
data: {source: default, test_fraction: 0.35, max_train: 64, max_test: 24}
train: {epochs: 0, qat_epochs: 0}
quantization:
  default: {weight: 8, bias: 8, activation: 8, activation_integer: 3}
hls:
  backend: Vitis
  board: zcu102
  clock_period_ns: 5
  io_type: io_stream
  strategy: Resource
  reuse_factor: 8
parity: {images: 24, min_argmax_agreement: 1.0, max_logit_lsb: 0}
"""
BOARD = get_board("pynq-z2")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from hwflow.train import untrained_models

    tmp = tmp_path_factory.mktemp("fit")
    cfg = load_config(write_config(tmp, SMALL, "small"))
    qmodel = untrained_models(cfg)[1]
    res, path, reports = run_fit(cfg, BOARD, tmp / "small_pynq-z2.yaml", qmodel=qmodel, source="untrained",
                                 report_dir=tmp / "reports")
    return cfg, qmodel, res, path, reports, tmp


def test_fitted_design_is_within_the_board_by_estimate(small):
    cfg, qmodel, res, path, _, _ = small
    fitted = load_config(path)  # the written config, converted again from scratch
    est = estimate(convert.to_hls_model(fitted, qmodel), board=BOARD)
    # judged on the Vivado level, within its budget (hwflow/estimate/vivado.json); the csynth level beside it
    frac = fractions("vivado")
    assert frac["LUT"] == 0.85 and frac["BRAM_18K"] == 0.96 and frac["DSP"] == 1.0 and res.limits == frac
    used = est.used()
    for r in ("DSP", "LUT", "FF", "BRAM_18K"):
        assert used[r] <= frac[r] * BOARD.resources[r], (r, used[r])
    assert est.fits and est.ii_cycles == res.after["ii_cycles"] and used == {**res.after["totals"], "URAM": 0}
    assert res.after["csynth_totals"]["LUT"] == est.totals["LUT"] > used["LUT"]  # Vivado builds fewer LUTs
    # the design as converted (global RF 8, zcu102 settings) is slower than the fitted one
    assert res.after["images_per_s"] > res.before["images_per_s"]


def test_fit_balances_the_layers(small):
    _, _, res, _, _, _ = small
    tunable = [l for l in res.layers if l.tunable]
    assert len(tunable) == 8  # conv1, 3 x (depthwise, pointwise), fc
    slowest = max(l.after["cycles"] for l in res.layers)
    assert slowest == res.after["ii_cycles"]  # the slowest layer sets the dataflow interval
    # the layers not yet at their least cost are held by the interval: about equal cycles
    held = [l.after["cycles"] for l in tunable if l.could_fold]
    assert len(held) >= 3 and max(held) / min(held) == pytest.approx(res.balance) and res.balance <= 2.5
    before = [l.before["cycles"] for l in tunable]
    assert res.balance < max(before) / min(before)
    assert all(l.after["cycles"] <= res.after["ii_cycles"] for l in tunable)


def test_reuse_factors_are_hls4ml_valid_and_config_is_deployable(small):
    _, qmodel, res, path, reports, _ = small
    cfg = load_config(path)
    assert cfg.hls.board.name == "pynq-z2" and cfg.hls.backend == "VivadoAccelerator"
    assert cfg.hls.clock_period_ns == BOARD.clock_period_ns  # the board changed: its clock
    backend = hls4ml_backend("VivadoAccelerator")
    for name, (n_in, n_out) in kernel_sizes(qmodel).items():
        lh = cfg.hls.layers[name]
        assert lh.reuse_factor in valid_reuse_factors(backend, n_in, n_out)
        assert lh.strategy in ("Latency", "Resource")
    plan_reuse(cfg.hls, qmodel).raise_invalid(cfg.path)  # raises on a value hls4ml would change
    text = path.read_text()
    assert text.startswith("# Written by `hwflow fit") and "Estimated" in text
    md = reports["md"].read_text()
    assert "*estimated*" in md and "| fitted |" in md and reports["png"].stat().st_size > 10_000


def test_target_fps_uses_fewer_resources(small):
    cfg, qmodel, res, _, _, tmp = small
    target = res.after["images_per_s"] / 4
    slow, _, _ = run_fit(cfg, BOARD, tmp / "slow.yaml", qmodel=qmodel, target_fps=target, report_dir=tmp / "r2")
    assert target <= slow.after["images_per_s"] < res.after["images_per_s"] / 2  # folded down to the target
    # never more of anything (on this network, Latency layers keep their constant multipliers at any RF, so the
    # Vivado-level LUT stays; Resource layers would trade them for DSPs, which cost more of pynq-z2's budget)
    for r in ("DSP", "LUT", "FF", "BRAM_18K"):
        assert slow.after["totals"][r] <= res.after["totals"][r], r


def test_unreachable_target_fps_says_the_most_it_reaches(small):
    cfg, qmodel, res, _, _, tmp = small
    with pytest.raises(FitError, match=r"does not fit pynq-z2 within the margin; the most it reaches is"):
        run_fit(cfg, BOARD, tmp / "fast.yaml", qmodel=qmodel, target_fps=res.after["images_per_s"] * 10,
                report_dir=tmp / "r3")
    assert not (tmp / "fast.yaml").exists()


def test_nothing_fits_is_one_line_and_exit_9(small, capsys, tmp_path, build_dir):
    from hwflow.cli import main

    cfg_path = write_config(tmp_path, SMALL, "small")
    out = tmp_path / "none.yaml"
    rc = main(["fit", "--config", str(cfg_path), "--board", "pynq-z2", "--max-util", "0.1", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 9 and not out.exists()
    assert len(err.splitlines()) == 1
    assert "nothing fits pynq-z2 (estimated)" in err and "needs at least" in err and "at any reuse factor" in err
    assert re.search(r": (DSP|LUT|FF|BRAM_18K) needs at least [\d,]+ at any reuse factor \(\d+% of the board, limit 10%", err)
    assert "to fit: " in err and "a larger board (" in err


@pytest.mark.slow
def test_fitted_config_parity_and_bitstream_plan(small, build_dir):
    """The fitted config goes through `hwflow hls` bit-exact, and `bitstream --dry-run` reaches the .bit."""
    from hwflow.flow import run_hls
    from hwflow.paths import ModelPaths
    from hwflow.synth import bitstream

    _, _, _, path, _, _ = small
    cfg = load_config(path)
    result = run_hls(cfg)
    assert result.parity.passed and result.parity.bit_exact_share == 1.0
    plan = bitstream(ModelPaths.for_model(cfg.name).hls, get_board("pynq-z2"), dry_run=True)
    assert "design_1_wrapper.bit" in plan.text and "vivado" in plan.text


def test_per_layer_values_the_config_writes_stay_fixed(small):
    """A layer whose reuse factor (or strategy) the config sets is not searched: the fold keeps it as
    written and the other layers are folded around it."""
    from hwflow.fit import fold

    cfg, qmodel, _, _, _, tmp = small
    raw = {**cfg.raw, "hls": {**cfg.raw["hls"], "reuse_factor": "auto", "layers": {"conv1": {"reuse_factor": 9}}}}
    from hwflow.config import config_from_dict

    pinned = config_from_dict(raw, tmp / "pinned.yaml")
    res, folded = fold(pinned, BOARD, qmodel)
    assert "conv1" not in res.choices and len(res.choices) == 7
    assert folded["hls"]["layers"]["conv1"] == {"reuse_factor": 9} and folded["hls"]["reuse_factor"] == 1
    assert all(folded["hls"]["layers"][n]["strategy"] in ("Latency", "Resource") for n in res.choices)


SHIPPED_32 = ["squeezenet", "squeezenet_tiny", "squeezenet_tiny_pruned", "squeezenet_cifar10_pynq",
              "squeezenet_cifar10_small", "mobilenet_tiny", "mobilenet", "mobilenet_cifar10", "mobilenet_v2",
              "shufflenet", "mnasnet"]


def test_every_32x32_base_config_folds_itself():
    """The shipped configs at 32x32 or less all ask the flow to fold them (hls.reuse_factor: auto), and the
    list above is all of them (a new base config gets the check below)."""
    import yaml

    from hwflow.paths import CONFIG_DIR

    auto = set()
    for p in CONFIG_DIR.glob("*.yaml"):
        raw = yaml.safe_load(p.read_text())
        if raw["model"].get("input_shape", [224])[0] <= 32:
            assert raw["hls"]["reuse_factor"] == "auto", p.name
            auto.add(p.stem)
    assert auto == set(SHIPPED_32) | {"squeezenet_cifar10", "squeezenet_cifar10_tuned"}


@pytest.mark.parametrize("name", SHIPPED_32)
def test_shipped_base_config_builds_a_project_that_fits_its_board(name, build_dir):
    """`make hls MODEL=<name>`'s plan stage (untrained twin: the estimate depends on the weights only through
    the DSP share of constant products) gives a design that fits the board the config names at the Vivado
    level, with every layer's reuse factor one hls4ml keeps, and the estimate stage agrees."""
    from hwflow import flow
    from hwflow.paths import CONFIG_DIR

    cfg = load_config(CONFIG_DIR / f"{name}.yaml")
    b = flow.run(cfg, stop="plan", options=flow.Options(models="untrained", write_reports=False))
    assert b.fit is not None and b.cfg.hls.board.name == cfg.hls.board.name and b.cfg.hls.reuse_factor == 1
    assert all(lr.ok for lr in b.reuse.layers.values()) and set(b.fit.choices) <= set(b.reuse.layers)
    est = estimate(convert.to_hls_model(b.cfg, b.qmodel, plan=b.reuse), board=cfg.hls.board)
    assert est.fits and est.basis == "vivado", (name, est.binding_resource, est.utilisation)
    assert est.ii_cycles == b.fit.after["ii_cycles"]


def test_frontier_rows_for_every_member_and_the_small_one_fits(tmp_path, build_dir):
    """benchmarks/frontier over squeezenet_tiny's width on pynq-z2: every member of the grid gets a row
    (parameters, MACs, fit or least LUT); the small one fits above the target rate."""
    import json

    from benchmarks import frontier

    grid = tmp_path / "grid.yaml"
    grid.write_text("squeezenet_tiny:\n  depth: [2]\n  width: [0.25, 1.0]\n")
    out = tmp_path / "res" / "frontier"
    assert frontier.main(["--grid", str(grid), "--configs-dir", str(REPO_ROOT / "hls_configs"),
                          "--board", "pynq-z2", "--target-fps", "1000", "--out", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["member"] for r in rows] == [{"depth": 2, "width": 0.25}, {"depth": 2, "width": 1.0}]
    small, big = rows
    assert small["fits"] and small["images_per_s"] > 1000 and max(small["utilisation"].values()) <= 100
    assert 0 < small["params"] < big["params"] and 0 < small["macs"] < big["macs"]
    assert small["macs"] > 16 * 16 * (3 * 3 * 3) * 16  # conv1 alone: 16x16 pixels x 3x3x3 x (64 x 0.25) products
    assert big["fits"] or big["least"]["LUT"] > 0
    md = out.with_suffix(".md").read_text()
    assert "| squeezenet_tiny | depth 2, width 0.25 |" in md and out.with_suffix(".png").stat().st_size > 0


def test_frontier_bad_grid_exits_2(tmp_path, capsys):
    from benchmarks import frontier

    grid = tmp_path / "grid.yaml"
    grid.write_text("squeezenet_tiny:\n  depth: 2\n")
    assert frontier.main(["--grid", str(grid), "--configs-dir", str(REPO_ROOT / "hls_configs"),
                          "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "squeezenet_tiny" in err and "list of values" in err and not (tmp_path / "x.md").exists()
