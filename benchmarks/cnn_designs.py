"""Rebuild synthesized hls4ml designs from a fixture folder and compare hwflow.estimate with their reports.

A fixture folder (e.g. ../shared/fixtures/hls-reports-cnn/) holds one sub-folder per design with
`design.json` (what hls4ml wrote: per layer reuse factor, strategy, precisions, FIFO depths,
zeros; the tool, version, part and clock of the report), `hls4ml_config.yml`, the Keras/QKeras
model file (optional) and the csynth reports (`<prj>/solution*/syn/report/*_csynth.xml`).

Per design: load the model file (or, when there is none, build the network from design.json's
layer list with seeded random weights honouring each layer's `n_zeros`: `synthetic=True`),
convert it with hls4ml 1.3.0 using the yml's HLSConfig overlaid with what design.json says
hls4ml actually wrote (reuse factors, strategies, precisions, FIFO depths), note every place
1.3.0 ends up different (`notes`), and read the core's csynth numbers (design totals and per
layer, matched by hls4ml's config index). Used by benchmarks/calibrate_estimator.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from hwflow.errors import ConfigError, ReportError
from hwflow.project import HLS4ML_CONFIG, load_hls4ml_yaml

METRICS = ("DSP", "LUT", "FF", "BRAM_18K", "latency", "II")
MODEL_FILES = ("keras_model.h5", "keras_model.keras")


@dataclass
class CnnDesign:
    name: str
    folder: Path
    info: dict  # design.json
    backend: str  # hls4ml backend used for the rebuild (Vivado | Vitis)
    tool: str  # estimator tool key: vivado_hls | vitis
    tool_version: str
    part: str
    clock: float
    io_type: str
    group: str
    model_file: Path | None
    synthetic: bool = False
    notes: list = field(default_factory=list)
    hls_model: object = None
    report: dict = field(default_factory=dict)  # METRICS -> reported number (the core, not an AXI wrapper)
    layers: dict = field(default_factory=dict)  # hls4ml layer name -> per-layer report (METRICS)
    fifos: list = field(default_factory=list)  # FifoRow per FIFO of the core's csynth.rpt FIFO table
    role: str = "cnn"
    error: str | None = None  # why this design could not be rebuilt or read (it is then left out)


def _tool_key(tool: str) -> str:
    return "vitis" if "vitis" in tool.lower() else "vivado_hls"


def _group(info: dict) -> str:
    """Designs sharing one network (same repository and the same layer sequence) are left out
    together; design.json may name the group explicitly (`group`)."""
    if info.get("group"):
        return str(info["group"])
    repo = (info.get("source") or {}).get("repository", info.get("design", ""))
    kinds = "|".join(str(layer.get("kind")) for layer in info.get("layers", []))
    return f"{repo}:{hashlib.sha1(kinds.encode()).hexdigest()[:8]}"


def discover(fixtures: Path) -> list[CnnDesign]:
    fixtures = Path(fixtures)
    if not fixtures.is_dir():
        raise ReportError(f"{fixtures}: not a folder (expected one sub-folder per design with design.json)")
    out = []
    for dj in sorted(fixtures.glob("*/design.json")):
        try:
            info = json.loads(dj.read_text())
        except json.JSONDecodeError as exc:
            raise ReportError(f"{dj}: not valid JSON ({exc})") from None
        for key in ("tool", "io_type", "layers", "part", "clock"):
            if key not in info:
                raise ReportError(f"{dj}: missing key '{key}' expected in a design.json")
        tool = str(info["tool"])
        backend = "Vitis" if _tool_key(tool) == "vitis" else "Vivado"
        part = (info["part"] or {}).get("report") or (info["part"] or {}).get("hls4ml_config_Part") or ""
        clock = float((info["clock"] or {}).get("report_target_ns") or info["clock"].get("hls4ml_config_period_ns") or 5)
        model = next((dj.parent / f for f in MODEL_FILES if (dj.parent / f).is_file()), None)
        out.append(CnnDesign(dj.parent.name, dj.parent, info, backend, _tool_key(tool),
                             f"{tool} {str(info.get('tool_version', '')).split(' ')[0]}".strip(), part, clock,
                             info["io_type"], _group(info), model, synthetic=model is None))
    if not out:
        raise ReportError(f"{fixtures}: no */design.json found")
    return out


# --- the network ---------------------------------------------------------------------------


def _hls_prec(text: str) -> str:
    """design.json spells types as C++ (ap_fixed<6,1>, ap_ufixed<6,0,AP_RND_CONV,AP_SAT>); hls4ml
    parses the same strings, so they pass unchanged."""
    return str(text)


def build_from_layers(info: dict, seed: int = 0):
    """Keras model of design.json's layer list, seeded random weights, `n_zeros` exact zeros."""
    import numpy as np
    import tensorflow as tf

    L = tf.keras.layers
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    produced = {o for layer in info["layers"] for o in layer.get("outputs", [])}
    tensors: dict = {}
    inputs = []

    def shape_of(layer, k):
        if "in_shapes" in layer:
            return layer["in_shapes"][k]
        if "in_shape" in layer:
            return layer["in_shape"]
        return [layer["n_in"]]

    zeros: dict[str, int] = {}
    for layer in info["layers"]:
        ins = layer.get("inputs", [])
        for k, name in enumerate(ins):
            if name not in tensors and name not in produced:
                t = L.Input(tuple(shape_of(layer, k)), name=name)
                tensors[name] = t
                inputs.append(t)
        kind, lname = str(layer["kind"]), layer["name"]
        x = [tensors[n] for n in ins]
        if kind == "Clone":  # hls4ml inserts the stream copies itself
            for o in layer["outputs"]:
                tensors[o] = x[0]
            continue
        if kind in ("Dense",) and len(x[0].shape) > 2:
            x = [L.Flatten(name=f"flatten_{lname}")(x[0])]
        if kind in ("Conv2D", "Conv1D"):
            conv = L.Conv2D if kind == "Conv2D" else L.Conv1D
            y = conv(layer["filters"], tuple(layer["kernel"]), strides=tuple(layer["stride"]), name=lname)(x[0])
            zeros[lname] = int(layer.get("n_zeros", 0) or 0)
        elif kind == "Dense":
            y = L.Dense(layer["n_out"], name=lname)(x[0])
            zeros[lname] = int(layer.get("n_zeros", 0) or 0)
        elif kind.startswith("Activation("):
            act = kind[len("Activation("):-1]
            y = (L.Softmax(name=lname) if act == "softmax" else L.Activation(act, name=lname))(x[0])
        elif kind == "Pooling2D":
            pool = L.MaxPooling2D if layer.get("pool_op", "Max") == "Max" else L.AveragePooling2D
            y = pool(tuple(layer["pool"]), strides=tuple(layer["stride"]), name=lname)(x[0])
        elif kind == "BatchNormalization":
            y = L.BatchNormalization(name=lname)(x[0])
        elif kind == "ZeroPadding2D":
            t, b, l_, r = layer["padding_tblr"]
            y = L.ZeroPadding2D(((t, b), (l_, r)), name=lname)(x[0])
        elif kind.startswith("UpSampling2D"):
            size = (layer["out_shape"][0] // layer["in_shape"][0], layer["out_shape"][1] // layer["in_shape"][1])
            y = L.UpSampling2D(size, name=lname)(x[0])
        elif kind == "Concatenate":
            if len(x[0].shape) > 2 and len(layer["in_shapes"][0]) == 1:
                x = [L.Flatten(name=f"flatten_{lname}_{k}")(t) if len(t.shape) > 2 else t for k, t in enumerate(x)]
            y = L.Concatenate(axis=layer.get("axis", -1), name=lname)(x)
        else:
            raise ReportError(f"design.json layer {lname}: kind {kind} cannot be rebuilt without the model file")
        for o in layer.get("outputs", []):
            tensors[o] = y
    outs = [tensors[p["name"]] for p in info.get("ports", []) if p["name"] in produced]
    model = tf.keras.Model(inputs, outs or [y])
    for lname, nz in zeros.items():
        layer = model.get_layer(lname)
        w, b = layer.get_weights()
        w = rng.normal(0.0, np.sqrt(2.0 / max(w.size // w.shape[-1], 1)), w.shape).astype("float32")
        flat = w.reshape(-1)
        flat[rng.choice(flat.size, min(nz, flat.size), replace=False)] = 0.0
        layer.set_weights([flat.reshape(w.shape), b])
    return model


def load_model(d: CnnDesign):
    """The design's model through the flow's own loader (hwflow.modelfile.load_model_file, what
    `hwflow estimate --keras` uses: QKeras `.keras` files of Keras 2.14 included), or the network rebuilt
    from design.json's layer list when there is no model file."""
    if d.model_file is None:
        return build_from_layers(d.info)
    from hwflow.errors import ConfigError
    from hwflow.modelfile import load_model_file

    try:
        return load_model_file(d.model_file, one_input=False)  # a design's own network, as hls4ml took it
    except ConfigError as exc:
        raise ReportError(f"{d.model_file}: cannot load the model ({exc})") from None


def _yml_hlsconfig(d: CnnDesign) -> dict:
    p = d.folder / HLS4ML_CONFIG
    if not p.is_file():
        return {}
    try:
        return load_hls4ml_yaml(p).get("HLSConfig", {}) or {}
    except ConfigError as exc:
        raise ReportError(str(exc)) from None


_WRITTEN_PREC = ("result", "weight", "bias", "accum", "table", "scale")


def hls_config(d: CnnDesign, model) -> dict:
    """hls4ml config: defaults from the model, the yml's HLSConfig over them, design.json's written
    reuse factors / strategies / precisions over that (parameters.h is what was synthesized)."""
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=d.backend)
    yml = _yml_hlsconfig(d)
    model_cfg = dict(yml.get("Model") or d.info.get("model_config") or {})
    cfg["Model"].update({k: v for k, v in model_cfg.items() if k in ("Strategy", "ReuseFactor", "Precision",
                                                                    "BramFactor")})
    if isinstance(cfg["Model"].get("Precision"), dict):
        cfg["Model"]["Precision"] = cfg["Model"]["Precision"].get("default", "fixed<16,6>")
    names = cfg["LayerName"]
    for lname, lc in (yml.get("LayerName") or {}).items():
        if lname in names:
            for key in ("Precision", "ReuseFactor", "Strategy", "TableSize", "ConvImplementation"):
                if key in lc:
                    names[lname][key] = lc[key]
    for layer in d.info["layers"]:
        lc = names.get(layer["name"])
        if lc is None:
            continue
        if layer.get("reuse_factor"):
            lc["ReuseFactor"] = int(layer["reuse_factor"])
        if layer.get("strategy"):
            lc["Strategy"] = str(layer["strategy"]).capitalize()
        prec = layer.get("precision") or {}
        cur = lc.get("Precision")
        cur = dict(cur) if isinstance(cur, dict) else ({"result": cur} if cur else {})
        for k in _WRITTEN_PREC:
            if k in prec:
                cur[k] = _hls_prec(prec[k])
        if cur:
            lc["Precision"] = cur
    for p in d.info.get("ports", []):  # model inputs: their written type
        if p["name"] in names and p.get("precision"):
            names[p["name"]]["Precision"] = {"result": p["precision"]}
    return cfg


def _fifo_depths(d: CnnDesign) -> dict[str, int]:
    """output variable name -> depth hls4ml wrote (design.json `output_fifo_depth`)."""
    out = {}
    for layer in d.info["layers"]:
        depth = layer.get("output_fifo_depth")
        outs = layer.get("outputs", [])
        if isinstance(depth, dict):
            out.update({k: int(v) for k, v in depth.items()})
        elif depth is not None and outs:
            out[outs[0]] = int(depth)
    return out


def _type_str(precision) -> str:
    return re.sub(r"\s", "", str(precision.definition_cpp() if hasattr(precision, "definition_cpp") else precision))


def _norm_type(text: str) -> str:
    """ap_fixed<6,1,AP_TRN,AP_WRAP,0> ~ ap_fixed<6,1>: compare width/integer/signedness only."""
    m = re.match(r"(ap_u?fixed|ap_u?int)<(\d+)(?:,(-?\d+))?", str(text).replace(" ", ""))
    return f"{m.group(1)}<{m.group(2)},{m.group(3)}>" if m else str(text)


def convert(d: CnnDesign, seed: int = 0):
    """hls4ml 1.3.0 ModelGraph of the design (not written), with the written FIFO depths applied
    and the differences from what hls4ml wrote listed in d.notes."""
    import hls4ml

    with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints every layer it interprets
        model = load_model(d)
        cfg = hls_config(d, model)
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, io_type=d.io_type, backend=d.backend, part=d.part, clock_period=d.clock,
            output_dir=f"/tmp/hwflow-rebuild/{d.name}")
    written = {layer["name"] for layer in d.info["layers"]}
    for h in list(hls_model.get_layers()):
        # a linear activation the written project did not have (an older hls4ml dropped or
        # merged it; 1.3.0 keeps it when it casts): removed, so its FIFO is not counted
        if h.class_name == "Activation" and h.get_attr("activation") == "linear" and h.name not in written:
            hls_model.remove_node(h)
            d.notes.append(f"{h.name} (linear Activation): in the 1.3.0 graph, not in the written project; removed")
    by_name = {layer.name: layer for layer in hls_model.get_layers()}
    for layer in d.info["layers"]:
        h = by_name.get(layer["name"])
        if h is None:
            if layer["kind"] not in ("Clone",):
                d.notes.append(f"{layer['name']} ({layer['kind']}): not in the 1.3.0 graph (removed or fused)")
            continue
        rf = h.get_attr("reuse_factor")
        if layer.get("reuse_factor") and rf is not None and int(rf) != int(layer["reuse_factor"]) \
                and layer["kind"] in ("Conv2D", "Conv1D", "Dense"):
            d.notes.append(f"{layer['name']}: RF {rf} in 1.3.0, {layer['reuse_factor']} written")
        for k in ("weight", "result"):
            want = (layer.get("precision") or {}).get(k)
            var = h.weights.get("weight") if k == "weight" else h.get_output_variable()
            if want and var is not None and _norm_type(_type_str(var.type.precision)) != _norm_type(want):
                d.notes.append(f"{layer['name']}: {k} {_type_str(var.type.precision)} in 1.3.0, {want} written")
    for h in hls_model.get_layers():
        if h.name not in {layer["name"] for layer in d.info["layers"]} and h.class_name not in (
                "Input", "InputLayer", "Reshape", "Clone", "Transpose"):
            d.notes.append(f"{h.name} ({h.class_name}): in the 1.3.0 graph, not in the written project")
    # FIFO depths as written (hls4ml's default is H*W; a depth pass may have changed them)
    depths = _fifo_depths(d)
    for var in hls_model.output_vars.values() if hasattr(hls_model, "output_vars") else []:
        pragma = getattr(var, "pragma", None)
        if isinstance(pragma, tuple) and pragma and pragma[0] == "stream" and var.name in depths:
            var.pragma = ("stream", depths[var.name])
    d.hls_model = hls_model
    return hls_model


# --- reports -------------------------------------------------------------------------------


def _metrics(rep) -> dict:
    r = rep.resources
    return {"DSP": r.dsp or 0, "LUT": r.lut or 0, "FF": r.ff or 0, "BRAM_18K": r.bram_18k or 0,
            "latency": rep.latency_worst_cycles or 0, "II": rep.interval_max_cycles or 0}


@dataclass(frozen=True)
class FifoRow:
    """One row of the `* FIFO:` table of a csynth .rpt: how the tool built one FIFO."""

    name: str
    depth: int
    bits: int
    bram_18k: int

    @property
    def per_element(self) -> bool:
        """Vivado HLS names the FIFOs of a split nnet::array stream `<var>_V_data_<i>[_V]_U`."""
        return re.search(r"_data_\d+(_V)?(_U)?$", self.name) is not None


def read_fifo_table(path: Path) -> list[FifoRow]:
    """The `* FIFO:` table of a csynth .rpt (Name, BRAM_18K, ..., Depth, Bits). By hand: hwflow.reports
    reads the Instance tables only. A table without those columns is a ReportError."""
    from hwflow.reports.textutil import ascii_tables

    lines = path.read_text(errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "* FIFO:"), None)
    if start is None:
        return []
    tables = ascii_tables(lines, start + 1)
    if not tables or tables[0][0] > start + 2:
        return []
    blocks = tables[0][1]
    header = [h.strip() for h in blocks[0][-1]]
    if not {"Name", "BRAM_18K", "Depth", "Bits"} <= set(header):
        raise ReportError(f"{path}: FIFO table has columns {header}, expected Name, BRAM_18K, Depth, Bits")
    col = {h: header.index(h) for h in ("Name", "BRAM_18K", "Depth", "Bits")}
    rows = []
    for row in (r for b in blocks[1:] for r in b):
        if row[0].strip() == "Total" or len(row) < len(header):
            continue
        try:
            bram = row[col["BRAM_18K"]].strip()
            rows.append(FifoRow(row[col["Name"]].strip(), int(row[col["Depth"]]), int(row[col["Bits"]]),
                                0 if bram in ("-", "") else int(bram)))
        except ValueError as exc:
            raise ReportError(f"{path}: FIFO row {row[0].strip()!r}: {exc}") from None
    return rows


def read_reports(d: CnnDesign) -> None:
    """Core totals (`top_function`, not the AXI wrapper) and per layer (outermost module of each
    config index) via hwflow.reports."""
    from hwflow.reports import parse_csynth, parse_project
    from hwflow.reports.project import find_report_dir

    rdir, _ = find_report_dir(d.folder)
    if rdir is None:
        raise ReportError(f"{d.folder}: no csynth report (expected <prj>/solution*/syn/report/*_csynth.xml or .rpt)")
    top = d.info.get("top_function") or "myproject"
    # the flow's one csynth reader: the XML, or the text .rpt when the design kept only that
    d.report = _metrics(parse_csynth(rdir / f"{top}_csynth.xml"))
    rpt = rdir / f"{top}_csynth.rpt"
    d.fifos = read_fifo_table(rpt) if rpt.is_file() else []
    proj = parse_project(d.folder)
    by_index = {row.config_index: row for row in proj.layers if row.is_layer and row.config_index is not None}
    for layer in d.info["layers"]:
        row = by_index.get(layer.get("index"))
        if row is not None:
            d.layers[layer["name"]] = {"DSP": row.resources.dsp or 0, "LUT": row.resources.lut or 0,
                                       "FF": row.resources.ff or 0, "BRAM_18K": row.resources.bram_18k or 0,
                                       "latency": row.latency_worst_cycles or 0, "II": row.interval_max_cycles or 0}


def load(fixtures: Path, progress: bool = True) -> list[CnnDesign]:
    """Discover, convert and read every design of a fixture folder. A design that cannot be read
    or rebuilt gets `error` set and a warning on stderr (the others still run: a held-out folder
    may hold a layer type this rebuild does not know)."""
    import sys

    from tqdm import tqdm

    designs = discover(fixtures)
    for d in tqdm(designs, desc="rebuild CNN designs", disable=not progress):
        try:
            read_reports(d)
            convert(d)
        except Exception as exc:  # noqa: BLE001 (hls4ml/TF raise anything; reported, not hidden)
            d.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            print(f"calibrate_estimator: warning: {d.name}: left out ({d.error})", file=sys.stderr)
    if all(d.error for d in designs):
        raise ReportError(f"{fixtures}: no design could be rebuilt (first: {designs[0].name}: {designs[0].error})")
    return designs
