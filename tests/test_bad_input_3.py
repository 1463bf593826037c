"""The bad-input catalogue, round 3 (issue 31): hostile or careless inputs that got a traceback, a
hang, a silent acceptance, a half-written folder or an unclear message.

Each case runs through `hwflow.cli.main` in-process (as tests/test_bad_input.py does) and asserts the
documented exit status, no traceback, the expected words, one error line (none for exit 0), a
message of reasonable length, the build folder unchanged (`.lock` excepted) and, where a case names
them, files that must not exist afterwards. Named tests below cover what a CLI case cannot: SIGTERM
during a child process, a folder swap killed half-way, the Dask workers' log level.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from tests.test_bad_input import BASE, REPORTS, SYNTH_FIX, _data_config, _edit, _npz, run_cli, snapshot

CHECK = ["check", "--config", "{cfg}"]
HLS = ["hls", "--config", "{cfg}", "--no-csim"]
_RPT = Path("myproject_prj") / "solution1" / "syn" / "report"


@dataclass
class Case:
    id: str
    argv: list[str]  # {cfg}: the config written from `config`; {file}: what `make` returned; {tmp}: the folder
    code: int
    words: list[str]
    config: str | Callable[[Path], str] = BASE
    make: Callable[[Path], Path] | None = None
    env: dict[str, str] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)  # paths ({tmp}, {build}) that must not exist afterwards


# ------------------------------------------------------------------------------------ builders


def _save(model, path: Path) -> Path:
    model.save(path)
    return path


def _keras_model(kind: str) -> Callable[[Path], Path]:
    """Small saved models with one construct each (built only when the case runs)."""

    def make(tmp: Path) -> Path:
        import tensorflow as tf

        L = tf.keras.layers
        if kind == "conv3d":
            i = L.Input((4, 4, 4, 1))
            return _save(tf.keras.Model(i, L.Dense(2)(L.Flatten()(L.Conv3D(2, 2, name="vol")(i)))), tmp / "c3.h5")
        if kind == "mha":
            i = L.Input((4, 8))
            x = L.MultiHeadAttention(2, 4, name="attn")(i, i)
            return _save(tf.keras.Model(i, L.Dense(2)(L.Flatten()(x))), tmp / "mha.h5")
        if kind == "lstm":
            i = L.Input((6, 4))
            return _save(tf.keras.Model(i, L.Dense(2)(L.LSTM(3, name="rnn")(i))), tmp / "lstm.h5")
        if kind == "two-outputs":
            i = L.Input((8, 8, 1))
            f = L.Flatten()(L.Conv2D(2, 3, name="c")(i))
            return _save(tf.keras.Model(i, [L.Dense(2, name="a")(f), L.Dense(3, name="b")(f)]), tmp / "two.h5")
        if kind == "small-cnn":
            i = L.Input((8, 8, 1))
            return _save(tf.keras.Model(i, L.Dense(3, name="fc")(L.Flatten()(L.Conv2D(2, 3, name="c")(i)))), tmp / "cnn.h5")
        if kind == "1d-input":
            i = L.Input((16,))
            return _save(tf.keras.Model(i, L.Dense(3, name="fc")(L.Dense(8)(i))), tmp / "mlp.h5")
        if kind == "huge-input":
            i = L.Input((2000, 2000, 1))
            return _save(tf.keras.Model(i, L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(2, 3)(i)))), tmp / "big.h5")
        if kind in ("layers-5", "config-oops"):
            i = L.Input((8, 8, 1))
            p = _save(tf.keras.Model(i, L.Dense(2)(L.Flatten()(i))), tmp / "good.keras")
            with zipfile.ZipFile(p) as z:
                files = {n: z.read(n) for n in z.namelist()}
            conf = json.loads(files["config.json"])
            if kind == "layers-5":
                conf["config"]["layers"] = 5
            else:
                conf["config"] = "oops"
            files["config.json"] = json.dumps(conf).encode()
            out = tmp / f"{kind}.keras"
            with zipfile.ZipFile(out, "w") as z:
                for n, b in files.items():
                    z.writestr(n, b)
            return out
        raise AssertionError(kind)

    return make


def _raw(data: bytes, name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name
    return make


def _folder(name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).mkdir()
        return tmp / name
    return make


def _fifo(name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        os.mkfifo(tmp / name)
        return tmp / name
    return make


def _dev_link(name: str, target: str = "/dev/null") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).symlink_to(target)
        return tmp / name
    return make


def _images_with_a_huge_second(tmp: Path) -> Path:
    """An image folder whose FIRST image is fine and a later one is 4100 pixels wide."""
    from PIL import Image

    root = tmp / "imgs"
    rng = np.random.default_rng(0)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True)
        for k in range(2):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / f"class{c}" / f"{k}.png")
    Image.new("RGB", (4100, 8)).save(root / "class7" / "1.png")
    return root


def _report(damage: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        d = tmp / "prj"
        shutil.copytree(SYNTH_FIX, d)
        damage(d)
        return d
    return make


def _sub(rel: str, old: str, new: str, regex: bool = False) -> Callable[[Path], None]:
    import re

    def damage(d: Path) -> None:
        f = d / rel
        text = f.read_text()
        out = re.sub(old, new, text, count=1) if regex else text.replace(old, new, 1)
        assert out != text, (rel, old)
        f.write_text(out)
    return damage


def _replace_file(rel: str, how: str) -> Callable[[Path], None]:
    def damage(d: Path) -> None:
        f = d / rel
        f.unlink()
        if how == "fifo":
            os.mkfifo(f)
        else:
            f.symlink_to(how)
    return damage


def _deep_hierarchy(d: Path) -> None:
    """A Vitis aggregate csynth.xml whose RTL hierarchy nests 3,000 instances deep."""
    f = d / _RPT / "csynth.xml"
    text = f.read_text()
    inner = "<InstancesList><Instance><ModuleName>m</ModuleName>" * 3000 + "</Instance></InstancesList>" * 3000
    f.write_text(text.replace("</profile>", "<RTLDesignHierarchy><TopModule><ModuleName>myproject</ModuleName>"
                              f"{inner}</TopModule></RTLDesignHierarchy></profile>"))


def _beta_version(d: Path) -> None:
    """Version 'v2020.1-beta' and no DSP48E/DSP tag (the tool is told from the version alone)."""
    for f in (d / _RPT).glob("*.xml"):
        f.write_text(f.read_text().replace("<Version>2020.1</Version>", "<Version>v2020.1-beta</Version>")
                     .replace("DSP48E>", "DSPX>"))


X_XML = str(_RPT / "myproject_csynth.xml")
X_RPT = str(_RPT / "myproject_csynth.rpt")
LONG = "x" * 200_000
ZWSP = "\u200b"

# ------------------------------------------------------------------------------------ the cases

CASES = [
    # --- tracebacks before
    Case("train-seed-2^32", CHECK, 2, ["train.seed", "0..4,294,967,295"], _edit("epochs: 0,", "epochs: 0, seed: 4294967296,")),
    Case("train-seed-20-digits", CHECK, 2, ["train.seed"], _edit("epochs: 0,", "epochs: 0, seed: 99999999999999999999,")),
    Case("keras-config-layers-5", ["estimate", "--keras", "{file}", "--out", "{tmp}/est"], 2,
         ["malformed model config", "layers", "int"], make=_keras_model("layers-5"), absent=["{tmp}/est"]),
    Case("keras-config-oops", ["estimate", "--keras", "{file}", "--out", "{tmp}/est"], 2,
         ["malformed model config", "config is str"], make=_keras_model("config-oops"), absent=["{tmp}/est"]),
    Case("keras-conv3d-estimate", ["estimate", "--keras", "{file}", "--out", "{tmp}/est"], 2,
         ["layer 'vol' (Conv3D)", "not supported"], make=_keras_model("conv3d"), absent=["{tmp}/est"]),
    Case("keras-mha-estimate", ["estimate", "--keras", "{file}", "--out", "{tmp}/est"], 2,
         ["layer 'attn' (MultiHeadAttention)", "not supported"], make=_keras_model("mha"), absent=["{tmp}/est"]),
    Case("keras-two-outputs-hls", ["hls", "--keras", "{file}", "--no-csim"], 2, ["2 outputs", "one output"],
         make=_keras_model("two-outputs"), absent=["{build}/two/two.yaml"]),
    Case("report-version-beta", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 0, ["latency 5 cycles"],
         make=_report(_beta_version)),
    Case("report-rpt-timing-row-cut", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6,
         ["myproject_csynth.rpt", "timing row has 2 columns"],
         make=_report(_sub(X_RPT, "|ap_clk  | 25.00 ns | 21.045 ns |   3.12 ns  |", "|ap_clk  | 25.00 ns |")),
         absent=["{tmp}/r"]),
    Case("report-xml-3000-deep", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6,
         ["csynth.xml", "nested deeper than 200"], make=_report(_deep_hierarchy), absent=["{tmp}/r"]),
    Case("fit-max-util-abc", ["fit", "--config", "{cfg}", "--board", "pynq-z2", "--max-util", "abc"], 2,
         ["--max-util", "expected a number"]),
    Case("fit-max-util-nan", ["fit", "--config", "{cfg}", "--board", "pynq-z2", "--max-util", "nan"], 2, ["--max-util"]),
    # --- a hang before
    Case("report-named-pipe", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6,
         ["vivado_synth.rpt", "named pipe"], make=_report(_replace_file("vivado_synth.rpt", "fifo")), absent=["{tmp}/r"]),
    Case("report-link-to-dev-zero", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6,
         ["myproject_csynth.rpt", "a device"], make=_report(_replace_file(X_RPT, "/dev/zero")), absent=["{tmp}/r"]),
    Case("report-hls4ml-config-pipe", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6,
         ["hls4ml_config.yml", "named pipe"], make=_report(_replace_file("hls4ml_config.yml", "fifo")), absent=["{tmp}/r"]),
    # --- silently accepted before
    Case("precision-integer-above-width", CHECK, 2, ["input_precision", "99 integer bits with width 16", "-16..16"],
         _edit("reuse_factor: 16}", 'reuse_factor: 16, input_precision: "fixed<16,99>"}')),
    Case("precision-integer-minus-70", CHECK, 2, ["precision.result", "-70 integer bits"],
         _edit("reuse_factor: 16}", "reuse_factor: 16, layers: {conv1: {precision: {result: 'fixed<16,-70>'}}}}")),
    Case("precision-sat-bits-20-digits", CHECK, 2, ["saturation bits", "0..16"],
         _edit("reuse_factor: 16}", "reuse_factor: 16, input_precision: 'fixed<16,6,RND,SAT,99999999999999999999>'}")),
    Case("precision-rounding-mode", CHECK, 2, ["rounding mode 'RND_UP'", "RND_CONV"],
         _edit("reuse_factor: 16}", "reuse_factor: 16, input_precision: 'ufixed<8,0,RND_UP,SAT>'}")),
    Case("precision-saturation-mode", CHECK, 2, ["saturation mode 'CLAMP'", "SAT_SYM"],
         _edit("reuse_factor: 16}", "reuse_factor: 16, layers: {conv1: {precision: {accum: 'fixed<24,8,RND,CLAMP>'}}}}")),
    Case("precision-int-with-modes", CHECK, 2, ["not a precision"],
         _edit("reuse_factor: 16}", "reuse_factor: 16, layers: {conv1: {precision: {result: 'int<8,RND>'}}}}")),
    Case("quantizer-bits-twice", CHECK, 2, ["quantization.default.activation", "'bits' twice"],
         BASE + "quantization: {default: {activation: 'quantized_relu(8,3,bits=4)'}}\n"),
    Case("quantizer-integer-twice", CHECK, 2, ["'integer' twice"],
         BASE + "quantization: {layers: {conv1: {weight: 'quantized_bits(6,0,integer=1,alpha=1)'}}}\n"),
    Case("layer-weight-precision-never-reaches", HLS, 2,
         ["hls.layers.conv1.precision.weight", "does not reach the project", "quantization.layers.conv1.weight"],
         _edit("reuse_factor: 16}", "reuse_factor: 16, layers: {conv1: {precision: {weight: 'fixed<6,2>'}}}}"),
         absent=["{build}/cfg/hls"]),
    Case("npz-int64-pixels", HLS, 2, ["x_train has dtype int64", "uint8 or floats in [0, 1]"],
         _data_config(_npz(x_train=np.full((20, 16, 16, 3), 200, np.int64)))),
    Case("npz-float-0-255", HLS, 2, ["x_test holds floats in [0, 255]", "divide by 255"],
         _data_config(_npz(x_test=np.linspace(0, 255, 10 * 16 * 16 * 3, dtype=np.float32).reshape(10, 16, 16, 3)))),
    Case("npz-negative-float-pixels", HLS, 2, ["x_train holds floats in [-1"],
         _data_config(_npz(x_train=np.full((20, 16, 16, 3), -1.0, np.float32)))),
    Case("npz-complex-labels", HLS, 2, ["y_train has dtype complex128"],
         _data_config(_npz(y_train=(np.arange(20) % 10) + 1j))),
    Case("npz-bool-pixels", HLS, 2, ["x_train has dtype bool"], _data_config(_npz(x_train=np.ones((20, 16, 16, 3), bool)))),
    Case("npz-one-class", HLS, 2, ["one class only", "at least 2"],
         _data_config(_npz(y_train=np.zeros(20, int), y_test=np.zeros(10, int)))),
    Case("npz-image-4100-wide", HLS, 2, ["x_train", "4100x8 pixels", "limit is 4096"],
         _data_config(_npz(x_train=np.zeros((20, 8, 4100, 3), np.uint8)))),
    Case("folder-second-image-4100-wide", HLS, 2, ["1.png", "4100x8 pixels", "limit is 4096"],
         _data_config(_images_with_a_huge_second)),
    Case("model-classes-1", CHECK, 2, ["model.classes", "must be >= 2"], _edit("classes: 10", "classes: 1")),
    Case("keras-input-2000-pixels", ["hls", "--keras", "{file}", "--no-csim"], 2, ["input shape", "limit is 1024"],
         make=_keras_model("huge-input"), absent=["{build}/big/big.yaml"]),
    Case("report-negative-lut", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6, ["LUT", "-29277", "negative"],
         make=_report(_sub(X_XML, "<LUT>29277</LUT>", "<LUT>-29277</LUT>")), absent=["{tmp}/r"]),
    Case("report-negative-dsp", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6, ["DSP48E", "negative"],
         make=_report(_sub(X_XML, "<DSP48E>664</DSP48E>", "<DSP48E>-664</DSP48E>")), absent=["{tmp}/r"]),
    Case("report-negative-latency", ["report", "--hls-dir", "{file}", "--out", "{tmp}/r"], 6,
         ["Worst-caseLatency", "negative"],
         make=_report(_sub(X_XML, "<Worst-caseLatency>5</Worst-caseLatency>", "<Worst-caseLatency>-5</Worst-caseLatency>")),
         absent=["{tmp}/r"]),
    Case("keras-lstm-estimate", ["estimate", "--keras", "{file}", "--out", "{tmp}/est"], 2,
         ["layer 'rnn' (LSTM)", "not supported"], make=_keras_model("lstm"), absent=["{tmp}/est"]),
    Case("csim-timeout-env-abc", ["csim", "--config", "{cfg}"], 2, ["$HWFLOW_CSIM_TIMEOUT_S", "'abc'", "10m"],
         env={"HWFLOW_CSIM_TIMEOUT_S": "abc"}),
    Case("csim-timeout-env-negative", ["csim", "--config", "{cfg}"], 2, ["$HWFLOW_CSIM_COMPILE_TIMEOUT_S"],
         env={"HWFLOW_CSIM_COMPILE_TIMEOUT_S": "-5m"}),
    # --- half-written before
    Case("hls-keras-garbage-file", ["hls", "--keras", "{file}", "--no-csim"], 2, ["not a keras model file"],
         make=_raw(b"\x89HDF\r\n\x1a\n" + b"x" * 64, "junk.h5"), absent=["{build}/junk/junk.yaml"]),
    Case("hls-keras-unsupported-layer", ["hls", "--keras", "{file}", "--no-csim"], 2, ["(Conv3D)", "not supported"],
         make=_keras_model("conv3d"), absent=["{build}/c3/c3.yaml"]),
    Case("hls-keras-1d-input", ["hls", "--keras", "{file}", "--no-csim"], 2, ["input shape [16]", "[height, width, channels]"],
         make=_keras_model("1d-input"), absent=["{build}/mlp/mlp.yaml"]),
    Case("hls-keras-missing-data", ["hls", "--keras", "{file}", "--data", "{tmp}/nope.npz", "--no-csim"], 2,
         ["data.source", "does not exist"], make=_keras_model("small-cnn"), absent=["{build}/cnn/cnn.yaml"]),
    Case("fit-out-existing-folder", ["fit", "--config", "{cfg}", "--board", "pynq-z2", "--out", "{file}"], 2,
         ["--out", "existing folder"], make=_folder("outdir"), absent=["{tmp}/outdir/.*"]),
    Case("fit-report-dir-existing-file", ["fit", "--config", "{cfg}", "--board", "pynq-z2", "--out", "{tmp}/f.yaml",
                                          "--report-dir", "{file}"], 2, ["--report-dir", "existing file"],
         make=_raw(b"x", "afile"), absent=["{tmp}/f.yaml"]),
    Case("estimate-out-below-a-file", ["estimate", "--config", "{cfg}", "--out", "{file}/sub"], 2,
         ["--out", "is a file"], make=_raw(b"x", "afile")),
    # --- unclear before
    Case("config-is-a-folder", ["check", "--config", "{file}"], 2, ["is a folder, not a config file"], make=_folder("cfgdir")),
    Case("config-is-dev-null-link", ["check", "--config", "{file}"], 2, ["is a device"], make=_dev_link("null.yaml")),
    Case("config-is-a-named-pipe", ["check", "--config", "{file}"], 2, ["is a named pipe"], make=_fifo("pipe.yaml")),
    Case("keras-is-a-folder", ["estimate", "--keras", "{file}"], 2, ["is a folder", "savedmodel"], make=_folder("saved")),
    Case("hls-keras-is-a-folder", ["hls", "--keras", "{file}"], 2, ["is a folder"], make=_folder("saved2"),
         absent=["{build}/saved2/saved2.yaml"]),
    Case("fit-max-dsp-util-negative", ["fit", "--config", "{cfg}", "--board", "pynq-z2", "--max-dsp-util", "-1"], 2,
         ["argument --max-dsp-util", "'-1' is not valid"]),
    Case("config-name-5000-chars", ["check", "--config", "{tmp}/" + "n" * 5000 + ".yaml"], 2, ["characters]", ".yaml"]),
    Case("model-classes-20-digits", CHECK, 2, ["model.classes", "2..100,000"], _edit("classes: 10", "classes: 99999999999999999999")),
    Case("layer-name-zero-width-space", CHECK, 2, ["hls.layers.conv1\\u200b:", "no such layer"],
         _edit("reuse_factor: 16}", f"reuse_factor: 16, layers: {{'conv1{ZWSP}': {{reuse_factor: 9}}}}}}")),
    Case("quant-layer-zero-width-space", CHECK, 2, ["quantization.layers.fire2_squeeze\\u200b:"],
         BASE + f"quantization: {{layers: {{'fire2_squeeze{ZWSP}': {{weight: 6}}}}}}\n"),
    Case("value-200000-chars", CHECK, 2, ["hls.board", "characters]"], _edit("board: pynq-z2", f"board: {LONG}")),
    Case("key-200000-chars", CHECK, 2, ["unknown key", "characters]"], BASE + f"? parity2{LONG}\n: 1\n"),
    Case("cli-choice-200000-chars", ["hls", "--config", "{cfg}", "--fifo", LONG], 2, ["--fifo", "characters]"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_round_3(case: Case, tmp_path, monkeypatch, capsys):
    build = tmp_path / "build"
    (build / "cache").mkdir(parents=True)
    (build / "cache" / "keep.txt").write_text("a file from an earlier run\n")
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(build))
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(case.config(tmp_path) if callable(case.config) else case.config)
    made = case.make(tmp_path) if case.make else None
    argv = [w.replace("{cfg}", str(cfg)).replace("{tmp}", str(tmp_path)).replace("{file}", str(made)) for w in case.argv]
    before = snapshot(build)
    t0 = time.monotonic()
    code, out = run_cli(argv, capsys)
    assert time.monotonic() - t0 < 120, "took too long (a hang?)"
    assert "Traceback" not in out, out[-3000:]
    assert code == case.code, out[-3000:]
    low = out.lower()
    for w in case.words:
        assert w.lower() in low, f"{w!r} not in {out[-3000:]!r}"
    errors = [l for l in out.splitlines() if "error:" in l]
    assert len(errors) == (1 if case.code else 0), out[-3000:]
    assert all(len(l) < 3000 for l in out.splitlines()), "an echoed value was not shortened"
    if case.code != 0:
        assert snapshot(build) == before
    for a in case.absent:
        pattern = a.replace("{tmp}", str(tmp_path)).replace("{build}", str(build))
        if pattern.endswith("/.*"):
            assert not list(Path(pattern[:-3]).glob(".*")), pattern
        else:
            assert not Path(pattern).exists(), pattern


def test_catalogue_3_counts():
    """The numbers docs/reliability.md quotes (kept in step with CASES and the named tests below)."""
    assert len(CASES) == 60 and len({c.id for c in CASES}) == len(CASES)


# ------------------------------------------------------------------------------------ named tests


def test_precisions_are_canonical_and_read_as_hls4ml_reads_them():
    """What passes check_precision is what hls4ml parses, field for field."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    from hwflow.guard import check_precision

    for text, canon in [("ap_fixed< 16 , 6 ,RND_CONV, SAT>", "ap_fixed<16,6,RND_CONV,SAT>"), ("fixed<8,-2>", "fixed<8,-2>"),
                        ("ufixed<8,0,RND_CONV,SAT>", "ufixed<8,0,RND_CONV,SAT>"), ("int<8>", "int<8>"),
                        ("fixed<16,6,RND,SAT,3>", "fixed<16,6,RND,SAT,3>")]:
        assert check_precision(text, "t") == canon
        t = FPGABackend.convert_precision_string(canon)
        assert t.width == int(canon.split("<")[1].split(",")[0].rstrip(">"))


def test_env_time_limits_parse_units():
    from hwflow.errors import ConfigError
    from hwflow.guard import env_seconds

    for text, s in (("10m", 600.0), ("600", 600.0), ("90s", 90.0), ("1.5h", 5400.0), ("", 7.0)):
        os.environ["HWFLOW_T"] = text
        assert env_seconds("HWFLOW_T", 7.0) == s
    for text in ("abc", "0", "-1", "inf", "nan", "10 parsecs"):
        os.environ["HWFLOW_T"] = text
        with pytest.raises(ConfigError, match=r"\$HWFLOW_T"):
            env_seconds("HWFLOW_T", 7.0)
    del os.environ["HWFLOW_T"]


def test_report_version_beta_tells_the_tool():
    import xml.etree.ElementTree as ET

    from hwflow.reports.csynth import _tool

    root = ET.fromstring("<profile><AreaEstimates><Resources><LUT>1</LUT></Resources></AreaEstimates></profile>")
    assert _tool(root, "v2020.1-beta") == "Vivado HLS" and _tool(root, "2023.2.1") == "Vitis HLS"
    assert _tool(root, "beta") is None


def test_timing_slack_may_be_negative(tmp_path):
    """Negative numbers are refused for counts and latencies, never for slack (WNS/TNS)."""
    from hwflow.reports.textutil import number

    assert number("-0.25", file=tmp_path, key="WNS(ns)", kind=float, signed=True) == -0.25
    with pytest.raises(Exception, match="negative"):
        number("-3", file=tmp_path, key="LUT")


def test_keras_swap_leftover_old_folder_does_not_block_the_next_run(tmp_path):
    """A run killed between convert's two renames leaves `hls.old`: the next swap removes it."""
    from hwflow.convert import swap_into_place

    dest = tmp_path / "hls"
    (tmp_path / "hls.old" / "firmware").mkdir(parents=True)
    (tmp_path / "hls.old" / "firmware" / "x.h").write_text("old\n")
    for round_ in range(2):  # with and without an existing project
        new = tmp_path / f".hls-{round_}"
        new.mkdir()
        (new / "project.tcl").write_text(f"# {round_}\n")
        swap_into_place(new, dest)
        assert (dest / "project.tcl").read_text() == f"# {round_}\n" and not (tmp_path / "hls.old").exists()


def test_write_text_atomic_leaves_no_temp_file_on_a_folder(tmp_path):
    from hwflow.paths import write_text_atomic

    (tmp_path / "out.yaml").mkdir()
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "out.yaml", "x: 1\n")
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]


def test_sigterm_ends_the_children_of_the_runner(tmp_path):
    """SIGTERM to a process inside hwflow.tools.capture (as during a C-sim compile: bash -> g++ ->
    cc1plus) ends the child's whole process group, not only hwflow."""
    script = tmp_path / "hold.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom hwflow import tools\n"
        "print('go', flush=True)\n"
        f"tools.capture(['bash', '-c', 'sleep 300 & echo $! > {tmp_path}/child.pid; wait'], cwd=Path('.'),"
        " timeout_s=600, label='hold')\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    p = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "go"
        pid_file = tmp_path / "child.pid"
        deadline = time.time() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.time() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the grandchild (sleep) outlived SIGTERM of hwflow")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_dask_workers_inherit_the_quiet_log_level(monkeypatch):
    from hwflow.cli import quiet_environment
    from hwflow.sweep.run import _worker_env

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert _worker_env()["TF_CPP_MIN_LOG_LEVEL"] == "3"  # level 2 still prints TF's "E ..." lines
    quiet_environment(False)
    assert _worker_env()["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # --verbose with the user's own level
    assert _worker_env()["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_a_valid_precision_on_the_result_reaches_the_project(tmp_path, monkeypatch, capsys):
    """The other side of 'never reaches the project': result/accum precisions of a layer are kept."""
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(tmp_path / "build"))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_edit("reuse_factor: 16}", "reuse_factor: 16, layers: {conv1: {precision: "
                                              "{result: 'fixed< 12, 5 >', accum: 'fixed<20,8>'}}}}"))
    from hwflow import flow
    from hwflow.config import load_config
    from hwflow.convert import to_hls_model

    c = load_config(cfg)
    assert c.hls.layers["conv1"].precision == {"result": "fixed<12,5>", "accum": "fixed<20,8>"}
    b = flow.run(c, stop="check", options=flow.Options(models="untrained", command="check"))
    m = to_hls_model(c, b.qmodel, plan=b.reuse)
    conv1 = next(l for l in m.get_layers() if l.name == "conv1")
    assert str(conv1.get_output_variable().type.precision).startswith("fixed<12,5")
