"""FlowConfig + QKeras model -> hls4ml config -> HLS project on disk.

The hls4ml config starts from hls4ml's own `config_from_keras_model(granularity='name')`
(which reads every QKeras quantizer) and is then overridden from the YAML: model-wide
strategy / reuse factor, input precision, per-layer reuse factor / strategy / precision, and
the global-average-pool accumulator (sized here so the sum cannot overflow). The project is
written into a temporary folder and moved into place only when complete.
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hwflow.config import FlowConfig
from hwflow.errors import ConfigError
from hwflow.guard import check_project_tcl
from hwflow.project import write_layer_table  # the layer table csim/trace/reports read
from hwflow.reuse import ReusePlan, fast_reuse_rule, plan_reuse


@dataclass(frozen=True)
class LayerInfo:
    name: str
    class_name: str
    shape: list[int]
    result: str  # precision of the layer's output
    weight: str | None
    bias: str | None
    reuse_factor: int | None
    strategy: str | None
    n_params: int
    traced: bool  # has a trace hook in the generated C++ (hwflow.sim.csim can read its output)


@dataclass
class ConvertResult:
    hls_dir: Path
    hls_model: object  # hls4ml ModelGraph
    layers: list[LayerInfo]
    notes: list[str] = field(default_factory=list)  # e.g. global reuse factors adjusted per layer
    fifo: object | None = None  # hwflow.fifo.FifoReport (io_stream)


def _gap_precisions(qmodel, layer) -> dict[str, str]:
    """accum/result for a GlobalAveragePooling2D fed by a quantized ReLU: the sum cannot overflow, and the
    mean is exact for 2^k pixels (otherwise within one result LSB)."""
    inbound = layer._inbound_nodes[0].inbound_layers
    src = inbound[0] if isinstance(inbound, list) else inbound
    q = getattr(src, "quantizer", None)
    bits, integer, signed = 16, 6, True
    if q is not None and type(q).__name__ == "quantized_relu":
        bits, integer, signed = int(q.bits), int(q.integer), False
    h, w = layer.input_shape[1:3]
    lg = math.ceil(math.log2(max(h * w, 1)))
    t = "fixed" if signed else "ufixed"
    # hls4ml divides the accumulator by H*W in the accumulator's own type (ap_fixed / int keeps
    # the dividend's fraction bits), so the accumulator carries lg extra fraction bits too.
    return {"accum": f"{t}<{bits + 2 * lg},{integer + lg + (1 if signed else 0)}>",
            "result": f"{t}<{bits + lg},{integer + (1 if signed else 0)}>"}


def hls_config(cfg: FlowConfig, qmodel, plan: ReusePlan | None = None) -> dict:
    """The hls4ml config dict (Model + LayerName) for this flow config; ReuseFactor from `plan`
    (the build's reuse plan; computed here only when called on its own)."""
    import hls4ml

    from hwflow import hls_ext

    hls_ext.register()  # custom layers (channel shuffle/slice, bounded ReLU) must be known before parsing

    backend = cfg.hls.backend.value  # plain str: hls4ml writes its config with yaml.dump
    conf = hls4ml.utils.config_from_keras_model(qmodel, granularity="name", backend=backend)
    conf["Model"]["Strategy"] = cfg.hls.strategy.value
    layers = conf["LayerName"]
    input_name = qmodel.layers[0].name
    layers[input_name]["Precision"]["result"] = cfg.hls.input_precision
    for layer in qmodel.layers:
        lc = layers.setdefault(layer.name, {})
        lc["Trace"] = True  # trace hooks are compiled out in synthesis (__SYNTHESIS__)
        if type(layer).__name__ == "GlobalAveragePooling2D":
            lc.setdefault("Precision", {}).update(_gap_precisions(qmodel, layer))
        if "Strategy" in lc or type(layer).__name__.startswith("Q"):
            lc["Strategy"] = cfg.hls.strategy.value
    (plan or plan_reuse(cfg.hls, qmodel)).apply(conf)  # the only place ReuseFactor is written
    for name, lh in cfg.hls.layers.items():
        lc = layers.setdefault(name, {})
        if lh.strategy is not None:
            lc["Strategy"] = lh.strategy.value
        if lh.precision:
            lc.setdefault("Precision", {}).update(lh.precision)
    return conf


def _backend_kwargs(cfg: FlowConfig) -> dict:
    kw = {"backend": cfg.hls.backend.value, "clock_period": cfg.hls.clock_period_ns, "io_type": cfg.hls.io_type.value}
    if cfg.hls.backend == "VivadoAccelerator":
        if not cfg.hls.board.accelerator_board:
            raise ConfigError(f"{cfg.path}: hls.backend: VivadoAccelerator has no board support for "
                              f"{cfg.hls.board.name}; use backend Vitis or Vivado (IP core) for it")
        kw.update(board=cfg.hls.board.accelerator_board, interface="axi_stream")
        if cfg.hls.board.platform:  # Alveo: the card's own platform (hls4ml defaults to the U250's)
            kw["platform"] = cfg.hls.board.platform
    else:
        kw["part"] = cfg.hls.part
    return kw


def to_hls_model(cfg: FlowConfig, qmodel, output_dir: Path | None = None, plan: ReusePlan | None = None):
    """A converted (not yet written) hls4ml ModelGraph; the estimate stage and `hwflow fit` use this directly.

    `plan`: the build's reuse plan (hwflow.flow carries it); computed here when not given."""
    import hls4ml

    plan = plan or plan_reuse(cfg.hls, qmodel)
    # hls4ml creates output_dir only on write(); an unwritten model needs no folder of its own
    out = str(output_dir) if output_dir else str(Path(tempfile.gettempdir()) / "hwflow-unwritten")
    with fast_reuse_rule():
        hls_model = hls4ml.converters.convert_from_keras_model(
            qmodel, hls_config=hls_config(cfg, qmodel, plan), output_dir=out, project_name="myproject",
            **_backend_kwargs(cfg))
    plan.verify(hls_model)
    verify_precisions(cfg, hls_model)
    # Trace hooks let hwflow.sim.csim localise a parity failure (what hls4ml's own trace() switches on);
    # the writer guards them with #ifndef __SYNTHESIS__, so they cost nothing in hardware.
    hls_model.config.trace_output = True
    if cfg.hls.io_type == "io_stream":  # FIFO depths (hls.fifo_depth) in the variables' pragmas, as hls4ml's pass
        from hwflow import fifo

        try:
            fifo.apply(hls_model, cfg.hls.fifo_depth)
        except ConfigError as exc:  # a layer the FIFO model does not know: name the file, offer `full`
            raise ConfigError(f"{cfg.path}: {exc}") from None
    return hls_model


def _actual_precision(layer, key: str):
    """The precision hls4ml gave `key` (result/accum/weight/bias) of one converted layer, or None."""
    if key == "result":
        return layer.get_output_variable().type.precision
    if key in ("weight", "bias") and key in getattr(layer, "weights", {}):
        return layer.weights[key].type.precision
    t = layer.types.get(f"{key}_t") if hasattr(layer, "types") else None
    return None if t is None else t.precision


def verify_precisions(cfg: FlowConfig, hls_model) -> None:
    """Every hls.layers.<name>.precision.<key> of the config reached the converted model, or a
    ConfigError before anything is written (a QKeras layer's weights/biases take their quantizer's
    type: hls4ml drops a configured weight precision there without a word)."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend

    layers = {l.name: l for l in hls_model.get_layers()}
    for name, lh in cfg.hls.layers.items():
        for key, text in lh.precision.items():
            where = f"{cfg.path}: hls.layers.{name}.precision.{key}: {text!r}"
            layer = layers.get(name)
            if layer is None:
                raise ConfigError(f"{where} does not reach the project: hls4ml removes or merges layer {name!r} "
                                  f"while converting; remove the entry")
            actual = _actual_precision(layer, key)
            want = str(FPGABackend.convert_precision_string(text))
            if actual is None:
                raise ConfigError(f"{where} does not reach the project: layer {name!r} ({layer.class_name}) has no "
                                  f"{key} type; valid keys here: result" + (", accum" if "accum_t" in layer.types else ""))
            if str(actual) != want:
                hint = (f"set quantization.layers.{name}.{key} (the QKeras quantizer decides it)"
                        if key in ("weight", "bias") else "remove the entry")
                raise ConfigError(f"{where} does not reach the project: hls4ml uses {actual} there; {hint}")


def _precision(var) -> str | None:
    if var is None:
        return None
    return str(var.type.precision)


def layer_table(hls_model) -> list[LayerInfo]:
    rows = []
    for layer in hls_model.get_layers():
        w = layer.weights.get("weight") if hasattr(layer, "weights") else None
        b = layer.weights.get("bias") if hasattr(layer, "weights") else None
        rows.append(LayerInfo(
            name=layer.name, class_name=layer.class_name, shape=list(layer.get_output_variable().shape),
            result=_precision(layer.get_output_variable()), weight=_precision(w), bias=_precision(b),
            reuse_factor=layer.get_attr("reuse_factor"), strategy=layer.get_attr("strategy"),
            n_params=int(sum(v.data.size for v in layer.weights.values())) if hasattr(layer, "weights") else 0,
            traced=bool(layer.get_attr("function_cpp", None) and layer.get_attr("trace", False)),
        ))
    return rows


def convert(cfg: FlowConfig, qmodel, hls_dir: Path, plan: ReusePlan | None = None) -> ConvertResult:
    """Convert and write the project to `hls_dir` (built in a temporary folder, then moved).

    `plan`: the build's reuse plan (hwflow.flow carries it); computed here when not given."""
    plan = plan or plan_reuse(cfg.hls, qmodel)
    hls_dir = Path(hls_dir)
    hls_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".hls-", dir=hls_dir.parent))
    try:
        hls_model = to_hls_model(cfg, qmodel, tmp, plan)
        with fast_reuse_rule():  # write() runs hls4ml's writer passes, which query the rule again
            hls_model.write()
        fifo_report = _fifo_report(cfg, hls_model, tmp)
        check_project_tcl(tmp / "project.tcl")  # what the tools will source: plain words only
        layers = layer_table(hls_model)
        write_layer_table(tmp, io_type=cfg.hls.io_type.value, backend=cfg.hls.backend.value,
                          input_size=hls_model.get_input_variables()[0].size(),
                          output_size=hls_model.get_output_variables()[0].size(),
                          layers=[vars(l) for l in layers], config_index=config_index(tmp))
        swap_into_place(tmp, hls_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    hls_model.config.config["OutputDir"] = str(hls_dir)
    return ConvertResult(hls_dir, hls_model, layers, plan.notes, fifo_report)


def swap_into_place(new: Path, dest: Path) -> None:
    """Replace the folder `dest` by the finished folder `new` (same parent). A run killed between
    the two renames leaves `dest.old` (and no `dest`): it is removed first, so the next run never
    fails on it ("Directory not empty")."""
    old = dest.with_name(dest.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def _fifo_report(cfg: FlowConfig, hls_model, project: Path):
    """The FIFO depth report (fifo_depths.json/md in the project); `cosim` runs hls4ml's pass here."""
    from hwflow import fifo

    report = fifo.report_of(hls_model)
    if report is None:
        return None
    if cfg.hls.fifo_depth == "cosim":
        report = fifo.cosim(hls_model, project, report)
    report.write(project, cfg.name)
    return report


_CALL = re.compile(r"nnet::\w+<[^;]*?(config\d+)>\([^;]*\);\s*//\s*(\S+)")


def config_index(hls_dir: Path) -> dict[str, str]:
    """configN -> layer name, read from the generated firmware/myproject.cpp (for crash/report messages)."""
    src = Path(hls_dir) / "firmware" / "myproject.cpp"
    if not src.exists():
        return {}
    return {cfg: name for cfg, name in _CALL.findall(src.read_text())}


def summary(cfg: FlowConfig, result: ConvertResult) -> str:
    """A short human summary: layers, parameters, bits, reuse factors, project path."""
    lines = [f"{cfg.name}: {cfg.model.arch} -> {cfg.hls.backend} {cfg.hls.io_type}, part {cfg.hls.part} "
             f"({cfg.hls.board.name}), clock {cfg.hls.clock_period_ns} ns",
             f"{'layer':28s} {'class':22s} {'output':16s} {'result':28s} {'weight':22s} {'RF':>5s} {'params':>8s}"]
    for l in result.layers:
        lines.append(f"{l.name:28s} {l.class_name:22s} {'x'.join(map(str, l.shape)):16s} {str(l.result):28s} "
                     f"{str(l.weight or '-'):22s} {str(l.reuse_factor or '-'):>5s} {l.n_params:8d}")
    total = sum(l.n_params for l in result.layers)
    lines.append(f"{len(result.layers)} layers, {total} parameters")
    lines += [f"note: {n}" for n in result.notes]
    if result.fifo is not None and result.fifo.rows:
        t = result.fifo.totals
        lines.append(f"FIFOs ({result.fifo.mode}): {t['fifos']}, {t['full_bits']:,} bits at hls4ml's H*W depth -> "
                     f"{t['bits']:,} bits written")
    lines.append(f"project: {result.hls_dir}")
    return "\n".join(lines)
