"""hwflow.reports on the real report sets in ../shared/fixtures/hls-reports/.

The expected numbers are read from the fixtures' own SOURCES.md (written from the files by
whoever collected them) and, for the Vivado / timing / cosim reports, copied by hand from the
report text. Bad files are made in tmp_path from real ones.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from hwflow.boards import BOARDS
from hwflow.errors import ConfigError, HwflowError, ReportError
from hwflow.reports import (
    parse_cosim,
    parse_csynth_rpt,
    parse_csynth_xml,
    parse_project,
    parse_timing_summary,
    parse_utilization,
    render_report,
)
from hwflow.reports.project import board_for_device, firmware_layers, reuse_factors

REPO_ROOT = Path(__file__).resolve().parent.parent
FIX = REPO_ROOT.parent / "shared" / "fixtures" / "hls-reports"
SETS = sorted(p.name for p in FIX.iterdir() if p.is_dir())
RPT = "myproject_prj/solution1/syn/report"


def _sources() -> dict[str, dict]:
    """Per set, the numbers SOURCES.md states for the top-level csynth report."""
    out: dict[str, dict] = {}
    for block in re.split(r"^## ", (FIX / "SOURCES.md").read_text(), flags=re.M)[1:]:
        name = block.split()[0]
        top = re.search(r"TopModelName `(\w+)`\); latency (\d+)\.\.(\d+) cycles, II (\d+)\.\.(\d+), PipelineType `(\w+)`", block)
        part = re.search(r"- part: `([\w-]+)`; clock target ([\d.]+) ns \(uncertainty [\d.]+\), estimated ([\d.]+) ns", block)
        res = re.search(r"resources \(HLS estimate\): (.*?); available: (.*)", block)
        if not (top and part and res):
            continue

        def kv(text: str) -> dict[str, int]:
            d = dict((k.replace("DSP48E", "DSP"), int(v)) for k, v in re.findall(r"(\w+)=(\d+)", text))
            return {k: d.get(k) for k in ("LUT", "FF", "DSP", "BRAM_18K", "URAM")}

        out[name] = dict(
            top=top.group(1), lat=(int(top.group(2)), int(top.group(3))), ii=(int(top.group(4)), int(top.group(5))),
            pipeline=top.group(6), part=part.group(1), clock=(float(part.group(2)), float(part.group(3))),
            used=kv(res.group(1)), available=kv(res.group(2)),
        )
    return out


SOURCES = _sources()


def test_sources_md_gives_expectations_for_the_csynth_sets():
    # 20 sets; dndhls4ml_1 (rpt only) and lfads_1 (Vivado only) state no XML numbers.
    assert len(SETS) >= 20
    assert len(SOURCES) >= 18, sorted(set(SETS) - set(SOURCES))


@pytest.mark.parametrize("name", SETS)
def test_every_set_parses(name):
    r = parse_project(FIX / name)
    assert r.has_results
    exp = SOURCES.get(name)
    if exp is None:
        return
    top = r.top
    assert top.module == exp["top"]
    assert top.part == exp["part"]
    assert (top.clock_target_ns, top.clock_estimated_ns) == pytest.approx(exp["clock"])
    assert (top.latency_best_cycles, top.latency_worst_cycles) == exp["lat"]
    assert (top.interval_min_cycles, top.interval_max_cycles) == exp["ii"]
    assert top.pipeline_type == exp["pipeline"]
    assert top.resources.as_dict() == exp["used"]
    assert top.available.as_dict() == exp["available"]
    # Latency in context: cycles at the estimated clock.
    assert top.latency_worst_s == pytest.approx(exp["lat"][1] * exp["clock"][1] * 1e-9)
    assert top.images_per_s_worst == pytest.approx(1e9 / (exp["ii"][1] * exp["clock"][1]))


def test_vivado_hls_2016_top_level():
    r = parse_csynth_xml(FIX / "hls4mlearly_1" / RPT / "myproject_csynth.xml")
    assert (r.tool, r.tool_version, r.part) == ("Vivado HLS", "2016.4", "xc7vx690tffg1927-2")
    assert (r.latency_best_cycles, r.interval_max_cycles, r.clock_estimated_ns) == (14, 2, 4.33)
    assert r.resources.as_dict() == {"LUT": 5630, "FF": 5113, "DSP": 100, "BRAM_18K": 1, "URAM": None}  # no URAM tag
    assert r.available.bram_18k == 2940
    assert r.reported_latency_worst_s is None  # 2016.4 has no RealTimeLatency
    assert r.latency_worst_s == pytest.approx(14 * 4.33e-9)


def test_vitis_hls_top_level_and_range_throughput():
    r = parse_csynth_xml(FIX / "ece226_1" / RPT / "myproject_csynth.xml")
    assert (r.tool, r.tool_version) == ("Vitis HLS", "2024.1")
    assert (r.latency_worst_cycles, r.interval_min_cycles, r.clock_uncertainty_ns) == (395, 390, 1.35)
    assert r.resources.dsp == 467 and r.available.dsp == 12288
    assert r.reported_latency_worst_s == pytest.approx(1.975e-6)  # '1.975 us', at the 5 ns target
    a = parse_csynth_xml(FIX / "autoencoder_1" / RPT / "myproject_axi_csynth.xml")
    assert (a.interval_min_cycles, a.interval_max_cycles) == (11266, 95949)
    assert a.reported_latency_best_s == pytest.approx(0.480e-3)  # '0.480 ms'
    assert a.tool_version == "2019.2.1"


def test_vitis_unified_layout_and_accelerator_top():
    k = parse_project(FIX / "kv260vu_1")
    assert k.report_dir.parts[-5:] == ("vitis_unified_project", "hls", "syn", "report")[-5:] or "vitis_unified_project" in str(k.report_dir)
    assert (k.top.module, k.top.resources.dsp, k.top.resources.lut) == ("myproject", 0, 64534)
    h = parse_project(FIX / "hlstutorial_3")
    assert h.top.module == "myproject_axi"  # from TopModelName, not the myproject sub-module
    assert h.top.latency_worst_cycles == 92


def test_undef_and_question_mark_are_unknown_not_zero(tmp_path):
    text = (FIX / "ece226_1" / RPT / "myproject_csynth.xml").read_text()
    text = text.replace("<Best-caseLatency>395</Best-caseLatency>", "<Best-caseLatency>undef</Best-caseLatency>")
    text = text.replace("<Interval-max>390</Interval-max>", "<Interval-max>?</Interval-max>")
    p = tmp_path / "myproject_csynth.xml"
    p.write_text(text)
    r = parse_csynth_xml(p)
    assert r.latency_best_cycles is None and r.latency_best_s is None
    assert r.interval_max_cycles is None and r.images_per_s_worst is None
    assert r.latency_worst_cycles == 395


def test_text_rpt_when_xml_is_missing():
    r = parse_project(FIX / "dndhls4ml_1")
    top = r.top
    assert top.file.name == "myproject_csynth.rpt"
    assert (top.tool, top.tool_version, top.part) == ("Vivado HLS", "2020.1", "xczu9eg-ffvb1156-2-e")
    assert (top.clock_target_ns, top.clock_estimated_ns, top.clock_uncertainty_ns) == (5.0, 4.218, 0.62)
    assert (top.latency_best_cycles, top.latency_worst_cycles, top.interval_min_cycles) == (5, 5, 1)
    assert top.resources.as_dict() == {"LUT": 59561, "FF": 4561, "DSP": 0, "BRAM_18K": 1, "URAM": 0}
    assert top.available.as_dict() == {"LUT": 274080, "FF": 548160, "DSP": 2520, "BRAM_18K": 1824, "URAM": 0}
    # Per-layer rows from the .rpt Instance tables.
    assert {(l.config_index, l.kind, l.resources.lut) for l in r.layers} == {
        (None, "dense_latency", 58323), (5, "dense_latency", 682), (4, "relu", 361), (7, "sigmoid", 153)}
    assert all(l.source == "rpt" for l in r.layers)
    assert [v.file.name for v in r.vivado] == ["vivado_synth.rpt"]  # next to the .rpt, same folder


def test_rpt_2016_format_matches_its_xml():
    rpt = parse_csynth_rpt(FIX / "hls4mlearly_1" / RPT / "myproject_csynth.rpt")
    xml = parse_csynth_xml(FIX / "hls4mlearly_1" / RPT / "myproject_csynth.xml")
    for f in ("module", "clock_target_ns", "clock_estimated_ns", "latency_best_cycles", "latency_worst_cycles",
              "interval_min_cycles", "interval_max_cycles", "pipeline_type", "resources", "available"):
        assert getattr(rpt.report, f) == getattr(xml, f), f
    assert [i.module for i in rpt.instances] == ["compute_layer_0_0_0_s", "compute_layer_0_0_0_1", "relu", "sigmoid"]


# ------------------------------------------------------------------ per layer


def test_per_layer_table_io_stream_cnn():
    r = parse_project(FIX / "dnnonsilicon_3")
    layers = [l for l in r.layers if l.is_layer]
    assert [(l.config_index, l.kind) for l in layers] == [
        (2, "conv_2d_cl"), (3, "relu"), (4, "pooling2d_cl"), (5, "conv_2d_cl"), (6, "relu"),
        (7, "pooling2d_cl"), (9, "dense"), (10, "softmax")]
    conv5 = layers[3]
    assert (conv5.resources.lut, conv5.resources.ff, conv5.resources.dsp, conv5.latency_worst_cycles) == (9772, 5154, 18, 578)
    # Layer rows sum to the top's Instance row: nothing double counted, nothing lost.
    assert sum(l.resources.dsp for l in layers) == r.top.resources.dsp == 42
    assert sum(l.resources.lut for l in layers) == 30679  # 'Instance' row of myproject_csynth.rpt
    subs = {l.module: l.parent for l in r.layers if not l.is_layer}
    assert subs["shift_line_buffer_array_ap_fixed_16_6_5_3_0_4u_config5_s"].startswith("compute_output_buffer_2d")
    assert not any(m.startswith(("myproject_mux", "mul_")) for m in subs)  # operator cores are not modules


@pytest.mark.parametrize("name,n_layers,dsp_sum", [
    ("hlstutorial_1", 8, 1450), ("ece226_1", 6, 467), ("mlpestimator_1", 8, 814), ("lhc_anomaly_1", 7, 34),
    ("autoencoder_1", 29, 118), ("l1jettagger_1", 10, 0), ("mlfpga_1", 10, 2742), ("nrp6_1", 8, 2557),
])
def test_per_layer_tables_sum_to_top(name, n_layers, dsp_sum):
    r = parse_project(FIX / name)
    layers = [l for l in r.layers if l.is_layer]
    assert len(layers) == n_layers
    assert sum(l.resources.dsp or 0 for l in layers) == dsp_sum


def test_vitis_hierarchy_from_aggregate_csynth_xml():
    r = parse_project(FIX / "ece226_1")
    by = {l.module: l for l in r.layers}
    mult = by["dense_latency_ap_fixed_16_6_5_3_0_ap_fixed_16_6_5_3_0_config2_mult_s"]
    assert not mult.is_layer and mult.config_index == 2 and mult.parent.startswith("compute_output_buffer_1d")
    # Execution order, not config index: hls4ml inserts the zero-padding (config8) after creating
    # the other layers, but it runs first (the aggregate hierarchy lists instances in call order).
    assert [(l.config_index, l.kind) for l in r.layers if l.is_layer] == [
        (8, "zeropad1d_cl"), (2, "conv_1d_cl"), (4, "relu"), (5, "global_pooling1d_cl"), (6, "dense"), (7, "softmax")]


def _write_firmware(prj: Path) -> None:
    """hls4ml 1.3.0's own line format (see a project written by convert_from_keras_model)."""
    fw = prj / "firmware"
    fw.mkdir()
    calls = [("conv_2d_cl", "input_t, layer2_t, config2", "conv1"), ("relu", "layer2_t, layer3_t, relu_config3", "relu1"),
             ("pooling2d_cl", "layer3_t, layer4_t, config4", "pool1"), ("conv_2d_cl", "layer4_t, layer5_t, config5", "conv2"),
             ("relu", "layer5_t, layer6_t, relu_config6", "relu2"), ("pooling2d_cl", "layer6_t, layer7_t, config7", "pool2"),
             ("dense", "layer7_t, layer9_t, config9", "dense"), ("softmax", "layer9_t, result_t, softmax_config10", "softmax")]
    body = "\n".join(f"    nnet::{f}<{a}>(x, y); // {n}\n" for f, a, n in calls)
    (fw / "myproject.cpp").write_text(f"void myproject() {{\n{body}}}\n")
    (fw / "parameters.h").write_text(
        "struct config2_mult : nnet::dense_config {\n    static const unsigned reuse_factor = 99;\n};\n"
        "struct config2 : nnet::conv2d_config {\n    static const unsigned reuse_factor = 3;\n};\n"
        "struct config5 : nnet::conv2d_config {\n    static const unsigned reuse_factor = 16;\n};\n")
    (prj / "project.tcl").write_text('set project_name "myproject"\nset backend "vivado"\n')


def test_layer_names_from_firmware(tmp_path):
    prj = tmp_path / "hls"
    shutil.copytree(FIX / "dnnonsilicon_3", prj)
    _write_firmware(prj)
    r = parse_project(prj)
    layers = [l for l in r.layers if l.is_layer]
    assert [l.layer_name for l in layers] == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "dense", "softmax"]
    # parameters.h first (config2_mult's 99 is not config2's); layers it does not state take
    # hls4ml_config.yml's model-wide ReuseFactor (16 in dnnonsilicon_3's config).
    assert [l.reuse_factor for l in layers[:4]] == [3, 16, 16, 16]
    assert r.layer_names_from == prj / "firmware" / "myproject.cpp"


@pytest.mark.slow
def test_firmware_mapping_on_a_real_hls4ml_project(tmp_path):
    """Write a real hls4ml 1.3.0 project (no compile) and map its configN to the Keras names."""
    pytest.importorskip("hls4ml")
    import hls4ml
    import tensorflow as tf

    inp = tf.keras.layers.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(4, 3, name="conv1")(inp)
    x = tf.keras.layers.Activation("relu", name="relu1")(x)
    x = tf.keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    x = tf.keras.layers.Dense(10, name="fc1")(x)
    x = tf.keras.layers.Activation("softmax", name="softmax")(x)
    model = tf.keras.Model(inp, x)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    cfg["LayerName"]["fc1"]["ReuseFactor"] = 4
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis", io_type="io_stream",
                                                    output_dir=str(tmp_path / "prj"), part="xc7z020clg400-1")
    hm.write()
    cpp, names = firmware_layers(tmp_path / "prj", "myproject")
    assert cpp is not None
    assert {v[0] for v in names.values()} == {"conv1", "relu1", "pool1", "fc1", "softmax"}
    by_name = {v[0]: (k, v[1]) for k, v in names.items()}
    assert by_name["conv1"][1] == "conv_2d_cl" and by_name["fc1"][1] == "dense"
    assert reuse_factors(tmp_path / "prj")[by_name["fc1"][0]] == 4
    # Written but not synthesized: no results, not a crash.
    r = parse_project(tmp_path / "prj")
    assert not r.has_results and r.top is None


# ------------------------------------------------------------------ Vivado, timing, cosim


def test_vivado_synth_7series_slice_wording():
    u = parse_utilization(FIX / "dnnonsilicon_1" / "vivado_synth.rpt")
    assert (u.device, u.design_state, u.tool_version) == ("7z020clg400-1", "Synthesized", "2020.1")
    assert (u.lut, u.ff, u.dsp, u.bram_tiles_36k, u.uram) == (47682, 2455, 220, 1.5, None)
    assert (u.lut_available, u.ff_available, u.dsp_available, u.bram_tiles_36k_available) == (53200, 106400, 220, 140)
    assert u.resources.bram_18k == 3.0  # 1.5 tiles of 36 Kb = 3 blocks of 18 Kb


def test_vivado_synth_ultrascale_clb_wording_with_and_without_prohibited():
    a = parse_utilization(FIX / "dnnonsilicon_3" / "vivado_synth.rpt")  # 2020.1, no Prohibited column
    assert (a.lut, a.ff, a.dsp, a.bram_tiles_36k, a.uram) == (19101, 13458, 42, 5.0, 0)
    assert (a.lut_available, a.bram_tiles_36k_available, a.uram_available) == (871680, 1344, 640)
    b = parse_utilization(FIX / "ece226_1" / "vivado_synth.rpt")  # 2024.1, Prohibited column
    assert (b.lut, b.ff, b.dsp, b.bram_tiles_36k, b.uram) == (8565, 4864, 467, 12.0, 0)
    assert (b.lut_available, b.ff_available, b.dsp_available, b.bram_tiles_36k_available) == (1728000, 3456000, 12288, 2688)
    c = parse_utilization(FIX / "lfads_1" / "vivado_synth.rpt")  # 2022.2, Prohibited column
    assert (c.lut, c.ff, c.dsp, c.bram_tiles_36k) == (179437, 227971, 2058, 251.0)
    d = parse_utilization(FIX / "dndhls4ml_1" / "vivado_synth.rpt")
    assert (d.lut, d.bram_tiles_36k) == (31277, 0.5)


def test_routed_and_hierarchical_utilization():
    r = parse_project(FIX / "hlstutorial_3")
    states = {v.file.name: (v.design_state, v.lut, v.ff, v.dsp, v.bram_tiles_36k) for v in r.vivado}
    assert states["design_1_wrapper_utilization_placed.rpt"] == ("Fully Placed", 19879, 20767, 9, 7.0)
    assert states["util.rpt"] == ("Routed", 19879, 20767, 9, 7.0)  # -hierarchical: (top) row
    assert states["design_1_myproject_axi_0_0_utilization_synth.rpt"] == ("Synthesized", 17267, 17058, 9, 2.0)
    e = parse_project(FIX / "ece226_1")
    assert [v.design_state for v in e.vivado] == ["Routed", "Optimized"]  # most advanced first
    assert e.vivado[0].lut == 7722


def test_timing_summary_routed():
    t = parse_timing_summary(FIX / "hlstutorial_3/myproject_vivado_accelerator/project_1.runs/impl_1/"
                                    "design_1_wrapper_timing_summary_routed.rpt")
    assert (t.wns_ns, t.tns_ns, t.tns_failing_endpoints, t.whs_ns, t.ths_ns, t.wpws_ns) == (0.385, 0.0, 0, 0.015, 0.0, 3.75)
    assert t.constraints_met is True and t.design_state == "routed"
    assert [(c.name, c.period_ns, c.frequency_mhz, c.wns_ns) for c in t.clocks] == [("clk_fpga_0", 10.0, 100.0, 0.385)]
    assert len(parse_project(FIX / "hlstutorial_3").timing) == 1


def test_cosim_reports():
    p = parse_cosim(FIX / "dnnonsilicon_4/myproject_prj/solution1/sim/report/myproject_cosim.rpt")
    assert [(r.rtl, r.status, r.latency_min_cycles, r.interval_max_cycles) for r in p.results] == [("Verilog", "Pass", None, None)]
    assert p.passed is True
    f = parse_project(FIX / "mlfpga_1").cosim
    assert f.file.name == "Encoder_cosim.rpt" and f.passed is False
    lhc = parse_cosim(FIX / "lhc_anomaly_1/myproject_prj/solution1/sim/report/myproject_cosim.rpt")
    assert lhc.passed is True and lhc.results[0].total_execution_cycles is None  # 'NA', the 9th column


def test_cosim_with_numbers(tmp_path):
    src = (FIX / "dnnonsilicon_4/myproject_prj/solution1/sim/report/myproject_cosim.rpt").read_text()
    row = "|   Verilog|      Pass|             NA|             NA|             NA|             NA|             NA|             NA|"
    assert row in src
    p = tmp_path / "x_cosim.rpt"
    p.write_text(src.replace(row, "|   Verilog|      Pass|           2362|         2362.5|           2363|           2355|           2355|           2355|"))
    r = parse_cosim(p).results[0]
    assert (r.latency_min_cycles, r.latency_avg_cycles, r.latency_max_cycles, r.interval_avg_cycles) == (2362, 2362.5, 2363, 2355.0)


# ------------------------------------------------------------------ board fit and board table


def test_board_fit_flags_over_capacity_and_binding_resource():
    r = parse_project(FIX / "dnnonsilicon_1")  # 664 DSP estimated on a 220-DSP xc7z020
    hls = r.fits[0]
    assert hls.against.startswith("board pynq-z2") and hls.fits is False
    assert hls.binding.resource == "DSP" and hls.binding.percent == pytest.approx(100 * 664 / 220)
    assert [x.resource for x in hls.rows if x.over] == ["DSP"]
    viv = r.fits[1]  # Vivado mapped the rest to LUTs: 220/220 DSP, fits
    assert viv.stage == "Vivado Synthesized" and viv.fits is True
    assert viv.binding.resource == "DSP" and viv.binding.percent == pytest.approx(100.0)
    auto = parse_project(FIX / "autoencoder_1").fits[0]
    assert auto.binding.resource == "BRAM_18K" and auto.binding.percent == pytest.approx(100 * 289 / 280)


def test_board_fit_against_named_board_and_report_own_totals():
    r = parse_project(FIX / "mlpestimator_2", board="zcu102")
    f = r.fits[0]
    assert f.against.startswith("board zcu102") and f.fits is True
    assert f.binding.resource == "LUT" and f.binding.percent == pytest.approx(100 * 68412 / 274080)
    own = parse_project(FIX / "mlpestimator_2").fits[0]  # xc7z007s is no board: the report's AvailableResources
    assert own.against.startswith("report AvailableResources") and own.fits is False
    assert own.binding.resource == "LUT" and own.binding.percent == pytest.approx(100 * 68412 / 14400)
    with pytest.raises(ConfigError, match="unknown board 'zcu999'"):
        parse_project(FIX / "mlpestimator_2", board="zcu999")


def test_board_table_matches_fixture_available_resources():
    checked = set()
    for name in SETS:
        r = parse_project(FIX / name)
        if r.top is not None and r.top.available is not None:
            b = board_for_device(r.top.part)
            if b is not None:
                assert b.resources == r.top.available.as_dict() | {"URAM": b.uram if r.top.available.uram is None else r.top.available.uram}, (name, b.name)
                checked.add(b.name)
        for v in r.vivado:
            b = board_for_device(v.device)
            if b is not None and v.available is not None:
                av = v.available.as_dict()
                assert {k: b.resources[k] for k in ("LUT", "FF", "DSP", "BRAM_18K")} == {
                    k: av[k] for k in ("LUT", "FF", "DSP", "BRAM_18K")}, (name, v.file.name)
                checked.add(b.name)
    assert {"pynq-z2", "zcu102", "kv260", "alveo-u50", "alveo-u250", "alveo-u280"} <= checked
    assert board_for_device("7z020clg400-1") is BOARDS["pynq-z2"]  # Vivado's spelling of the device
    assert board_for_device("xcu50-fsvh2104-2L-e") is BOARDS["alveo-u50"]  # other speed grade, same die


# ------------------------------------------------------------------ malformed files


@pytest.fixture
def good_xml() -> str:
    return (FIX / "nrp6_1" / RPT / "myproject_csynth.xml").read_text()


@pytest.mark.parametrize("kind,expect", [
    ("empty", "report file is empty"),
    ("truncated", "truncated XML"),
    ("not_xml", "not valid XML"),
    ("no_area", "missing element AreaEstimates/Resources"),
    ("wrong_root", "root element is <html>"),
    ("bad_number", "is not a number"),
])
def test_malformed_csynth_xml(tmp_path, good_xml, kind, expect):
    p = tmp_path / "myproject_csynth.xml"
    text = {
        "empty": "",
        "truncated": good_xml[: len(good_xml) // 2],
        "not_xml": (FIX / "nrp6_1" / RPT / "myproject_csynth.rpt").read_text(),
        "no_area": re.sub(r"<AreaEstimates>.*</AreaEstimates>", "", good_xml, flags=re.S),
        "wrong_root": "<html><body>404</body></html>",
        "bad_number": good_xml.replace("<LUT>116694</LUT>", "<LUT>lots</LUT>"),
    }[kind]
    p.write_text(text)
    with pytest.raises(ReportError, match=re.escape(expect)) as e:
        parse_csynth_xml(p)
    assert str(p) in str(e.value)


def test_malformed_top_inside_a_project_names_the_file(tmp_path):
    prj = tmp_path / "prj"
    shutil.copytree(FIX / "lhc_anomaly_1", prj)
    bad = prj / RPT / "myproject_csynth.xml"
    bad.write_text(bad.read_text()[:3000])
    with pytest.raises(ReportError, match="myproject_csynth.xml: truncated XML"):
        parse_project(prj)


@pytest.mark.parametrize("which", ["rpt", "util", "timing", "cosim"])
def test_malformed_text_reports(tmp_path, which):
    src = {
        "rpt": (FIX / "dndhls4ml_1/myproject_csynth.rpt", parse_csynth_rpt, "truncated report"),
        "util": (FIX / "ece226_1/vivado_synth.rpt", parse_utilization, "no 'Slice LUTs' or 'CLB LUTs' row"),
        "timing": (FIX / "hlstutorial_3/myproject_vivado_accelerator/project_1.runs/impl_1/"
                   "design_1_wrapper_timing_summary_routed.rpt", parse_timing_summary, "truncated Design Timing Summary"),
        "cosim": (FIX / "mlfpga_1/Encoder_prj/solution1/sim/report/Encoder_cosim.rpt", parse_cosim, "no Verilog/VHDL result rows"),
    }[which]
    path, parse, expect = src
    text = path.read_text()
    marker, extra = {"rpt": ("== Utilization Estimates", 60), "util": ("| CLB LUTs", 0),
                     "timing": ("WNS(ns)", 200), "cosim": ("|      VHDL", 0)}[which]
    cut = text.index(marker) + extra
    p = tmp_path / path.name
    p.write_text(text[:cut])
    with pytest.raises(ReportError, match=re.escape(expect)):
        parse(p)
    p.write_text("")
    with pytest.raises(ReportError, match="empty"):
        parse(p)


def test_missing_files_are_absent_sections(tmp_path):
    prj = tmp_path / "prj"
    (prj / "firmware").mkdir(parents=True)
    r = parse_project(prj)
    assert (r.top, r.layers, r.vivado, r.timing, r.cosim, r.fits) == (None, (), (), (), None, ())
    assert not r.has_results
    only_viv = parse_project(FIX / "lfads_1")
    assert only_viv.top is None and only_viv.vivado[0].dsp == 2058 and only_viv.fits[0].binding.resource == "DSP"


# ------------------------------------------------------------------ rendering and CLI


def test_render_report(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "parity.md").write_text("## C-sim parity\n\nbit-exact: 100 of 100 images\n")
    (out / "report.md").write_text("stale")
    r = parse_project(FIX / "dnnonsilicon_1")
    written = render_report(r, out)
    assert written == {"md": out / "report.md", "json": out / "report.json", "png": out / "resources.png"}
    md = (out / "report.md").read_text()
    assert "stale" not in md
    assert "| DSP | 220 | 664 (**301.8 %** ⚠) ← binding | 220 (100.0 %) ← binding |" in md
    assert "**does NOT fit**; binding resource DSP" in md
    assert "5 cycles = 105 ns at the estimated clock" in md  # 5 x 21.045 ns
    assert md.index("## Per layer") < md.index("## Vivado utilization") < md.index("## C-sim parity")
    assert "| `vivado_synth.rpt` | Synthesized | 7z020clg400-1 | 47,682 | 2,455 | 220 | 1.5 | – |" in md
    data = json.loads((out / "report.json").read_text())
    assert data["top"]["resources"]["DSP"] == 664 and data["top"]["latency_worst_s"] == pytest.approx(5 * 21.045e-9)
    assert data["fits"][0]["binding_resource"] == "DSP" and data["fits"][0]["fits"] is False
    assert data["vivado"][0]["bram_18k_equivalent"] == 3.0
    png = (out / "resources.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["parity.md", "report.json", "report.md", "resources.png"]


def _run_cli(argv: list[str]) -> int:
    """The `hwflow report` subcommand through hwflow.cli's parser (error -> exit code, message on stdout)."""
    from hwflow.cli import build_parser

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HwflowError as exc:
        print(f"error: {exc}")
        return exc.exit_code


def test_cli_hls_dir(tmp_path, capsys):
    assert _run_cli(["report", "--hls-dir", str(FIX / "ece226_1"), "--out", str(tmp_path / "o"), "--board", "alveo-u250"]) == 0
    out = capsys.readouterr().out
    assert "myproject: latency 395 cycles, II 390" in out and "binding DSP 3.8 %" in out
    assert (tmp_path / "o" / "report.md").is_file()
    assert _run_cli(["report", "--hls-dir", str(FIX / "ece226_1")]) == ConfigError.exit_code
    assert "--out: required" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert _run_cli(["report", "--hls-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "x")]) == ReportError.exit_code
    assert "no synthesis results yet" in capsys.readouterr().out


def test_cli_config_reads_build_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(tmp_path))
    cfg = REPO_ROOT / "hls_configs" / "squeezenet.yaml"
    assert _run_cli(["report", "--config", str(cfg)]) == ReportError.exit_code
    assert "make hls MODEL=squeezenet" in capsys.readouterr().out
    shutil.copytree(FIX / "dnnonsilicon_2", tmp_path / "squeezenet" / "hls")
    assert _run_cli(["report", "--config", str(cfg)]) == 0
    md = (tmp_path / "squeezenet" / "reports" / "report.md").read_text()
    assert "Against board pynq-z2" in md and "| DSP | 220 | 17 (7.7 %) | 17 (7.7 %) ← binding |" in md
