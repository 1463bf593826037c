"""The bad-input catalogue (issue 17): each bad or hostile input, run through the CLI in-process.

For every case: the documented exit status, no Python traceback, the expected words in the one-line
message, and a build folder left exactly as it was (file names, sizes and mtimes; the `.lock` file
of hwflow.guard.build_lock excepted). Reports that are only partly readable have their own tests
below: the numbers read, a warning line, and "unknown" where a resource is missing.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hwflow.cli import main
from hwflow.project import LAYERS_FILE
from tests.conftest import SHARED

REPORTS = SHARED / "fixtures" / "hls-reports"
SYNTH_FIX = REPORTS / "dnnonsilicon_1"  # a real Vivado HLS project: csynth XML/RPT + vivado_synth.rpt

BASE = """\
model: {arch: squeezenet, variant: "1.1", input_shape: [16, 16, 3], classes: 10, width: 0.25, pool_size: 2,
        stem_stride: 1}
train: {epochs: 0, qat_epochs: 0}
hls: {board: pynq-z2, io_type: io_stream, strategy: Resource, reuse_factor: 16}
parity: {images: 10}
"""

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh"))


def _edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new, 1)


# ---------------------------------------------------------------------------- input builders


def _images(root: Path, classes: int, per_class: int = 3) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(d / f"{i}.jpg", quality=90)


def _truncated_jpeg(tmp: Path) -> Path:
    root = tmp / "imgs"
    _images(root, 10)
    f = root / "class3" / "1.jpg"
    f.write_bytes(f.read_bytes()[:200])
    return root


def _few_classes(tmp: Path) -> Path:
    root = tmp / "imgs"
    _images(root, 2)
    return root


def _npz(**arrays) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / "data.npz"
        rng = np.random.default_rng(0)
        good = {"x_train": rng.integers(0, 255, (20, 16, 16, 3), dtype=np.uint8), "y_train": np.arange(20) % 10,
                "x_test": rng.integers(0, 255, (10, 16, 16, 3), dtype=np.uint8), "y_test": np.arange(10) % 10}
        good.update(arrays)
        np.savez(p, **{k: v for k, v in good.items() if v is not None})
        return p
    return make


def _raw_file(data: bytes, name: str = "data.npz") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name
    return make


def _pickled_npz(tmp: Path) -> Path:
    p = tmp / "data.npz"
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = {"a": 1}, [1, 2]
    np.savez(p, x_train=obj, y_train=np.arange(2), x_test=obj, y_test=np.arange(2))
    return p


def _data_config(make: Callable[[Path], Path], classes: int = 10) -> Callable[[Path], str]:
    def cfg(tmp: Path) -> str:
        src = make(tmp)
        return _edit("classes: 10", f"classes: {classes}") + f"data: {{source: {str(src)!r}}}\n"
    return cfg


def _lambda_model(suffix: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        import tensorflow as tf

        inp = tf.keras.Input((8, 8, 1))
        out = tf.keras.layers.Dense(3)(tf.keras.layers.Flatten()(tf.keras.layers.Lambda(lambda t: t * 2)(inp)))
        p = tmp / f"lambda{suffix}"
        tf.keras.Model(inp, out).save(p)
        return p
    return make


def _hostile_project(tmp: Path) -> Path:
    """A copy of the real project with a part that runs a command when project.tcl is sourced."""
    d = tmp / "prj"
    shutil.copytree(SYNTH_FIX, d)
    (d / "build_prj.tcl").write_text("source project.tcl\n")
    (d / "project.tcl").write_text('set project_name "myproject"\nset backend "vivado"\n'
                                   'set part "xc7z020clg400-1[exec touch pwned]"\nset clock_period 5\n')
    return d


def _report_copy(damage: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        d = tmp / "prj"
        shutil.copytree(SYNTH_FIX, d)
        damage(d)
        return d
    return make


def _random_vivado(d: Path) -> None:
    (d / "vivado_synth.rpt").write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())


def _nan_csynth(d: Path) -> None:
    f = d / "myproject_prj" / "solution1" / "syn" / "report" / "myproject_csynth.xml"
    f.write_text(f.read_text().replace("<LUT>29277</LUT>", "<LUT>nan</LUT>", 1))


def _sweep(text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / "space.yaml").write_text(text)
        return tmp / "space.yaml"
    return make


BIG_GRID = "space:\n  reuse_factor: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  layers:\n" + "".join(
    f"    l{i}: {{reuse_factor: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}\n" for i in range(8))


# ---------------------------------------------------------------------------- the catalogue


@dataclass
class Case:
    id: str
    argv: Callable[[Path, Path], list[str]]  # (tmp, config path) -> arguments
    code: int
    words: list[str]
    config: str | Callable[[Path], str] = BASE
    env: dict[str, str] = field(default_factory=dict)


def _cmd(*words: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, cfg: [w.replace("{cfg}", str(cfg)).replace("{tmp}", str(tmp)) for w in words]


def _with(make: Callable[[Path], Path], *words: str) -> Callable[[Path, Path], list[str]]:
    def argv(tmp: Path, cfg: Path) -> list[str]:
        p = make(tmp)
        return [w.replace("{cfg}", str(cfg)).replace("{file}", str(p)).replace("{tmp}", str(tmp)) for w in words]
    return argv


CHECK = _cmd("check", "--config", "{cfg}")
HLS = _cmd("hls", "--config", "{cfg}", "--no-csim")

CASES = [
    # --- the holes
    Case("part-tcl-injection", CHECK, 2, ["hls.part", "not a xilinx part name", "xc7z020clg400-1"],
         _edit("board: pynq-z2", 'board: pynq-z2, part: "xc7z020clg400-1[exec touch pwned]"')),
    Case("part-dollar", CHECK, 2, ["hls.part", "not a xilinx part name"], _edit("board: pynq-z2", "board: pynq-z2, part: '$env(HOME)'")),
    Case("project-tcl-injection", _with(_hostile_project, "synth", "--hls-dir", "{file}", "--dry-run"), 2,
         ["project.tcl", "set part", "tcl would substitute"]),
    Case("keras-lambda-h5", _with(_lambda_model(".h5"), "estimate", "--keras", "{file}", "--out", "{tmp}/est"), 2,
         ["lambda", "python code", "refused"]),
    Case("keras-lambda-keras", _with(_lambda_model(".keras"), "estimate", "--keras", "{file}", "--out", "{tmp}/est"), 2,
         ["lambda", "python code", "refused"]),
    Case("keras-garbage", _with(_raw_file(b"\x89HDF\r\n\x1a\n" + b"x" * 64, "m.h5"), "estimate", "--keras", "{file}"), 2,
         ["not a keras model file"]),
    Case("parity-nan", CHECK, 2, ["parity.min_argmax_agreement", "finite"], _edit("images: 10", "images: 10, min_argmax_agreement: .nan")),
    Case("logit-lsb-inf", CHECK, 2, ["parity.max_logit_lsb", "finite"], _edit("images: 10", "images: 10, max_logit_lsb: .inf")),
    Case("clock-nan", CHECK, 2, ["hls.clock_period_ns", "finite"], _edit("board: pynq-z2", "board: pynq-z2, clock_period_ns: .nan")),
    Case("learning-rate-nan", CHECK, 2, ["train.learning_rate", "finite"], _edit("epochs: 0,", "epochs: 0, learning_rate: .nan,")),
    Case("test-fraction-nan", CHECK, 2, ["data.test_fraction", "finite"], BASE + "data: {test_fraction: .nan}\n"),
    Case("yaml-alias-bomb", CHECK, 2, ["yaml expands to more than", "limit"], BOMB),
    Case("yaml-duplicate-key", CHECK, 2, ["duplicate key 'parity'", "line"], BASE + "parity: {images: 5}\n"),
    Case("sweep-grid-1e9", _with(_sweep(BIG_GRID), "sweep", "--config", "{cfg}", "--space", "{file}", "--dry-run"), 2,
         ["1,000,000,000 points", "the limit is 100,000"]),
    # --- tracebacks before
    Case("variant-9.9", CHECK, 2, ["model.variant", "'9.9' is not valid for squeezenet", "valid: 1.0, 1.1"],
         _edit('variant: "1.1"', 'variant: "9.9"')),
    Case("dropout-1.5", CHECK, 2, ["model.dropout", "[0, 1)"], _edit("pool_size: 2", "pool_size: 2, dropout: 1.5")),
    Case("input-shape-len4", CHECK, 2, ["model.input_shape", "[height, width, channels]"], _edit("[16, 16, 3]", "[16, 16, 3, 1]")),
    Case("input-shape-len1", CHECK, 2, ["model.input_shape", "[height, width, channels]"], _edit("[16, 16, 3]", "[16]")),
    Case("input-shape-4x4", CHECK, 2, ["cannot be built", "negative dimension"], _edit("[16, 16, 3]", "[4, 4, 3]")),
    Case("input-shape-huge", CHECK, 2, ["model.input_shape", "too large", "limit is 1024"], _edit("[16, 16, 3]", "[100000, 100000, 3]")),
    Case("config-binary", CHECK, 2, ["not a text config file", "utf-8"], lambda tmp: bytes(range(256)).decode("latin-1")),
    Case("precision-width-99999", CHECK, 2, ["input_precision", "width 99999", "1..64"],
         _edit("reuse_factor: 16}", 'reuse_factor: 16, input_precision: "ap_fixed<99999,3>"}')),
    Case("layer-precision-width-0", CHECK, 2, ["precision.result", "width 0"],
         _edit("reuse_factor: 16}", "reuse_factor: 16, layers: {conv1: {precision: {result: 'fixed<0,0>'}}}}")),
    Case("data-truncated-jpeg", HLS, 2, ["1.jpg", "not a readable image"], _data_config(_truncated_jpeg)),
    Case("data-too-few-class-folders", HLS, 2, ["2 class folder(s)", "model.classes is 10"], _data_config(_few_classes)),
    Case("npz-garbage", HLS, 2, ["data.npz", "not a readable .npz"], _data_config(_raw_file(os.urandom(300)))),
    Case("npz-pickled", HLS, 2, ["data.npz", "refused", "plain numeric arrays"], _data_config(_pickled_npz)),
    Case("npz-pickle-file", HLS, 2, ["data.npz"], _data_config(_raw_file(pickle.dumps({"x_train": [1]})))),
    Case("npz-wrong-shape", HLS, 2, ["x_train has shape (20, 768)"], _data_config(_npz(x_train=np.zeros((20, 768), np.uint8)))),
    Case("npz-empty", HLS, 2, ["x_test is empty"], _data_config(_npz(x_test=np.zeros((0, 16, 16, 3), np.uint8), y_test=np.zeros(0, int)))),
    Case("npz-length-mismatch", HLS, 2, ["y_train has shape (7,)", "20 images"], _data_config(_npz(y_train=np.arange(7)))),
    Case("npz-nan-labels", HLS, 2, ["y_train", "non-finite"], _data_config(_npz(y_train=np.full(20, np.nan)))),
    Case("npz-negative-labels", HLS, 2, ["y_test", "negative labels"], _data_config(_npz(y_test=-np.arange(10)))),
    Case("npz-too-many-classes", HLS, 2, ["labels go up to 9", "model.classes is 3"], _data_config(_npz(), classes=3)),
    Case("npz-nan-pixels", HLS, 2, ["x_train", "nan/inf pixels"],
         _data_config(_npz(x_train=np.full((20, 16, 16, 3), np.nan, np.float32)))),
    Case("npz-missing-arrays", HLS, 2, ["missing arrays", "y_test"], _data_config(_npz(y_test=None))),
    Case("report-out-is-file", _cmd("report", "--hls-dir", str(SYNTH_FIX), "--out", "{cfg}"), 2, ["--out", "existing file"]),
    Case("estimate-out-is-file", _cmd("estimate", "--config", "{cfg}", "--out", "{cfg}"), 2, ["--out", "existing file"]),
    Case("estimate-keras-lambda-out-ok", _with(_lambda_model(".h5"), "estimate", "--keras", "{file}"), 2, ["refused"]),
    Case("synth-timeout-negative", _cmd("synth", "--config", "{cfg}", "--timeout", "-5"), 2, ["--timeout", "finite number > 0"]),
    Case("synth-timeout-nan", _cmd("synth", "--config", "{cfg}", "--timeout", "nan"), 2, ["--timeout", "finite number > 0"]),
    Case("bitstream-timeout-inf", _cmd("bitstream", "--config", "{cfg}", "--timeout", "inf"), 2, ["--timeout"]),
    Case("build-folder-not-writable", HLS, 2, ["cannot write the build folder"], env={"HWFLOW_BUILD_DIR": "{tmp}/a-file/build"}),
    # --- accepted before (exit 0)
    Case("estimate-reuse-0", _with(_raw_file(b"", "m.h5"), "estimate", "--keras", "{file}", "--reuse-factor", "0"), 2,
         ["--reuse-factor", ">= 1"]),
    Case("estimate-reuse-neg", _with(_raw_file(b"", "m.h5"), "estimate", "--keras", "{file}", "--reuse-factor", "-7"), 2,
         ["--reuse-factor", ">= 1"]),
    Case("csim-workers-0", _cmd("csim", "--config", "{cfg}", "--workers", "0"), 2, ["--workers", "1..256"]),
    Case("csim-workers-neg", _cmd("csim", "--config", "{cfg}", "--workers", "-3"), 2, ["--workers"]),
    Case("sweep-workers-0", _with(_sweep("space: {reuse_factor: [8, 16]}\n"), "sweep", "--config", "{cfg}", "--space", "{file}",
                                  "--workers", "0"), 2, ["--workers"]),
    Case("csim-images-0", _cmd("csim", "--config", "{cfg}", "--images", "0"), 2, ["--images", ">= 1"]),
    Case("hls-images-neg", _cmd("hls", "--config", "{cfg}", "--images", "-5"), 2, ["--images", ">= 1"]),
    Case("width-0.0", CHECK, 2, ["model.width", "> 0"], _edit("width: 0.25", "width: 0.0")),
    Case("sweep-clock-nan", _with(_sweep("space: {clock_period_ns: [.nan]}\n"), "sweep", "--config", "{cfg}", "--space",
                                  "{file}", "--dry-run"), 2, ["clock_period_ns"]),
    Case("sweep-duplicate-key", _with(_sweep("depth: estimate\ndepth: csim\nspace: {reuse_factor: [8]}\n"), "sweep", "--config",
                                      "{cfg}", "--space", "{file}", "--dry-run"), 2, ["duplicate key 'depth'"]),
    # --- reports that cannot be read
    Case("report-vivado-random-bytes", _with(_report_copy(_random_vivado), "report", "--hls-dir", "{file}", "--out", "{tmp}/r"), 6,
         ["vivado_synth.rpt", "not a vivado report_utilization report"]),
    Case("report-csynth-nan", _with(_report_copy(_nan_csynth), "report", "--hls-dir", "{file}", "--out", "{tmp}/r"), 6,
         ["myproject_csynth.xml", "not a finite number"]),
]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """hwflow.cli.main in-process; an escaping exception is recorded as a traceback (and fails the case)."""
    import traceback

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    except BaseException:  # noqa: BLE001
        code = -1
        print(traceback.format_exc(), file=sys.stderr)
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path, monkeypatch, capsys):
    build = tmp_path / "build"
    (build / "cache").mkdir(parents=True)
    (build / "cache" / "keep.txt").write_text("a file from an earlier run\n")
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(build))
    (tmp_path / "a-file").write_text("not a folder\n")
    for k, v in case.env.items():
        monkeypatch.setenv(k, v.replace("{tmp}", str(tmp_path)))
    text = case.config(tmp_path) if callable(case.config) else case.config
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text, encoding="latin-1" if case.id == "config-binary" else "utf-8")
    argv = case.argv(tmp_path, cfg)
    before = snapshot(build)
    code, out = run_cli(argv, capsys)
    assert "Traceback" not in out, out
    assert code == case.code, out
    low = out.lower()
    for w in case.words:
        assert w.lower() in low, f"{w!r} not in {out!r}"
    errors = [l for l in out.splitlines() if "error:" in l]
    assert len(errors) == 1, out  # one line
    assert snapshot(build) == before
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


# ---------------------------------------------------------------------------- partly readable reports


def test_truncated_vivado_report_warns_and_fit_is_unknown(tmp_path, capsys):
    def cut(d: Path) -> None:
        f = d / "vivado_synth.rpt"
        lines = f.read_text().splitlines(keepends=True)
        k = next(i for i, l in enumerate(lines) if l.startswith("| Slice LUTs"))
        f.write_text("".join(lines[: k + 1]))

    prj = _report_copy(cut)(tmp_path)
    code, out = run_cli(["report", "--hls-dir", str(prj), "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "Traceback" not in out
    assert "warning:" in out and "no FF, DSP, BRAM row" in out
    from hwflow.reports import parse_project

    r = parse_project(prj)
    v = r.vivado[0]
    assert v.lut == 47682 and v.ff is None and v.dsp is None and v.bram_tiles_36k is None  # the numbers read
    viv_fit = next(f for f in r.fits if f.stage.startswith("Vivado"))
    assert viv_fit.fits is None and viv_fit.unknown == ["FF", "DSP", "BRAM_18K"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert "unknown (FF, DSP, BRAM_18K not read)" in md and "truncated report?" in md


@pytest.mark.parametrize("below", ["myproject_prj", "myproject_prj/solution1"])
def test_hls_dir_below_the_project_finds_reports(below, tmp_path, capsys):
    code, out = run_cli(["report", "--hls-dir", str(SYNTH_FIX / below), "--out", str(tmp_path / "r")], capsys)
    assert code == 0, out
    assert "myproject: latency 5 cycles" in out and "LUT 29277" in out


def test_io_pins_in_fit_verdict():
    from hwflow.reports import parse_project

    r = parse_project(REPORTS / "lfads_1")  # 3,678 bonded IOBs on a 416-pin device
    f = r.fits[0]
    iob = next(x for x in f.rows if x.resource == "IOB")
    assert (iob.used, iob.available) == (3678, 416) and iob.over
    assert f.fits is False and f.binding.resource == "DSP"  # the fabric binding resource stays named


def test_latency_labelled_at_the_clock_the_tool_used(tmp_path):
    from hwflow.reports import parse_project
    from hwflow.reports.render import render_markdown

    r = parse_project(REPORTS / "mlfpga_2")  # target 5 ns, estimated 58.496 ns, 910 cycles
    assert r.top.clock_estimated_ns > r.top.clock_target_ns
    # the tool's own 53.231 us = 910 cycles x 58.496 ns: computed at the estimated clock, not at 5 ns
    assert r.top.reported_latency_worst_s == pytest.approx(910 * 58.496e-9, rel=1e-4)
    md = render_markdown(r, r.fits)
    assert "at the estimated clock, as the tool reports it" in md and "at the target clock, as the tool" not in md


# ---------------------------------------------------------------------------- YAML loader details


def test_yaml_loader_keeps_safe_load_semantics(tmp_path):
    import yaml

    from hwflow.guard import load_yaml_text

    text = "base: &b {x: 1, y: [1, 2]}\nother:\n  <<: *b\n  x: 2\nlist: [*b, *b]\nd: 2024-01-01\nf: 1e3\n"
    assert load_yaml_text(text, "t") == yaml.safe_load(text)
    with pytest.raises(Exception, match="could not determine a constructor|not valid YAML"):
        load_yaml_text("a: !!python/object/apply:os.system ['echo']\n", "t")


# ---------------------------------------------------------------------------- lock, orphans, kept-after-failure


def test_busy_build_folder(tmp_path, monkeypatch, capsys):
    """A second `hwflow hls` on a config whose build folder another process holds: one line, exit 2."""
    build = tmp_path / "build"
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(build))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(BASE)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from hwflow.guard import build_lock\n"
        f"with build_lock(Path({str(build / 'cfg')!r}), 'hls'):\n    print('held', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(build)
        code, out = run_cli(["hls", "--config", str(cfg), "--no-csim"], capsys)
        assert code == 2 and "busy" in out and f"pid {holder.pid}" in out and "Traceback" not in out
        assert snapshot(build) == before
    finally:
        holder.kill()
        holder.wait()


def test_nan_training_is_not_cached(tmp_path, monkeypatch, capsys):
    """Diverged training (NaN weights) is an error, and nothing of it lands in build/."""
    import hwflow.train as train

    build = tmp_path / "build"
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(build))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(_edit("epochs: 0, qat_epochs: 0", "epochs: 1, qat_epochs: 0"))

    def nan_fit(model, *a, **k):
        model.set_weights([np.full(w.shape, np.nan, np.float32) for w in model.get_weights()])

    monkeypatch.setattr(train, "_fit", nan_fit)
    code, out = run_cli(["hls", "--config", str(cfg), "--no-csim"], capsys)
    assert code == 2 and "diverged" in out and "nothing was cached" in out, out
    assert not [p for p in build.rglob("*") if p.is_file() and p.name != ".lock"]


@pytest.mark.slow
def test_orphans_cleaned_and_concurrent_runs(tmp_path, monkeypatch):
    """A killed conversion's .hls-* and a killed save's model/.<key>-* are removed by the next run;
    two concurrent `hwflow hls` on one config: one builds, the other says busy; the project is whole."""
    build = tmp_path / "build"
    env = {**os.environ, "HWFLOW_BUILD_DIR": str(build), "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(BASE)
    (build / "cfg" / ".hls-orphan" / "firmware").mkdir(parents=True)
    (build / "cfg" / "model" / ".abc-orphan").mkdir(parents=True)
    cmd = [sys.executable, "-m", "hwflow.cli", "hls", "--config", str(cfg), "--no-csim"]
    a = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    deadline = time.time() + 60
    while not (build / "cfg" / ".lock").exists() and time.time() < deadline:
        time.sleep(0.2)
    b = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    out_a, _ = a.communicate(timeout=300)
    assert a.returncode == 0, out_a
    assert b.returncode == 2 and "busy" in b.stderr and "Traceback" not in b.stderr + b.stdout
    assert not (build / "cfg" / ".hls-orphan").exists() and not (build / "cfg" / "model" / ".abc-orphan").exists()
    assert (build / "cfg" / "hls" / "project.tcl").is_file() and (build / "cfg" / "hls" / "hwflow_layers.json").is_file()
    # a SIGKILL during conversion, then a clean rerun
    k = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((build / "cfg").glob(".hls-*")) and k.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    k.kill()
    k.wait()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not list((build / "cfg").glob(".hls-*")) and (build / "cfg" / "hls" / "project.tcl").is_file()


def test_catalogue_counts():
    """The numbers the README's reliability section quotes (kept in step with CASES)."""
    clean = [c for c in CASES if c.code != 0]
    assert len(CASES) == len(clean) == 55  # the other 16 of the README's 71 are named tests here


def test_qkeras_model_in_keras_format_loads(tmp_path):
    """The .keras file hls4ml writes into a project (QActivation with a quantizer) loads, checked first."""
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    from hwflow.modelfile import load_model_file

    inp = tf.keras.Input((6,))
    x = QDense(4, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1))(inp)
    out = QActivation(quantized_relu(6, 2))(x)
    m = tf.keras.Model(inp, out)
    m.save(tmp_path / "q.keras")
    back = load_model_file(tmp_path / "q.keras")
    x = np.random.default_rng(0).uniform(-1, 1, (8, 6)).astype(np.float32)
    assert np.array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))


def test_csim_that_never_returns_is_stopped(tmp_path, monkeypatch):
    """A C-sim library whose top never returns: stopped at the time limit, one CsimError, no orphans."""
    import json
    import tempfile

    from hwflow.errors import CsimError
    from hwflow.sim import csim

    src = tmp_path / "loop.c"
    src.write_text("void myproject_double(double *in, double *out) { for (;;) {} }\n")
    lib = tmp_path / "libloop.so"
    subprocess.run(["gcc", "-O0", "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    prj = tmp_path / "hls"
    (prj / "firmware").mkdir(parents=True)
    (prj / LAYERS_FILE).write_text(json.dumps({"project": "myproject", "input_size": 4, "output_size": 2,
                                                      "layers": []}))
    monkeypatch.setenv("HWFLOW_CSIM_TIMEOUT_S", "2")
    t0 = time.monotonic()
    with pytest.raises(CsimError, match="did not finish within 2 s"):
        csim.run(prj, csim.CsimLib(lib, "loop", 0.0, False), np.zeros((3, 4)), workers=1, progress=False)
    assert time.monotonic() - t0 < 20
    assert not [d for d in Path(tempfile.gettempdir()).glob(f"hwflow-csim-{os.getpid()}-*")]


def test_sweep_with_failed_points_exits_non_zero(tmp_path, monkeypatch, capsys):
    """A point hls4ml would change (invalid per-layer reuse factor) fails; the run keeps the others and exits 2."""
    import hwflow.sweep as sweep

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(BASE)
    space = _sweep("space: {reuse_factor: [8, 16]}\n")(tmp_path)
    fake = type("R", (), {"total": 2, "ran": 2, "skipped": 0, "failed": 1, "points_per_s": 1.0, "workers": 1,
                          "csv": tmp_path / "results.csv", "parquet": None, "pareto_png": None, "best_config": None,
                          "summary_md": None,
                          "errors": {"k": "ConfigError: layers.conv1.reuse_factor: 7 is invalid for n_in=27"}})()
    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **k: fake)
    code, out = run_cli(["sweep", "--config", str(cfg), "--space", str(space), "--out", str(tmp_path / "s")], capsys)
    assert code == 2 and "1 of 2 points failed" in out and "7 is invalid" in out and "Traceback" not in out


# ---------------------------------------------------------------------------- per-layer table (issue 17)

EARLY = REPORTS / "hls4mlearly_1"  # real Vivado HLS 2016.4 project: old module names, no configN
_RPT = Path("myproject_prj") / "solution1" / "syn" / "report"


def _galapagos_wrapper(tmp: Path) -> Path:
    """hls4mlearly_1 with a `myproject_galapagos` top around `myproject`, as a Galapagos shell
    writes it: the wrapper's reports are the core's with the top renamed and one Instance row."""
    d = tmp / "prj"
    shutil.copytree(EARLY, d)
    rep = d / _RPT
    xml = (rep / "myproject_csynth.xml").read_text()
    (rep / "myproject_galapagos_csynth.xml").write_text(
        xml.replace("<TopModelName>myproject</TopModelName>", "<TopModelName>myproject_galapagos</TopModelName>"))
    out, kept = [], set()
    for line in (rep / "myproject_csynth.rpt").read_text().splitlines():
        line = line.replace("Report for 'myproject'", "Report for 'myproject_galapagos'")
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1].startswith(("grp_", "call_ret")):  # an Instance row
            table = "lat" if "function" in line else "res"
            if table in kept:
                continue
            kept.add(table)
            line = line.replace(cells[1], "grp_myproject_fu_20", 1).replace(cells[2], "myproject", 1)
        out.append(line)
    (rep / "myproject_galapagos_csynth.rpt").write_text("\n".join(out) + "\n")
    return d


def test_wrapper_top_keeps_the_per_layer_table(tmp_path, capsys):
    """A wrapper top with old module names (no configN) must not collapse the table to one row."""
    from hwflow.reports import parse_project

    prj = _galapagos_wrapper(tmp_path)
    r = parse_project(prj)
    assert r.top.module == "myproject_galapagos"
    layers = [l for l in r.layers if l.is_layer]
    assert [l.module for l in layers] == ["compute_layer_0_0_0_s", "compute_layer_0_0_0_1", "relu", "sigmoid"]
    assert all(l.parent == "myproject" for l in layers)
    assert [l.resources.dsp for l in layers] == [84, 16, 0, 0]  # the real rpt's Instance rows
    code, out = run_cli(["report", "--hls-dir", str(prj), "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "Traceback" not in out, out
    md = (tmp_path / "r" / "report.md").read_text()
    assert "| compute_layer | compute_layer |" in md and "| sigmoid | sigmoid |" in md


def test_reuse_factor_from_hls4ml_config_only(tmp_path, capsys):
    """No firmware/parameters.h: the RF column comes from hls4ml_config.yml (its !keras_model tag
    read as text by the bounded loader); per-layer entries win over the model-wide value."""
    from hwflow.reports import parse_project

    r = parse_project(REPORTS / "dnnonsilicon_3")  # real config: Model ReuseFactor 16, no LayerName
    assert not (REPORTS / "dnnonsilicon_3" / "firmware").exists()
    assert {l.reuse_factor for l in r.layers if l.is_layer} == {16}
    code, out = run_cli(["report", "--hls-dir", str(REPORTS / "dnnonsilicon_3"), "--out", str(tmp_path / "r")], capsys)
    assert code == 0, out
    assert "| layer2 | conv_2d_cl | 2 | 16 |" in (tmp_path / "r" / "report.md").read_text()

    prj = tmp_path / "prj"  # per-layer entries, mapped through the firmware's layer names
    shutil.copytree(REPORTS / "dnnonsilicon_3", prj)
    (prj / "firmware").mkdir()
    (prj / "firmware" / "myproject.cpp").write_text(
        "    nnet::conv_2d_cl<input_t, layer2_t, config2>(a, b, w2, b2); // conv1\n"
        "    nnet::relu<layer2_t, layer3_t, relu_config3>(b, c); // relu1\n")
    cfg = (prj / "hls4ml_config.yml").read_text()
    (prj / "hls4ml_config.yml").write_text(cfg.replace("HLSConfig:\n", "HLSConfig:\n  LayerName:\n"
                                                       "    conv1: {ReuseFactor: 9}\n", 1))
    by = {l.config_index: l.reuse_factor for l in parse_project(prj).layers if l.is_layer}
    assert (by[2], by[3]) == (9, 16)
    (prj / "hls4ml_config.yml").write_text(cfg.replace("ReuseFactor: 16", "ReuseFactor: -4"))
    code, out = run_cli(["report", "--hls-dir", str(prj), "--out", str(tmp_path / "r2")], capsys)
    assert code == 6 and "Traceback" not in out and "hls4ml_config.yml" in out and "ReuseFactor -4" in out, out


def test_layers_in_execution_order(tmp_path):
    """Vitis aggregate hierarchy: hls4ml's inserted zero-padding (config8) runs first and is listed
    first; firmware/<project>.cpp call order wins over everything; Vivado HLS .rpt tables only
    (their order is not the call order) fall back to the config index, and say so."""
    from hwflow.reports import parse_project

    r = parse_project(REPORTS / "ece226_1")
    assert [l.config_index for l in r.layers if l.is_layer] == [8, 2, 4, 5, 6, 7]

    prj = tmp_path / "prj"
    shutil.copytree(REPORTS / "dnnonsilicon_3", prj)
    r = parse_project(prj)
    assert [l.config_index for l in r.layers if l.is_layer] == [2, 3, 4, 5, 6, 7, 9, 10]
    assert any("listed by hls4ml config index" in n for n in r.notes)
    (prj / "firmware").mkdir()  # a (made-up) call order unlike the index order
    calls = [(5, "conv_2d_cl", "config5"), (6, "relu", "relu_config6"), (2, "conv_2d_cl", "config2")]
    (prj / "firmware" / "myproject.cpp").write_text("".join(
        f"    nnet::{f}<a_t, b_t, {c}>(x, y); // l{i}\n" for i, f, c in calls))
    r = parse_project(prj)
    assert [l.config_index for l in r.layers if l.is_layer][:3] == [5, 6, 2]
    assert not any("listed by hls4ml config index" in n for n in r.notes)


# ---------------------------------------------------------------------------- C-sim segfault (issue 17)

# A stand-in for a generated project whose C-sim segfaults in one layer: the layer functions use
# hls4ml's own nnet::save_layer_output (its nnet_helpers.h, the bridge's trace globals), as the
# generated firmware does after every traced layer; the 'head' layer dereferences a null pointer.
_SEGV_CPP = r"""
#include <cassert>
#include "nnet_utils/nnet_helpers.h"
namespace nnet { bool trace_enabled = false; std::map<std::string, void *> *trace_outputs = NULL;
                 size_t trace_type_size = sizeof(double); }
static void conv(const double *x, double *y) { for (int i = 0; i < 4; i++) y[i] = 2 * x[i]; }
static void head(const double *x, double *y) {
    volatile double *bad = x[0] > 0.5 ? (double *)0 : y;  // only images with x[0] > 0.5 crash
    for (int i = 0; i < 4; i++) bad[i] = x[i] + 1;
}
extern "C" void myproject_double(double *in, double *out) {
    double a[4], b[4];
    conv(in, a);
    nnet::save_layer_output<double>(a, "conv", 4);
    head(a, b);
    nnet::save_layer_output<double>(b, "head", 4);
    for (int i = 0; i < 4; i++) out[i] = b[i];
    nnet::save_layer_output<double>(out, "out_relu", 4);
}
"""


def _segv_project(tmp_path):
    import json
    import subprocess

    import hls4ml

    from hwflow.sim import csim

    tpl = Path(hls4ml.__file__).parent / "templates" / "vivado"
    prj = tmp_path / "segv"
    (prj / "firmware").mkdir(parents=True)
    (prj / "stand_in.cpp").write_text(_SEGV_CPP)
    so = prj / "stand_in.so"
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-std=c++14", f"-I{tpl}", f"-I{tpl / 'ap_types'}",
                    str(prj / "stand_in.cpp"), "-o", str(so)], check=True, timeout=120)
    layers = [{"name": n, "class_name": c, "shape": [4], "traced": True}
              for n, c in (("conv", "QConv2D"), ("head", "QConv2D"), ("out_relu", "QActivation"))]
    (prj / LAYERS_FILE).write_text(json.dumps({"project": "myproject", "input_size": 4, "output_size": 4,
                                                   "layers": layers, "config_index": {}}))
    return prj, csim.CsimLib(so, "stand-in", 0.0, False)


def test_segfault_names_the_layer(tmp_path):
    from hwflow.errors import CsimError
    from hwflow.sim import csim

    prj, lib = _segv_project(tmp_path)
    x = np.zeros((6, 4))
    ok = csim.run(prj, lib, x, workers=1, progress=False)  # the same library runs fine on safe images
    assert np.array_equal(ok.outputs, np.ones((6, 4)))
    x[4, 0] = 0.3  # doubled by conv: 0.6 > 0.5, so image 4 crashes in head
    with pytest.raises(CsimError) as exc:
        csim.run(prj, lib, x, workers=2, progress=False)
    msg = str(exc.value)
    assert "aborted (signal SIGSEGV) in layer 'head' (QConv2D; the last layer that completed was 'conv'" in msg, msg
    assert "on image 4" in msg
    assert not list((prj / "firmware").rglob("*.log"))  # trace files go to a temporary folder
