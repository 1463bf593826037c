"""The Vivado-level projection (hwflow.estimate.vivado) and its validation on real csynth/Vivado pairs
(benchmarks/vivado_projection.py on ../shared/fixtures/vivado-pairs)."""

from __future__ import annotations

import json
import sys

import pytest

from hwflow.estimate.layers import LayerEstimate
from hwflow.estimate.vivado import VivadoCalibration, project, project_totals, rom_to_lut
from hwflow.paths import REPO_ROOT

PAIRS = REPO_ROOT.parent / "shared" / "fixtures" / "vivado-pairs"
sys.path.insert(0, str(REPO_ROOT))  # benchmarks/ is not an installed package

CAL = VivadoCalibration(lut_ratio=0.5, ff_ratio=0.8, rom_lut_max_depth=64, fifo_srl_max_depth=32,
                        lut_per_fallback_dsp=80.0, bram_ratio_design=0.25)


def _le(name, **kw):
    le = LayerEstimate(name, "Conv2D", "conv")
    for k, v in kw.items():
        setattr(le, k, v)
    return le


def test_per_layer_memories_and_dsp_fallback():
    """Shallow ROMs and FIFOs leave BRAM for LUTs (LUT6 = 64x1 ROM, 32-deep SRL); DSPs over the part are
    Vivado's LUT fallback, the DSP count capped at the part's."""
    a = _le("a", lut=10_000, ff=5_000, dsp=150, bram_18k=12, roms=[[16, 256, 8], [1024, 16, 1]], fifos=[[32, 64, 2]])
    b = _le("b", lut=2_000, ff=1_000, dsp=100, bram_18k=1, fifos=[[1024, 16, 1]])
    v = project([a, b], dsp_available=220, vcal=CAL)
    assert v.layers["a"] == {"LUT": 5_000 + rom_to_lut(16, 256) + 64 * 1, "FF": 4_000, "DSP": 150, "BRAM_18K": 2,
                             "URAM": 0}
    assert rom_to_lut(16, 256) == 256 and rom_to_lut(1024, 16) == 256
    assert v.layers["b"]["BRAM_18K"] == 1  # a 1024-deep FIFO stays in BRAM
    assert v.dsp_fallback == 30 and v.totals["DSP"] == 220
    assert v.totals["LUT"] == v.layers["a"]["LUT"] + v.layers["b"]["LUT"] + 30 * 80
    t = project_totals({"LUT": 40_000, "FF": 10_000, "DSP": 300, "BRAM_18K": 100}, 220, CAL)
    assert t.totals == {"LUT": 20_000 + 80 * 80, "FF": 8_000, "DSP": 220, "BRAM_18K": 25, "URAM": 0}


def test_shipped_constants_and_budget_evidence():
    """vivado.json holds the fitted constants, the measured error band and the budget with its evidence."""
    raw = json.loads((REPO_ROOT / "hwflow" / "estimate" / "vivado.json").read_text())
    c = VivadoCalibration.load()
    assert 0.3 < c.lut_ratio < 0.7 and 0.5 < c.ff_ratio < 1.2  # Vivado builds fewer LUTs and FFs than csynth states
    assert c.budget == {"LUT": 0.85, "FF": 0.85, "BRAM_18K": 0.96, "DSP": 1.0, "URAM": 0.96}
    assert set(c.band) == {"LUT", "FF", "DSP", "BRAM_18K"} and all(v is not None for v in c.band.values())
    assert "umons_1" in raw["budget_evidence"] and "263/280" in raw["budget_evidence"]


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    """The benchmark on a copy (symlinks) of four pairs plus one broken folder."""
    if not PAIRS.is_dir():
        pytest.skip(f"{PAIRS} not present")
    from benchmarks import vivado_projection as vp

    tmp = tmp_path_factory.mktemp("pairs")
    root = tmp / "pairs"
    root.mkdir()
    for n in ("umons_2", "pokersuits_1", "mlp_nicolo_1", "cnnkdd_3", "kojos_1", "mlp_iris_1"):
        (root / n).symlink_to(PAIRS / n)
    bad = root / "broken_1"  # a pair.json naming reports that are not there, and no quoted numbers
    bad.mkdir()
    info = json.loads((PAIRS / "cnnkdd_3" / "pair.json").read_text())
    info["hls"]["core"] = {k: v for k, v in info["hls"]["core"].items() if k not in ("LUT", "FF", "DSP", "BRAM_18K")}
    (bad / "pair.json").write_text(json.dumps(info))
    (root / "garbage_1").mkdir()
    (root / "garbage_1" / "pair.json").write_text("{not json")
    out = tmp / "res" / "vp.json"
    rc = vp.main(["--pairs", str(root), "--json", str(out)])
    return rc, out, json.loads(out.read_text())


def test_validation_scores_like_for_like_and_leaves_bad_folders_out(validation, capsys):
    rc, out, res = validation
    assert rc == 0
    assert set(res["median_error"]) == {"LUT", "FF", "DSP", "BRAM_18K"}
    assert all(0 <= v < 5 for v in res["median_error"].values())
    d = res["designs"]
    assert set(d) == {"umons_2", "pokersuits_1", "mlp_nicolo_1", "cnnkdd_3", "kojos_1"}
    # like for like: umons_2's core against the core's instance row of the routed report (read from the file)
    u = d["umons_2"]
    assert u["counterpart"] == "core" and u["vivado_entry"]["stage"] == "routed"
    assert u["vivado"] == {"LUT": 23192, "FF": 30229, "DSP": 6, "BRAM_18K": 175}
    assert u["vivado_entry"]["read_from"] == "report file (instance row)"
    assert u["csynth"]["LUT"] == 45197 and "estimate" in u["projection"]  # rebuilt from keras_model.keras
    # pokersuits_1: the AXI wrapper's IP synthesis (its export report is no report_utilization: the next table)
    assert d["pokersuits_1"]["counterpart"] == "axi" and d["pokersuits_1"]["vivado"]["LUT"] == 26083
    assert d["kojos_1"]["csynth_from"].startswith("pair.json (quoted") and "estimate" not in d["kojos_1"]["projection"]
    # every design here was built by Vivado on its part: none is judged "does not fit"
    assert res["summary"]["report"]["false_rejections"] == [] and res["summary"]["estimate"]["false_rejections"] == []
    # the projection is closer to Vivado than csynth is on LUT
    assert res["summary"]["report"]["median_error"]["LUT"] < res["summary"]["csynth"]["median_error"]["LUT"]
    assert set(res["skipped"]) == {"mlp_iris_1", "broken_1", "garbage_1"}  # block design only; unreadable
    assert out.with_suffix(".md").is_file() and out.with_suffix(".png").stat().st_size > 10_000


def test_validation_of_a_folder_without_pairs_is_one_line(tmp_path, capsys):
    from benchmarks import vivado_projection as vp

    assert vp.main(["--pairs", str(tmp_path / "nope"), "--json", str(tmp_path / "x.json")]) == 6
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a folder" in err and not (tmp_path / "x.json").exists()
