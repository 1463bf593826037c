"""hwflow.fifo: FIFO depths from the token order of the hls4ml stream layers, without RTL simulation.

Blocks of the zoo (fire module, MobileNetV2 inverted residual, ShuffleNet v2 units) are built as
small QKeras models and converted by hls4ml (no g++): the bounded-FIFO simulation never deadlocks
with the computed depths and does deadlock when the FIFO that carries the fork/join slack is
lowered below the least depth it needs; linear chains get depths of 2-3 words. The depths land in
the written project as hls4ml's own pass writes them (`#pragma HLS STREAM ... depth=`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hwflow import fifo
from hwflow.config import config_from_dict
from hwflow.errors import ConfigError, ToolNotFoundError
from hwflow.zoo.layers import Ops, kernel_layer_names
from hwflow.zoo.quant import LayerQuant, QuantPlan, QuantSpec


def _cfg(**hls):
    return config_from_dict({"model": {"arch": "squeezenet"},
                             "hls": {"strategy": "Resource", "reuse_factor": 4, **hls}}, Path("fifo_test.yaml"))


def _block(build, shape):
    """QKeras model of one block of the zoo (`build(ops, x) -> y`), weights untrained."""
    from tensorflow import keras

    def make(ops):
        inp = keras.Input(shape, name="image")
        return keras.Model(inp, build(ops, inp))

    w = QuantSpec("quantized_bits", 8, 1, 1.0)
    plan = QuantPlan({n: LayerQuant(w, w, QuantSpec("quantized_relu", 8, 3))
                      for n in kernel_layer_names(make(Ops(None)))})
    return make(Ops(plan))


def _fire(ops, x):
    from hwflow.zoo.squeezenet import _fire

    return _fire(ops, x, 2, 4, 8, bn=False)


def _residual(ops, x):
    from hwflow.zoo.mobilenet_v2 import inverted_residual, relu6

    return inverted_residual(ops, x, "b2", int(x.shape[-1]), 2, 3, 1, relu6)


def _shuffle_unit(stride):
    def build(ops, x):
        from hwflow.zoo.shufflenet import _unit

        return _unit(ops, x, "u1", int(x.shape[-1]) * (2 if stride == 2 else 1), stride)

    return build


def _chain(ops, x):
    x = ops.relu(ops.conv(x, "c1", 8, 3), "c1")
    x = ops.relu(ops.depthwise(x, "dw", 3, strides=2), "dw")
    return ops.relu(ops.conv(x, "c2", 8, 1), "c2")


def _hls(build, shape, **hls):
    from hwflow.convert import to_hls_model

    return to_hls_model(_cfg(**hls), _block(build, shape))


# block, input shape, the stream that holds the fork/join slack, its peak occupancy and the least
# depth it needs with the other FIFOs at their computed depths (all measured on this code)
FORK_JOIN = [
    ("fire", _fire, (8, 8, 8), "fire2_expand1x1_relu", 29, 4),
    ("mobilenet_v2_residual", _residual, (8, 8, 8), "image_cpy2", 32, 10),
    ("shufflenet_unit", _shuffle_unit(1), (8, 8, 8), "u1_split_l", 32, 7),
]


@pytest.mark.parametrize("name,build,shape,slack,peak,least", FORK_JOIN, ids=[f[0] for f in FORK_JOIN])
def test_fork_join_depths_never_deadlock_and_lowered_deadlock(name, build, shape, slack, peak, least):
    graph, peaks, depths = fifo.plan(_hls(build, shape))
    assert peaks[slack] == peak and depths[slack] == peak + fifo.MARGIN
    assert max(depths, key=depths.get) == slack  # the join's early branch holds the slack
    res = fifo.simulate(graph, depths)
    assert res.ok and res.deadlock is None
    assert all(res.peak[k] <= depths[k] for k in depths)
    needs = {k: fifo.least_depth(graph, depths, k) for k in depths}
    assert max(needs, key=needs.get) == slack and needs[slack] == least
    assert all(v == 1 for k, v in needs.items() if k != slack)  # no other FIFO needs slack
    low = fifo.simulate(graph, {**depths, slack: least - 1})
    assert not low.ok
    assert "empty" in low.deadlock.blocked[0]  # the join starves ...
    assert any(f"{graph.streams[slack].var} full ({least - 1})" in b for b in low.deadlock.blocked)  # ... this is full
    assert fifo.simulate(graph, {**depths, slack: least}).ok
    # hls4ml's H*W depths never deadlock either
    assert fifo.simulate(graph, {k: graph.streams[k].full_depth for k in depths}).ok


def test_balanced_branches_need_no_slack():
    # ShuffleNet's stride-2 unit: both branches have one 3x3/2 line buffer, so the join never waits long
    graph, peaks, depths = fifo.plan(_hls(_shuffle_unit(2), (8, 8, 8)))
    assert max(depths.values()) == 9
    assert all(fifo.simulate(graph, {**depths, k: 1}).ok for k in depths)


def test_linear_chain_gets_small_depths():
    graph, peaks, depths = fifo.plan(_hls(_chain, (8, 8, 3)))
    by_layer = {graph.streams[k].producer: d for k, d in depths.items()}
    # the padding rows make the zero-padding layers outrun the image: 3 words; after a stride 2: 2
    assert by_layer == {"zp2d_c1": 3, "c1": 3, "c1_relu": 3, "zp2d_dw": 3, "dw": 2, "dw_relu": 2, "c2": 2}
    assert fifo.simulate(graph, {k: 2 for k in depths}).ok  # a chain needs no slack at all
    assert fifo.simulate(graph, {k: 1 for k in depths}).ok
    # RF-timed, the whole image waiting at the input (co-simulation's testbench): the padding layer
    # outruns c1 (RF 3 per pixel) and 100 - 100/3 words pile up; a profile would ask for that depth
    timed = fifo.occupancy(graph, timed=True)
    assert {graph.streams[k].producer: v for k, v in timed.items() if k in depths} == {
        "zp2d_c1": 67, "c1": 1, "c1_relu": 1, "zp2d_dw": 21, "dw": 1, "dw_relu": 1, "c2": 1}


def test_linebuffer_pattern_follows_the_stride_counters():
    # 5x5 input, 3x3 kernel, stride 2: outputs after pixels (2,2), (2,4), (4,2), (4,4) of the padded image
    w = fifo._linebuffer(5, 5, 3, 3, 2, 2)
    assert list(np.flatnonzero(w)) == [12, 14, 22, 24]
    # 33 wide, stride 2 (the 'same' padding of a stride-2 layer is bottom/right only): 16 per row
    assert fifo._linebuffer(33, 33, 3, 3, 2, 2).sum() == 16 * 16
    # conv_2d_buffer_cl with a 1-high kernel has no row counter
    assert fifo._linebuffer(4, 4, 1, 1, 2, 2, rows_ignored=True).sum() == 8


def test_depths_written_into_project_like_hls4mls_pass(tmp_path):
    from hwflow.convert import convert

    cfg = _cfg()
    res = convert(cfg, _block(_fire, (8, 8, 8)), tmp_path / "hls")
    rep = json.loads((tmp_path / "hls" / "fifo_depths.json").read_text())
    assert rep["mode"] == "auto" and rep["totals"]["fifos"] == len(rep["fifos"]) == len(res.fifo.rows)
    cpp = (tmp_path / "hls" / "firmware" / "myproject.cpp").read_text()
    written = {m[0]: int(m[1]) for m in re.findall(r"#pragma HLS STREAM variable=(\w+) depth=(\d+)", cpp)}
    for row in rep["fifos"]:
        assert written[row["var"]] == row["depth"] and row["full_depth"] == row["words"] in (64, 100)
    assert rep["totals"]["bits"] < rep["totals"]["full_bits"] / 4
    assert "| fire2_expand1x1_relu |" in (tmp_path / "hls" / "fifo_depths.md").read_text()
    full = _hls(_fire, (8, 8, 8), fifo_depth="full")
    assert all(v.pragma[1] in (64, 100) for v in full.output_vars.values())  # hls4ml's H*W kept
    assert all(r.depth == r.full_depth for r in fifo.report_of(full).rows)


def test_config_key_is_validated():
    assert _cfg().hls.fifo_depth == "auto"
    assert _cfg(io_type="io_parallel").hls.fifo_depth == "full"
    with pytest.raises(ConfigError, match=r"hls.fifo_depth: 'small' is not valid; valid: auto, full, cosim"):
        _cfg(fifo_depth="small")
    with pytest.raises(ConfigError, match="needs io_type io_stream"):
        _cfg(io_type="io_parallel", fifo_depth="auto")


def test_cosim_without_tools_is_one_line_exit_7(tmp_path, build_dir, monkeypatch, capsys):
    from hwflow.cli import main

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    for var in ("XILINX_VITIS", "XILINX_HLS", "XILINX_VIVADO"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ToolNotFoundError, match="vivado_hls"):
        fifo.require_cosim_tools("Vivado")
    path = tmp_path / "c.yaml"
    path.write_text("model: {arch: squeezenet}\nhls: {backend: Vitis, fifo_depth: cosim}\n")
    assert main(["hls", "--config", str(path)]) == 7
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hls.fifo_depth: cosim" in err[0] and "vitis-run" in err[0]
    assert not build_dir.exists()  # failed before any work (no training, no project)
    path.write_text("model: {arch: squeezenet}\nhls: {io_type: io_parallel}\n")
    assert main(["hls", "--config", str(path), "--fifo", "cosim"]) == 2  # io_parallel: only full


@pytest.mark.parametrize("axis,peak", [(-1, 2), (2, 10), (1, 16)])
def test_concatenate_axis_sets_the_order(axis, peak):
    """Channel concat reads both inputs every step (lockstep: 2 words as the writer sees them); width
    concat a row of each in turn (writes twice per input pixel, so the second branch piles up at full
    rate, and must hold a row: W = 4 words); height concat all of the first input first (H*W = 16)."""
    from tensorflow import keras

    def build(ops, x):
        return keras.layers.Concatenate(axis=axis, name="cat")([ops.relu(ops.conv(x, "a", 4, 1), "a"),
                                                                ops.relu(ops.conv(x, "b", 4, 1), "b")])

    graph, peaks, depths = fifo.plan(_hls(build, (4, 4, 4)))
    assert peaks["b_relu"] == peak and fifo.simulate(graph, depths).ok
    branch_b = {"image_cpy2": 1, "b": 1, "b_relu": 1}  # 3 words of room on the waiting branch
    assert fifo.simulate(graph, {**depths, **branch_b}).ok == (axis == -1)


@pytest.mark.slow
def test_csim_unchanged_by_computed_depths(tmp_path):
    """The computed depths compile, and C-sim (unbounded hls::stream) gives the same words as with
    hls4ml's H*W depths, on a MobileNetV2 residual block (clone -> expand/depthwise/project -> add)."""
    from hwflow.convert import convert
    from hwflow.sim import csim

    model = _block(_residual, (8, 8, 8))
    x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 8)) / 256.0  # the input type is ufixed<8,0>
    outs = {}
    for mode in ("auto", "full"):
        res = convert(_cfg(fifo_depth=mode), model, tmp_path / mode)
        depths = re.findall(r"#pragma HLS STREAM variable=\w+ depth=(\d+)",
                            (res.hls_dir / "firmware" / "myproject.cpp").read_text())
        assert max(map(int, depths)) == (33 if mode == "auto" else 100)
        lib = csim.compile_project(res.hls_dir, tmp_path / f"csim-{mode}")
        outs[mode] = csim.run(res.hls_dir, lib, x, workers=1, progress=False).outputs
    np.testing.assert_array_equal(outs["auto"], outs["full"])
    assert np.abs(outs["auto"]).max() > 0  # not an all-zero comparison


def test_unknown_layer_is_a_one_line_error_naming_the_file_and_full(monkeypatch):
    monkeypatch.setattr(fifo, "_ELEMENTWISE", fifo._ELEMENTWISE - {"Activation"})
    with pytest.raises(ConfigError, match=r"^fifo_test.yaml: layer c1_relu: class Activation is not in the FIFO "
                                          r"model .*; set hls.fifo_depth: full$"):
        _hls(_chain, (8, 8, 3))
    assert fifo.report_of(_hls(_chain, (8, 8, 3), fifo_depth="full")).notes[0].startswith("no FIFO model")
