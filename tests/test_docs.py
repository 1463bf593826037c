"""The documentation cannot drift: the README's flagship block is the results file, the config
reference lists every key of the typed config, and `mkdocs build --strict` passes (a broken link, a
missing include or a page outside the nav fails it).

The strict build takes a few seconds (no TensorFlow: mkdocstrings reads the sources statically).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import fields

import pytest
import yaml

from benchmarks import flagship_table
from hwflow import config as C
from hwflow import tools, zoo
from hwflow.config_reference import NOT_KEYS, TABLES, default_text, key_fields, model_rows, reference_markdown, type_text
from hwflow.errors import ConfigError
from hwflow.paths import REPO_ROOT


def test_readme_flagship_block_is_the_results_file():
    """README.md and the docs show benchmarks/results/flagship.md, which the script writes from the
    results JSON files: regenerate with `python -m benchmarks.flagship_table`."""
    table = flagship_table.render()
    assert flagship_table.OUT.read_text() == table
    assert flagship_table.readme_block((REPO_ROOT / "README.md").read_text()) == table
    assert flagship_table.PARITY_MD.read_text() == flagship_table.render_parity()
    assert flagship_table.main(["--check"]) == 0


def test_flagship_rows_are_labelled_and_known():
    table = flagship_table.render()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(flagship_table.FLAGSHIP)
    for (fitted, _), row in zip(flagship_table.FLAGSHIP, rows):
        assert row.startswith(f"| `{fitted}` |")
        assert row.count("*est.*") + row.count("*meas.*") >= 2, row  # images/s and utilisation labelled
        assert (REPO_ROOT / "hls_configs" / f"{fitted}.yaml").is_file()


def test_record_keeps_an_earlier_training_of_the_same_config(tmp_path, monkeypatch):
    """--record replaces a config's entry with the new run's figures and keeps the entry of another training
    (other figures or schedule) under `earlier`; recording the same run again changes nothing."""
    import json

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "net.yaml").write_text(
        "data: {source: ../../shared/data/cifar10-jpg}\ntrain: {epochs: 45, qat_epochs: 4, "
        "restarts: [{epochs: 50, learning_rate: 0.003}]}\n")
    parity = tmp_path / "parity_fitted.json"
    parity.write_text(json.dumps({"net": {"dataset": "CIFAR-10", "images": 2000, "float": 0.806, "qkeras": 0.8095,
                                          "firmware": 0.8095, "bit_exact": True, "training": "45 + 4 QAT epochs; 8-bit activations, 3 integer bits",
                                          "commit": "0a3dad2"}}))
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "parity.json").write_text(json.dumps({"n_images": 2000, "float_accuracy": 0.82, "qkeras_accuracy": 0.825,
                                                     "csim_accuracy": 0.825, "bit_exact_share": 1.0}))
    (reports / "training.json").write_text(json.dumps({"trained": {"float": {"epochs": 48, "seconds": 1600.0},
                                                                    "qat": {"epochs": 4, "seconds": 170.0}}}))
    monkeypatch.setattr(flagship_table, "CONFIGS", tmp_path / "configs")
    monkeypatch.setattr(flagship_table, "PARITY", parity)
    flagship_table.record("net", reports)
    entry = json.loads(parity.read_text())["net"]
    assert (entry["firmware"], entry["training"], entry["dataset"]) == (0.825, "45 + 50 + 4 QAT epochs; 8-bit activations, 3 integer bits", "CIFAR-10")
    assert (entry["float_epoch_seconds"], entry["timed_epochs"]) == (33.3, 48)  # the float epochs the run trained
    assert [(e["firmware"], e["training"], e["commit"]) for e in entry["earlier"]] == [(0.8095, "45 + 4 QAT epochs; 8-bit activations, 3 integer bits", "0a3dad2")]
    flagship_table.record("net", reports)  # the same run again: no second earlier entry
    assert len(json.loads(parity.read_text())["net"]["earlier"]) == 1
    table = flagship_table.render_parity()
    assert "| `net` | CIFAR-10, 2,000 | 82.00% | 82.50% | 82.50% | yes |" in table
    assert "| `net` (earlier: 45 + 4 QAT epochs; 8-bit activations, 3 integer bits) | CIFAR-10, 2,000 | 80.60% | 80.95% | 80.95% | yes | 0a3dad2 |" in table

    # the earlier training measured again (its shipped weights, nothing trained): it replaces its old entry
    (tmp_path / "configs" / "net.yaml").write_text("data: {source: ../../shared/data/cifar10-jpg}\n"
                                                   "train: {epochs: 45, qat_epochs: 4}\n")
    (reports / "parity.json").write_text(json.dumps({"n_images": 2000, "float_accuracy": 0.806, "qkeras_accuracy": 0.8095,
                                                     "csim_accuracy": 0.8095, "bit_exact_share": 1.0}))
    (reports / "training.json").write_text(json.dumps({"trained": {"float": None, "qat": None}}))
    flagship_table.record("net", reports)
    entry = json.loads(parity.read_text())["net"]
    assert (entry["firmware"], entry["training"], "float_epoch_seconds" in entry) == (0.8095, "45 + 4 QAT epochs; 8-bit activations, 3 integer bits", False)
    assert [(e["firmware"], e["training"]) for e in entry["earlier"]] == [(0.825, "45 + 50 + 4 QAT epochs; 8-bit activations, 3 integer bits")]


def test_the_training_curve_is_extrapolated_from_the_recorded_trainings():
    """cifar10_pynq's projection: float epochs read from the schedule text, a line of top-1 against log2(epochs)
    through the flagship's trainings, the epochs where it crosses 85%; none with fewer than three trainings."""
    from benchmarks import cifar10_pynq as c

    assert c.float_epochs("45 + 50 + 15 + 4 QAT epochs") == 110 and c.float_epochs("10 + 3 QAT epochs") == 10

    def row(training, top1, config=c.FLAGSHIP):
        return {"config": config, "measured": {"training": training, "firmware": top1, "images": 2000}}

    # +2 points per doubling from 80% at 40 epochs: 85% at 40 * 2**2.5 = 226.3 epochs
    rows = [row("40 + 4 QAT epochs", 0.80), row("40 + 40 + 4 QAT epochs", 0.82), row("40 + 120 + 4 QAT epochs", 0.84),
            row("40 + 4 QAT epochs", 0.70, "another"), {"config": c.FLAGSHIP, "measured": None}]
    proj = c.projection(rows)
    assert [p["float_epochs"] for p in proj["points"]] == [40, 80, 160]
    assert abs(proj["per_doubling"] - 0.02) < 1e-9 and proj["epochs_for_bar"] == 227
    text = c.render([], [], "pynq-z2", proj)
    assert "at about **227 float epochs** (*extrapolated*" in text and "67 float epochs more than" in text
    assert "hours" not in text  # no training on record was timed: no cost in hours
    rows[1]["measured"]["float_epoch_seconds"] = 36.0  # 67 more epochs at 36 s: 0.67 h; 227 at 36 s: 2.27 h
    proj = c.projection(rows)
    assert proj["float_epoch_seconds"] == 36.0
    assert "about 0.7 more hours, or 2.3 hours for the whole float schedule" in c.render([], [], "pynq-z2", proj)
    rows[2]["measured"]["firmware"] = 0.851  # a training reached the bar: measured, no extrapolation
    text = c.render([], [], "pynq-z2", c.projection(rows))
    assert "85.00% *measured* at 160 float epochs" in text and "hours" not in text
    assert c.projection(rows[:2]) is None
    falling = [row("40 + 4 QAT epochs", 0.84), row("80 + 4 QAT epochs", 0.82), row("160 + 4 QAT epochs", 0.80)]
    assert c.projection(falling)["epochs_for_bar"] is None
    # the longest training below a shorter one: saturated, said so beside the line (SE of 83% on 2,000: 0.84 points)
    flat = [row("40 + 4 QAT epochs", 0.80), row("80 + 4 QAT epochs", 0.83), row("160 + 4 QAT epochs", 0.825)]
    proj = c.projection(flat)
    assert proj["saturated"] and proj["best"] == {"float_epochs": 80, "firmware": 0.83}
    text = c.render([], [], "pynq-z2", proj)
    assert "measured 82.50%, below the 83.00% of the 80-epoch one (0.84 points is one standard error" in text
    assert "no route to the bar" in text and not c.projection(rows[:3])["saturated"]
    # another recipe (a change of optimizer, not a longer schedule) is left off the curve of the most-trained one
    assert c.float_epochs("120 + 4 QAT epochs, SGD, weight decay 0.005") == 120
    assert c.recipe("120 + 4 QAT epochs, SGD, weight decay 0.005") == "SGD, weight decay 0.005"
    proj = c.projection([*flat, row("120 + 4 QAT epochs, SGD, weight decay 0.005", 0.86)])
    assert proj["recipe"] == "Adam" and [p["float_epochs"] for p in proj["points"]] == [40, 80, 160]
    assert proj["other_recipes"] == [{"float_epochs": 120, "firmware": 0.86, "recipe": "SGD, weight decay 0.005"}]
    text = c.render([], [], "pynq-z2", proj)
    assert "(Adam; each training" in text
    assert "Off this line (another recipe, not a longer schedule), *measured*: 120 float epochs with SGD, weight decay 0.005: 86.00%." in text
    # the activations' quantization is part of the recipe (flagship_table.training_text states it)
    from benchmarks.flagship_table import quantization_text, training_text

    assert c.recipe("45 + 4 QAT epochs; 6-bit activations, 3 integer bits") == "Adam; 6-bit activations, 3 integer bits"
    auto = "120 + 4 QAT epochs, SGD, weight decay 0.005; 6-bit activations, integer bits calibrated per layer"
    assert c.recipe(auto) == "SGD, weight decay 0.005; 6-bit activations, integer bits calibrated per layer"
    assert c.float_epochs(auto) == 120
    raw = {"train": {"epochs": 120, "qat_epochs": 4, "optimizer": "sgd", "weight_decay": 0.005},
           "quantization": {"default": {"activation": 6, "activation_integer": "auto"}}}
    assert training_text(raw) == auto
    assert quantization_text({}) == "8-bit activations, 3 integer bits"  # the defaults
    assert quantization_text({"quantization": {"default": {"activation": "quantized_relu(6,1)"},
                                               "layers": {"conv1": {"weight": 4}}}}) == \
        "6-bit activations, 1 integer bit + per-layer overrides"


def test_readme_is_short_and_its_links_resolve():
    text = (REPO_ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links
    missing = [link for link in links if not link.startswith("http") and not (REPO_ROOT / link).is_file()]
    assert missing == []


def test_config_reference_lists_every_key_with_type_and_default():
    page = reference_markdown()
    for section, tables in TABLES.items():
        assert f"\n## {section}\n" in page
        block = page.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
        rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", block, flags=re.M)}
        for prefix, cls in tables:
            for f in key_fields(cls):
                if (section, f.name) in {("quantization", "default"), ("quantization", "layers"), ("hls", "layers")} \
                        and not prefix:
                    continue
                key = prefix + f.name
                assert key in rows, f"{section}.{key} missing from the config reference"
                cells = [c.strip() for c in rows[key].strip("|").split(" | ")]
                assert cells[1] == type_text(f).replace("|", "\\|") and cells[2] == default_text(f), (section, key)
    head, rows = model_rows()
    by_key = {r[0]: r for r in rows}
    for arch in zoo.list_models():
        col = head.index(arch)
        for name in zoo.params_of(arch):
            assert by_key[name][col] != "-", f"model.{name} of {arch} missing"
            assert f"| `{name}` |" in page
    assert set(C.SECTIONS) == set(TABLES) | {"model"}


def test_config_reference_hides_only_what_is_not_a_key(tmp_path):
    """The fields the reference leaves out are refused by the loader (they are not keys of the file)."""
    for section, cls in (("data", C.DataSection), ("train", C.TrainSection), ("prune", C.PruneSection)):
        for f in fields(cls):
            if f.name in NOT_KEYS:
                with pytest.raises(ConfigError, match="unknown key"):
                    C.config_from_dict({"model": {"arch": "squeezenet"}, section: {f.name: 1}}, tmp_path / "c.yaml")


def test_docs_build_is_strict_about_links_includes_and_pages():
    cfg = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())
    assert {"omitted_files", "absolute_links", "unrecognized_links", "anchors"} <= set(cfg["validation"])
    snippets = next(e["pymdownx.snippets"] for e in cfg["markdown_extensions"]
                    if isinstance(e, dict) and "pymdownx.snippets" in e)
    assert snippets["check_paths"] is True
    reliability = (REPO_ROOT / "docs" / "reliability.md")
    assert reliability.is_file()


def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO_ROOT)}
    site = tmp_path / "site"
    res = tools.capture([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                        cwd=REPO_ROOT, timeout_s=300, label="mkdocs build --strict", env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    config_page = (site / "config" / "index.html").read_text()
    assert "fifo_depth" in config_page and "activation_integer" in config_page  # the generated reference
    api = (site / "api" / "index.html").read_text()
    for name in ("hwflow.flow.run", "hwflow.config.load_config", "hwflow.estimate.estimate",
                 "hwflow.reports.parse_project", "hwflow.sim.emulate.emulate", "hwflow.fit.run_fit", "hwflow.reuse.fit"):
        assert f'id="{name}"' in api, name
    assert (site / "prune_cifar10.png").is_file()  # plots served from benchmarks/results/
    index = (site / "index.html").read_text()
    assert "squeezenet_cifar10_pynq" in index and "MLPerf Tiny v1.0" in index  # the flagship table included
    assert (site / "vivado_projection.png").is_file() and "hwflow.fit.fold" in api
