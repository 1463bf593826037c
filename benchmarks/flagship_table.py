"""The flagship table: README.md's one table of results and the docs' "Measured results" page.

    .venv/bin/python -m benchmarks.flagship_table            # writes benchmarks/results/flagship.md,
                                                             # parity_fitted.md and the README block
    .venv/bin/python -m benchmarks.flagship_table --check    # exit 1 if either is stale (what the test asserts)
    .venv/bin/python -m benchmarks.flagship_table --record squeezenet_tiny_pynq-z2 [--reports DIR]
                                                             # store build/<name>/reports/parity.json's top-1

Nothing in the table is typed by hand. Each row is one fitted config (`FLAGSHIP` below, the one
list to edit) and each figure comes from a results file:

- board figures (images/s, DSP / LUT / FF / BRAM_18K share of the board) from the file named in the
  row, by default `benchmarks/results/fit_shipped.json` (written by `benchmarks/fit_shipped.py`,
  *estimated* by hwflow.estimate). Any file of the same row shape works (a list of rows with
  `fitted_config`, `board`, `images_per_s`, `utilisation`); a row may say `"basis": "measured (...)"`
  (e.g. figures from Vivado reports), which the table then prints instead of "est.";
- top-1 from `benchmarks/results/parity_fitted.json`: per fitted config, float / QKeras / firmware
  top-1 on the test images and whether the firmware (the bit-exact emulator, checked by C-sim) matched
  QKeras bit for bit, as `hwflow hls --config hls_configs/<name>.yaml` measured it. `--record NAME`
  copies those numbers from that run's `parity.json` into the file.

To change the flagship rows: edit `FLAGSHIP`, `--record` the parity of a new row after its
`hwflow hls`, run this module, commit README.md and benchmarks/results/flagship.md + parity_fitted.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONFIGS = ROOT / "hls_configs"
README = ROOT / "README.md"
OUT = RESULTS / "flagship.md"
PARITY = RESULTS / "parity_fitted.json"
PARITY_MD = RESULTS / "parity_fitted.md"  # every entry of parity_fitted.json as a table (the docs show it)
BEGIN, END = "<!-- flagship:begin -->", "<!-- flagship:end -->"

# The flagship rows, in table order: (fitted config in hls_configs/, results file with its board figures).
FLAGSHIP = [
    ("squeezenet_cifar10_pynq", "fit_shipped.json"),  # the CIFAR-10 flagship on pynq-z2
    ("squeezenet", "fit_shipped.json"),  # the main job (make hls MODEL=squeezenet)
    ("squeezenet_tiny", "fit_shipped.json"),
]
# Published figures the flagship is compared with (quoted, with their source): references.json
REFERENCES = RESULTS / "references.json"

RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K")
DATASETS = {"default": "digits", "cifar10-jpg": "CIFAR-10"}  # data.source -> the name the table shows


def _label(basis: str) -> str:
    return "*meas.*" if basis.startswith("measured") else "*est.*"


def board_rows(name: str) -> dict[str, dict]:
    """Rows of a fit results file by fitted config name (the file's stem)."""
    rows = json.loads((RESULTS / name).read_text())
    return {Path(r["fitted_config"]).stem: r for r in rows if r.get("fitted_config")}


def network(fitted: str) -> str:
    """A short description of the fitted config's network and data, read from the config itself."""
    raw = yaml.safe_load((CONFIGS / f"{fitted}.yaml").read_text())
    m = raw["model"]
    parts = [m["arch"] + (f" {m['variant']}" if "variant" in m else "")]
    for key in ("width", "alpha"):
        if key in m:
            parts.append(f"{key} {m[key]}")
    if "depth" in m:
        parts.append(f"depth {m['depth']}")
    h, w, _ = m.get("input_shape", (224, 224, 3))
    parts.append(f"{h}x{w}")
    act = ((raw.get("quantization") or {}).get("default") or {}).get("activation", 8)
    if act != 8:
        parts.append(f"{act}-bit activations")
    return ", ".join(parts)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.2f}%"


def top1(entry: dict | None) -> tuple[str, str]:
    """(firmware top-1 cell, test set cell) from a parity_fitted.json entry."""
    if entry is None:
        return "not measured", "-"
    exact = "bit-exact" if entry.get("bit_exact") else "not bit-exact"
    n = entry["images"]
    test = f"{entry['dataset']}, {n:,} image{'' if n == 1 else 's'}, {exact}"
    if entry.get("firmware") is None:
        return f"- ({entry.get('note', 'no labels')})", test
    flt = f" (float {_pct(entry['float'])})" if entry.get("float") is not None else ""
    return f"{_pct(entry['firmware'])} *meas.*{flt}", test


def render() -> str:
    parity = json.loads(PARITY.read_text())
    sources: dict[str, dict[str, dict]] = {}
    lines = [
        "| design | network | board | images/s | DSP / LUT / FF / BRAM_18K (% of board) | firmware top-1 | test images |",
        "|---|---|---|--:|---|---|---|",
    ]
    for fitted, source in FLAGSHIP:
        rows = sources.setdefault(source, board_rows(source))
        if fitted not in rows:
            raise SystemExit(f"flagship_table: {fitted} is not in benchmarks/results/{source}")
        r = rows[fitted]
        label = _label(r.get("basis", "estimated"))
        util = " / ".join(f"{r['utilisation'][k]:.1f}" for k in RESOURCES)
        fw, test = top1(parity.get(fitted))
        lines.append(f"| `{fitted}` | {network(fitted)} | {r['board']} | {r['images_per_s']:,.0f} {label} "
                     f"| {util} {label} | {fw} | {test} |")
    for ref in json.loads(REFERENCES.read_text())["rows"]:
        lines.append(f"| {ref['design']} (reference) | {ref['network']} | {ref['board']} | {ref['images_per_s']:,.1f} "
                     f"*published* | - | {_pct(ref['top1'])} *published* | {ref['test']} |")
    files = ", ".join(f"`benchmarks/results/{s}`" for s in dict.fromkeys(s for _, s in FLAGSHIP))
    lines += [
        "",
        f"*est.* = estimated by `hwflow.estimate` at the Vivado level (what Vivado synthesis builds, projected "
        f"from the csynth-level estimate), as `make hls` folds the config for its board, no synthesis ({files}); "
        "*published* = measured on the board by its authors, quoted from `benchmarks/results/references.json`; "
        "*meas.* = measured: top-1 of the firmware (hls4ml's fixed-point model, bit-exact emulator checked "
        "by C-sim) on the test images (`benchmarks/results/parity_fitted.json`). "
        "Written by `python -m benchmarks.flagship_table`.",
    ]
    return "\n".join(lines) + "\n"


def render_parity() -> str:
    """Every fitted config's top-1 (parity_fitted.json) as a table."""
    entries = {k: v for k, v in json.loads(PARITY.read_text()).items() if not k.startswith("_")}
    lines = ["| fitted config | test images | float | QKeras | firmware | bit-exact | commit | note |",
             "|---|---|--:|--:|--:|---|---|---|"]
    for name, entry in entries.items():
        for i, e in enumerate([entry, *entry.get("earlier", [])]):
            label = f"`{name}`" + (f" (earlier: {e.get('training', 'another training')})" if i else "")
            note = "; ".join(x for x in (e.get("training") if not i else None, e.get("note")) if x)
            lines.append(f"| {label} | {e['dataset']}, {e['images']:,} | {_pct(e.get('float'))} | {_pct(e.get('qkeras'))} "
                         f"| {_pct(e.get('firmware'))} | {'yes' if e.get('bit_exact') else 'no'} | {e.get('commit', '-')} "
                         f"| {note} |")
    return "\n".join(lines) + "\n"


def readme_block(text: str) -> str:
    """The text between the flagship markers of README.md."""
    try:
        start = text.index(BEGIN) + len(BEGIN)
        return text[start:text.index(END, start)].strip("\n") + "\n"
    except ValueError:
        raise SystemExit(f"flagship_table: README.md has no {BEGIN} ... {END} block") from None


def write_readme(table: str) -> None:
    text = README.read_text()
    readme_block(text)  # the markers exist
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def git_commit(path: Path | None = None) -> str:
    """The checkout's commit (the code the figures were measured on), or with `path` the commit that last
    wrote that file; "-" outside a git checkout."""
    from hwflow.tools import capture

    cmd = ["git", "rev-parse", "--short", "HEAD"] if path is None else ["git", "log", "-1", "--format=%h", "--", str(path)]
    try:
        res = capture(cmd, cwd=ROOT, timeout_s=30, label=" ".join(cmd[:2]))
    except Exception:  # noqa: BLE001 (no git, not a checkout: the figure stands without its commit)
        return "-"
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else "-"


def training_text(raw: dict) -> str:
    """How a config trains and quantizes its activations, from its `train:` and `quantization:` sections: e.g.
    "45 + 50 + 4 QAT epochs; 6-bit activations, 3 integer bits" (float, restarts, QAT; then the optimizer
    and weight decay unless Adam without decay; then quantization_text)."""
    from hwflow.config import TrainSection, schedule_text  # TrainSection: defaults for keys the file leaves out

    t = raw.get("train") or {}
    schedule = schedule_text(t.get("epochs", TrainSection.epochs), [r["epochs"] for r in t.get("restarts") or []],
                             t.get("qat_epochs", TrainSection.qat_epochs), t.get("optimizer", "adam"),
                             t.get("weight_decay", 0.0))
    return f"{schedule}; {quantization_text(raw)}"


def quantization_text(raw: dict) -> str:
    """The default activation quantizer of a config, from its `quantization:` section: "6-bit activations, 2
    integer bits", or "..., integer bits calibrated per layer" (activation_integer: auto); "+ per-layer
    overrides" when `quantization.layers` is written."""
    from hwflow.config import QuantDefaults
    from hwflow.zoo.quant import spec_from_value

    q = raw.get("quantization") or {}
    d = q.get("default") or {}
    spec = spec_from_value(d.get("activation", QuantDefaults.activation), role="activation", where="quantization",
                           integer=d.get("activation_integer", QuantDefaults.activation_integer))
    text = f"{spec.bits}-bit activations, " + ("integer bits calibrated per layer" if spec.integer is None  # auto
                                               else f"{spec.integer} integer bit" + "s" * (spec.integer != 1))
    return text + (" + per-layer overrides" if q.get("layers") else "")


def record(name: str, reports: Path | None) -> None:
    """Copy the top-1 figures of `hwflow hls --config hls_configs/<name>.yaml` into parity_fitted.json. An
    entry of another training of the same config (other figures or schedule) is kept under `earlier`, so
    the accuracy a longer training bought stays on record with its commit; measuring a training on record
    again (same figures and schedule) replaces its entry. With the run's training.json,
    the measured wall-clock seconds of a float epoch (of the epochs that run trained) go with it."""
    src = (reports or ROOT / "build" / name / "reports") / "parity.json"
    if not src.is_file():
        raise SystemExit(f"flagship_table: {src} does not exist; run `hwflow hls --config hls_configs/{name}.yaml` first")
    p = json.loads(src.read_text())
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    source = str((raw.get("data") or {}).get("source", "default"))
    entries = json.loads(PARITY.read_text())
    entry = {
        "dataset": DATASETS.get(Path(source).name, Path(source).name),
        "images": p["n_images"], "float": p["float_accuracy"], "qkeras": p["qkeras_accuracy"],
        "firmware": p["csim_accuracy"], "bit_exact": p["bit_exact_share"] == 1.0,
        "training": training_text(raw),
        "measured_by": f"hwflow hls --config hls_configs/{name}.yaml (recorded from {_rel(src)})",
        "commit": git_commit(),
    }
    trained = src.parent / "training.json"  # the flow's models stage: what the run trained and in how long
    if trained.is_file():
        fl = (json.loads(trained.read_text()).get("trained") or {}).get("float")
        if fl and fl["epochs"]:
            entry["float_epoch_seconds"] = round(fl["seconds"] / fl["epochs"], 1)
            entry["timed_epochs"] = fl["epochs"]
    old = entries.get(name)
    if old is not None:
        same = lambda e: all(e.get(k) == entry[k] for k in ("images", "float", "qkeras", "firmware", "training"))  # noqa: E731
        # a re-measurement of a training already on record (e.g. from its shipped weights) replaces that record
        earlier = [e for e in [old, *old.pop("earlier", [])] if not same(e)]
        if earlier:
            entry["earlier"] = earlier
    entries[name] = entry
    PARITY.write_text(json.dumps(dict(sorted(entries.items())), indent=1) + "\n")
    print(f"recorded {name}: firmware top-1 {_pct(p['csim_accuracy'])} on {p['n_images']} images")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.flagship_table", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if flagship.md or the README block is stale")
    ap.add_argument("--record", metavar="NAME", help="store build/NAME/reports/parity.json in parity_fitted.json")
    ap.add_argument("--reports", type=Path, help="with --record: the reports folder (default build/NAME/reports)")
    args = ap.parse_args(argv)
    if args.record:
        record(args.record, args.reports)
    table, parity = render(), render_parity()
    if args.check:
        stale = [str(p.relative_to(ROOT)) for p, ok in ((OUT, OUT.is_file() and OUT.read_text() == table),
                                                      (PARITY_MD, PARITY_MD.is_file() and PARITY_MD.read_text() == parity),
                                                      (README, readme_block(README.read_text()) == table)) if not ok]
        if stale:
            print(f"stale: {', '.join(stale)}; run python -m benchmarks.flagship_table", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(table)
    PARITY_MD.write_text(parity)
    write_readme(table)
    print(f"wrote {OUT.relative_to(ROOT)}, {PARITY_MD.relative_to(ROOT)} and the README block ({len(FLAGSHIP)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
