"""hwflow.sweep: strict spec validation, points and overrides, the resumable result table, the Pareto
front, and a real 13-point sweep on a 2-worker LocalCluster that is killed half-way and resumed.

What the slow test proves: every point ends up exactly once in results.csv after a SIGKILL of the
whole process group and a resume, finished points are not run again, a point that fails (an
invalid per-layer reuse factor) is recorded with its error and does not stop the sweep, and the
exported best point is a config `hwflow hls --config` accepts. What it does not prove: csim/synth
depths on Dask (csim is exercised by hand, synth needs the Xilinx tools).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hwflow.errors import ConfigError
from hwflow.sweep.results import ResultTable, pareto_mask, pick_best
from hwflow.sweep.spec import apply_overrides, check_layers, load_spec, point_key, spec_from_dict

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC = Path("space.yaml")

TINY = {
    "model": {"arch": "mobilenet", "input_shape": [16, 16, 3], "classes": 10, "alpha": 0.25, "depth": 4,
              "stem_stride": 1},
    "train": {"epochs": 0, "qat_epochs": 0},
    "hls": {"backend": "Vitis", "board": "pynq-z2", "io_type": "io_stream", "strategy": "Resource", "reuse_factor": 8},
}
BAD_POINT = {"reuse_factor": 8, "layers": {"pw1": {"reuse_factor": 7}}}  # pw1: n_in=8 -> 7 is not a valid RF
TINY_SPACE = {"weights": "init", "space": {"reuse_factor": [4, 8, 16], "strategy": ["Latency", "Resource"],
                                           "board": ["pynq-z2", "zcu102"]}, "include": [BAD_POINT]}


def _spec(**raw):
    return spec_from_dict(raw, SPEC)


# ------------------------------------------------------------------------------------- spec (fast)


@pytest.mark.parametrize("raw,message", [
    ({"space": {"reuse_factor": [1]}, "deepth": "csim"}, "unknown key 'deepth'; valid keys: depth, weights"),
    ({"space": {"reuse": [1]}}, "space: unknown key 'reuse'; valid keys: reuse_factor, strategy, io_type"),
    ({"space": {"layers": {"conv1": {"io_type": ["io_stream"]}}}},
     "space.layers.conv1: unknown key 'io_type'; valid keys: reuse_factor, strategy, weight_bits"),
    ({"space": {"strategy": ["Latency", "Fast"]}}, "space.strategy[1]: 'Fast' is not valid; valid: Latency, Resource"),
    ({"space": {"board": ["pynq"]}}, "space.board[0]: 'pynq' is not valid; valid: pynq-z2, zcu102"),
    ({"space": {"reuse_factor": [0]}}, "space.reuse_factor[0]: reuse_factor must be an integer >= 1, got 0"),
    ({"space": {"reuse_factor": 4}}, "space.reuse_factor: expected a non-empty list of values, got 4"),
    ({"space": {"reuse_factor": [4, 4]}}, "space.reuse_factor: values repeat"),
    ({"space": {"bits": [1]}}, "space.bits[0]: bits must be an integer 2..32"),
    ({"space": {"weight_bits": ["quantized_relu(4,0)"]}}, "a weight quantizer must be quantized_bits(...)"),
    ({"space": {"io_type": ["io_stream"]}, "depth": "bitstream"},
     "depth: 'bitstream' is not valid; valid: estimate, csim, synth"),
    ({"space": {"io_type": ["io_stream"]}, "sampling": "random"}, "samples: required with sampling: random"),
    ({"space": {"io_type": ["io_stream"]}, "samples": 3}, "samples: only valid with sampling: random"),
    ({"include": [{"reuse_factor": [2, 4]}]}, "include[0].reuse_factor: an include point takes one value"),
    ({}, "space: empty; give at least one parameter"),
])
def test_spec_errors_name_the_key_and_the_valid_values(raw, message):
    with pytest.raises(ConfigError) as exc:
        _spec(**raw)
    assert message in str(exc.value)
    assert str(exc.value).startswith(str(SPEC))


def test_layer_names_are_checked_against_the_model():
    spec = _spec(space={"layers": {"conv1": {"reuse_factor": [1]}, "conv9": {"strategy": ["Latency"]}}})
    with pytest.raises(ConfigError, match=r"layers.conv9.strategy: no such layer in the model; valid: image, conv1"):
        check_layers(spec, ["image", "conv1", "pw1"], ["conv1", "pw1"])
    spec = _spec(space={"layers": {"image": {"bits": [4]}}})
    with pytest.raises(ConfigError, match=r"layers.image.bits: no such layer with weights in the model; valid: conv1"):
        check_layers(spec, ["image", "conv1", "pw1"], ["conv1", "pw1"])
    check_layers(_spec(space={"layers": {"pw1": {"bits": [4], "reuse_factor": [2]}}}), ["image", "conv1", "pw1"],
                 ["conv1", "pw1"])


def test_shipped_sweep_specs_are_valid():
    specs = {p.stem: load_spec(p) for p in sorted((REPO_ROOT / "hls_configs" / "sweeps").glob("*.yaml"))}
    assert len(specs["squeezenet"].points()) == 80
    assert len(specs["mobilenet"].points()) == 200 and specs["mobilenet"].grid_size == 768
    assert all(len(s.points()) >= 1 for s in specs.values())


@pytest.mark.slow
def test_shipped_sweep_specs_match_their_models():
    """Layer names and every point's merged config, against hls_configs/<model>.yaml (builds each model once)."""
    from hwflow.config import load_config
    from hwflow.sweep.run import model_layers, validate

    for model in ("squeezenet", "mobilenet"):
        cfg = load_config(REPO_ROOT / "hls_configs" / f"{model}.yaml")
        layers = model_layers(cfg)
        for path in sorted((REPO_ROOT / "hls_configs" / "sweeps").glob(f"{model}*.yaml")):
            spec = load_spec(path)
            assert len(validate(cfg, spec, spec.points(), layers)) == len(spec.points())
        bad = _spec(space={"layers": {"fire2": {"reuse_factor": [1]}}})
        with pytest.raises(ConfigError, match=r"layers.fire2.reuse_factor: no such layer in the model; valid: .*conv1"):
            validate(cfg, bad, bad.points(), layers)


def test_grid_random_and_include_points():
    spec = _spec(space={"reuse_factor": [1, 2, 4], "strategy": ["Latency", "Resource"]}, include=[{"reuse_factor": 8}])
    pts = spec.points()
    assert len(pts) == 7 and spec.grid_size == 6
    assert pts[0] == {"reuse_factor": 1, "strategy": "Latency"} and pts[-1] == {"reuse_factor": 8}
    assert spec.parameters == ["reuse_factor", "strategy"]
    # an include equal to a grid point is not run twice
    assert len(_spec(space={"reuse_factor": [1, 2]}, include=[{"reuse_factor": 2}]).points()) == 2

    big = {"reuse_factor": [1, 2, 4, 8, 16, 32], "strategy": ["Latency", "Resource"],
           "io_type": ["io_stream", "io_parallel"],
           "clock_period_ns": [5, 10], "layers": {"conv1": {"bits": [4, 6, 8]}}}
    r1 = _spec(space=big, sampling="random", samples=40, seed=3).points()
    r2 = _spec(space=big, sampling="random", samples=40, seed=3).points()
    r3 = _spec(space=big, sampling="random", samples=40, seed=4).points()
    assert r1 == r2 and r1 != r3  # deterministic per seed (resume gets the same points)
    assert len({point_key(p) for p in r1}) == 40
    assert len(_spec(space=big, sampling="random", samples=10_000).points()) == 144  # capped at the grid


def test_overrides_map_onto_the_flow_config():
    base = {"model": {"arch": "squeezenet"}, "quantization": {"default": {"weight": 8, "bias": 8, "activation": 8}},
            "hls": {"board": "pynq-z2", "part": "xc7z020clg400-1", "reuse_factor": 16}}
    merged = apply_overrides(base, {"board": "zcu102", "bits": 6, "layers.conv1.reuse_factor": 27,
                                    "layers.conv1.weight_bits": 4, "strategy": "Latency"})
    assert merged["hls"] == {"board": "zcu102", "reuse_factor": 16, "layers": {"conv1": {"reuse_factor": 27}},
                             "strategy": "Latency"}  # the part follows the board
    assert merged["quantization"] == {"default": {"weight": 6, "bias": 6, "activation": 6},
                                      "layers": {"conv1": {"weight": 4}}}
    assert base["hls"]["part"] == "xc7z020clg400-1" and "layers" not in base["hls"]  # base untouched
    assert point_key({"a": 1, "b": "x"}) == point_key({"b": "x", "a": 1}) != point_key({"a": 2, "b": "x"})


# ------------------------------------------------------------------------------------- table (fast)


def test_table_drops_a_cut_line_and_duplicates(tmp_path):
    t = ResultTable(tmp_path / "results.csv", ["reuse_factor"])
    t.append({"key": "a", "status": "ok", "reuse_factor": 4, "latency_us": 1.5, "error": "two\nlines, quoted"})
    t.append({"key": "b", "status": "failed", "reuse_factor": 7, "error": "ConfigError: bad"})
    t.append({"key": "a", "status": "ok", "reuse_factor": 4})
    with open(t.path, "a") as f:
        f.write("c,ok,estimate,,0.1")  # a SIGKILL in the middle of a line
    rows = t.load()
    assert [r["key"] for r in rows] == ["a", "b"]
    assert rows[0]["error"] == "two lines, quoted" and rows[0]["latency_us"] == "1.5"
    assert t.path.read_text().count("\n") == 3  # rewritten clean: header + 2 rows
    assert [r["key"] for r in t.load(drop_failed=True)] == ["a"]
    with pytest.raises(ConfigError, match="written by a sweep over other parameters"):
        ResultTable(tmp_path / "results.csv", ["strategy"]).load()


def test_pareto_front_and_best_point():
    import pandas as pd

    df = pd.DataFrame({
        "key": list("abcdef"), "status": ["ok"] * 5 + ["failed"],
        "util_max": [10.0, 20.0, 15.0, 30.0, 150.0, None], "latency_us": [50.0, 10.0, 60.0, 5.0, 1.0, None],
        "ii_cycles": [500, 100, 600, 50, 10, None], "fits": [True, True, True, True, False, None],
        "qkeras_accuracy": [0.9, 0.8, 0.95, 0.7, 0.99, None],
    })
    ok = df[df.status == "ok"]
    assert list(ok.key[pareto_mask(ok, ["util_max", "latency_us"])]) == ["a", "b", "d", "e"]
    assert list(ok.key[pareto_mask(ok, ["util_max", "latency_us"], ["qkeras_accuracy"])]) == ["a", "b", "c", "d", "e"]
    assert pick_best(df, "latency_us")["key"] == "d"  # e is faster but does not fit the board
    assert pick_best(df, "util_max")["key"] == "a"
    assert pick_best(df, "accuracy")["key"] == "c"
    df["fits"] = False  # none fits: the smallest point, whatever the objective
    assert pick_best(df, "latency_us")["key"] == "a"


# ----------------------------------------------------------------------- real sweep, kill + resume


def _complete_rows(csv: Path) -> int:
    if not csv.exists():
        return 0
    text = csv.read_text()
    return max(0, text.count("\n") - 1)


@pytest.mark.slow
def test_sweep_killed_half_way_and_resumed(tmp_path, monkeypatch):
    import pandas as pd

    from hwflow.config import load_config
    from hwflow.sweep.run import run_sweep

    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.delenv("HWFLOW_DASK_SCHEDULER", raising=False)  # this test is about the LocalCluster
    cfg_path, spec_path, out = tmp_path / "tiny.yaml", tmp_path / "space.yaml", tmp_path / "sweep"
    cfg_path.write_text(yaml.safe_dump(TINY))
    spec_path.write_text(yaml.safe_dump(TINY_SPACE))
    spec = load_spec(spec_path)
    keys = [point_key(p) for p in spec.points()]
    assert len(keys) == 13
    csv = out / "results.csv"

    env = {**os.environ, "HWFLOW_BUILD_DIR": str(tmp_path / "build"), "TF_CPP_MIN_LOG_LEVEL": "2"}  # no scheduler
    log = open(tmp_path / "first-run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "hwflow.cli", "sweep", "--config", str(cfg_path), "--space",
                             str(spec_path), "--out", str(out), "--workers", "2"],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while _complete_rows(csv) < 4:
            assert proc.poll() is None, (tmp_path / "first-run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no rows after 300 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, the nannies and the workers: all of that session
        proc.wait()
        log.close()
    before = _complete_rows(csv)
    assert 4 <= before < 13, f"the kill came too late to test resuming ({before} rows)"

    res = run_sweep(load_config(cfg_path), spec, out_dir=out, workers=2, progress=False, echo=lambda s: None)
    assert res.workers == 2 and res.total == 13
    assert res.skipped == before and res.ran == 13 - before  # finished points were not run again
    df = pd.read_csv(csv, dtype={"key": str})
    assert sorted(df["key"]) == sorted(keys) and df["key"].is_unique  # every point exactly once

    (bad,) = df[df["status"] == "failed"].itertuples()
    assert bad.key == point_key({"reuse_factor": 8, "layers.pw1.reuse_factor": 7})
    assert "pw1: reuse_factor 7 is invalid for n_in=8, n_out=16" in bad.error
    assert res.failed == 1 and (out / "points" / bad.key / "error.txt").exists()

    ok = df[df["status"] == "ok"]
    assert len(ok) == 12 and (ok["wall_s"] > 0).all()
    for (strategy, board), g in ok.groupby(["strategy", "board"]):
        g = g.sort_values("reuse_factor")
        assert list(g["reuse_factor"]) == [4, 8, 16]
        assert g["ii_cycles"].is_monotonic_increasing and g["ii_cycles"].iloc[-1] > g["ii_cycles"].iloc[0]
        assert (g["util_max"] > 0).all()

    # the best point is a config the flow accepts, with the point's values
    best_cfg = load_config(res.best_config)
    row = ok[ok["key"] == res.best_key].iloc[0]
    assert (best_cfg.hls.reuse_factor, best_cfg.hls.strategy, best_cfg.hls.board.name) == (
        row["reuse_factor"], row["strategy"], row["board"])
    assert row["latency_us"] == ok[ok["fits"]]["latency_us"].min()
    assert res.pareto_png.stat().st_size > 10_000 and "## Failed points" in res.summary_md.read_text()

    again = run_sweep(load_config(cfg_path), spec, out_dir=out, progress=False, echo=lambda s: None)
    assert (again.ran, again.skipped) == (0, 13)
