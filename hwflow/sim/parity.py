"""C-simulation parity: the firmware against the QKeras model (bit level) and the float model.

Compared on the pre-softmax logits (hls4ml's softmax table moves probabilities by ~0.02, so
probabilities say little about the arithmetic). When the thresholds of the config's `parity:`
section fail, the per-layer outputs of the C++ (hls4ml trace hooks) are compared with the
QKeras layer outputs and the first layer that diverges is named with its precision.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

_PREC = re.compile(r"(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)")


def lsb_of(precision: str | None) -> float | None:
    """The value of one LSB of an hls4ml precision string (fixed<W,I,...>, ufixed<...>, int<W>)."""
    if not precision:
        return None
    m = _PREC.search(precision)
    if m:
        return 2.0 ** -(int(m.group(2)) - int(m.group(3)))
    if "int<" in precision:
        return 1.0
    return None


@dataclass
class LayerDiff:
    layer: str
    class_name: str
    precision: str
    max_abs_diff: float
    max_diff_lsb: float | None
    bit_exact_share: float


@dataclass
class ParityResult:
    n_images: int
    # C-sim vs QKeras on the logits
    argmax_agreement: float
    max_abs_diff: float
    mean_abs_diff: float
    output_precision: str
    output_lsb: float | None
    max_diff_lsb: float | None
    mean_diff_lsb: float | None
    bit_exact_share: float  # share of output values that are identical
    # accuracy on labelled data (top-1, in [0, 1])
    float_accuracy: float | None
    qkeras_accuracy: float | None
    csim_accuracy: float | None
    # thresholds and verdict
    thresholds: dict
    failures: list[str] = field(default_factory=list)
    first_divergence: LayerDiff | None = None
    layer_diffs: list[LayerDiff] = field(default_factory=list)
    csim: dict = field(default_factory=dict)  # seconds, images/s, workers, compile_s, cached

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        return d


def _acc(logits: np.ndarray, labels: np.ndarray | None) -> float | None:
    if labels is None:
        return None
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def compare(csim_out: np.ndarray, qkeras_out: np.ndarray, float_out: np.ndarray | None, labels: np.ndarray | None,
            output_precision: str, thresholds) -> ParityResult:
    """Numbers and verdict for one batch. `thresholds` is the config's ParitySection."""
    csim_out = np.asarray(csim_out, np.float64)
    qkeras_out = np.asarray(qkeras_out, np.float64).reshape(csim_out.shape)
    diff = np.abs(csim_out - qkeras_out)
    lsb = lsb_of(output_precision)
    res = ParityResult(
        n_images=len(csim_out),
        argmax_agreement=float(np.mean(np.argmax(csim_out, 1) == np.argmax(qkeras_out, 1))),
        max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
        output_precision=output_precision, output_lsb=lsb,
        max_diff_lsb=float(diff.max() / lsb) if lsb else None, mean_diff_lsb=float(diff.mean() / lsb) if lsb else None,
        bit_exact_share=float(np.mean(diff == 0)),
        float_accuracy=_acc(float_out, labels) if float_out is not None else None,
        qkeras_accuracy=_acc(qkeras_out, labels), csim_accuracy=_acc(csim_out, labels),
        thresholds={"min_argmax_agreement": thresholds.min_argmax_agreement,
                    "max_logit_lsb": thresholds.max_logit_lsb, "max_accuracy_drop": thresholds.max_accuracy_drop},
    )
    if res.argmax_agreement < thresholds.min_argmax_agreement:
        res.failures.append(f"argmax agreement C-sim vs QKeras {res.argmax_agreement:.4f} < "
                            f"{thresholds.min_argmax_agreement}")
    if res.max_diff_lsb is not None and res.max_diff_lsb > thresholds.max_logit_lsb:
        res.failures.append(f"max logit error {res.max_diff_lsb:.1f} LSB ({res.max_abs_diff:.4g}) > "
                            f"{thresholds.max_logit_lsb} LSB of {output_precision}")
    if thresholds.max_accuracy_drop is not None and res.float_accuracy is not None and res.csim_accuracy is not None:
        drop = 100 * (res.float_accuracy - res.csim_accuracy)
        if drop > thresholds.max_accuracy_drop:
            res.failures.append(f"top-1 drop C-sim vs float {drop:.2f} points > {thresholds.max_accuracy_drop}")
    return res


def layer_outputs(qmodel, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """QKeras outputs of the named layers (flattened per image, channels last like the C++)."""
    from tensorflow import keras

    present = [n for n in names if n in {l.name for l in qmodel.layers} and not isinstance(
        qmodel.get_layer(n), keras.layers.InputLayer)]
    probe = keras.Model(qmodel.inputs, [qmodel.get_layer(n).output for n in present])
    outs = probe.predict(x, batch_size=64, verbose=0)
    if len(present) == 1:
        outs = [outs]
    return {n: np.asarray(o, np.float64).reshape(len(x), -1) for n, o in zip(present, outs)}


def layer_diffs(trace: dict[str, np.ndarray], keras_outs: dict[str, np.ndarray], layers: list[dict]) -> list[LayerDiff]:
    """Per-layer comparison in the firmware's layer order (layers hls4ml added are skipped)."""
    rows = []
    for info in layers:
        name = info["name"]
        if name not in trace or name not in keras_outs:
            continue
        a, b = trace[name], keras_outs[name]
        if a.shape != b.shape:
            continue
        d = np.abs(a - b)
        lsb = lsb_of(info.get("result"))
        rows.append(LayerDiff(name, info["class_name"], info.get("result") or "?", float(d.max()),
                              float(d.max() / lsb) if lsb else None, float(np.mean(d == 0))))
    return rows


def first_divergence(rows: list[LayerDiff], tolerance_lsb: float = 0.0) -> LayerDiff | None:
    for r in rows:
        if r.max_abs_diff > 0 and (r.max_diff_lsb is None or r.max_diff_lsb > tolerance_lsb):
            return r
    return None


def write_tb_data(hls_dir: Path, x: np.ndarray, expected: np.ndarray) -> None:
    """Inputs and expected outputs in the layout of hls4ml's testbench (tb_data/*.dat), so the
    tool's own C simulation (csim_design) checks the same vectors."""
    tb = Path(hls_dir) / "tb_data"
    tb.mkdir(exist_ok=True)
    np.savetxt(tb / "tb_input_features.dat", x.reshape(len(x), -1), fmt="%.10g", delimiter=" ")
    np.savetxt(tb / "tb_output_predictions.dat", expected.reshape(len(expected), -1), fmt="%.10g", delimiter=" ")


def _engine_text(stats: dict) -> str:
    ips = stats.get("images_per_s", float("nan"))
    if stats.get("engine") == "emulate":
        return (f"the bit-exact emulator ({ips:.1f} images/s), identical to C-simulation of the generated C++ on "
                f"the first {stats.get('reference_images')} images ({stats.get('csim_images_per_s', float('nan')):.2f} "
                f"images/s)")
    why = f"; emulator not used: {stats['emulator_unsupported']}" if stats.get("emulator_unsupported") else ""
    return f"C-simulation of the generated C++ ({ips:.2f} images/s, {stats.get('workers', 1)} processes){why}"


def render(res: ParityResult, out_dir: Path, title: str) -> dict[str, Path]:
    """parity.json, parity.md and parity_hist.png (histogram of logit errors) in out_dir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "parity.json", "md": out_dir / "parity.md", "png": out_dir / "parity_hist.png"}
    tmp = {k: p.with_name(p.name + ".tmp") for k, p in paths.items()}
    tmp["json"].write_text(json.dumps(res.to_dict(), indent=1))

    def pct(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    lines = [f"## C-simulation parity: {title}", "",
             f"**{'PASS' if res.passed else 'FAIL'}** on {res.n_images} images, firmware outputs from "
             f"{_engine_text(res.csim)}.", "",
             "| C-sim vs QKeras (logits) | value |", "|---|---|",
             f"| argmax agreement | {pct(res.argmax_agreement)} |",
             f"| bit-exact outputs | {pct(res.bit_exact_share)} |",
             f"| max abs difference | {res.max_abs_diff:.6g} ({'-' if res.max_diff_lsb is None else f'{res.max_diff_lsb:.2f}'} LSB) |",
             f"| mean abs difference | {res.mean_abs_diff:.3g} ({'-' if res.mean_diff_lsb is None else f'{res.mean_diff_lsb:.3f}'} LSB) |",
             f"| output precision (1 LSB) | `{res.output_precision}` ({res.output_lsb}) |", "",
             "| top-1 accuracy | value | drop vs float (points) |", "|---|---|---|"]
    for label, v in (("float", res.float_accuracy), ("QKeras", res.qkeras_accuracy), ("C-sim", res.csim_accuracy)):
        drop = "-" if v is None or res.float_accuracy is None else f"{100 * (res.float_accuracy - v):.2f}"
        lines.append(f"| {label} | {pct(v)} | {drop} |")
    if res.failures:
        lines += ["", "Failures:"] + [f"- {f}" for f in res.failures]
    if res.first_divergence:
        fd = res.first_divergence
        lines += ["", f"First diverging layer: **{fd.layer}** ({fd.class_name}, `{fd.precision}`): max error "
                      f"{fd.max_abs_diff:.4g} ({fd.max_diff_lsb} LSB), {pct(fd.bit_exact_share)} values exact."]
    if res.layer_diffs:
        lines += ["", "| layer | class | precision | max abs diff | LSB | exact |", "|---|---|---|---|---|---|"]
        lines += [f"| {r.layer} | {r.class_name} | `{r.precision}` | {r.max_abs_diff:.3g} | "
                  f"{'-' if r.max_diff_lsb is None else f'{r.max_diff_lsb:.1f}'} | {pct(r.bit_exact_share)} |"
                  for r in res.layer_diffs]
    tmp["md"].write_text("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    errs = np.asarray(res.csim.get("errors_lsb", []), float)
    if errs.size:
        top = int(np.ceil(errs.max()))
        bins = np.arange(top + 2) - 0.5 if top <= 60 else 60  # one bar per LSB while that is readable
        ax.hist(errs, bins=bins, color="tab:blue")
        ax.set_yscale("log")
        ax.set_xlim(left=-0.5)
    ax.set_xlabel("|firmware - QKeras| per logit (output LSB)")
    ax.set_ylabel("count")
    ax.set_title(f"{title}: logit error, {res.n_images} images, {100 * res.bit_exact_share:.2f}% bit-exact")
    fig.tight_layout()
    fig.savefig(tmp["png"], format="png", dpi=110)
    plt.close(fig)
    for k, p in paths.items():
        tmp[k].replace(p)
    return paths
