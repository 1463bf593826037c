"""The on-disk hls4ml project, as hwflow reads and writes it: the one module that knows the format.

- `hls4ml_config.yml`: written by hls4ml with Python tags (`KerasModel: !keras_model '/path'`);
  `load_hls4ml_yaml` reads it bounded (hwflow.guard's size, alias and node limits) and tag-tolerant.
  `HlsProject.load` is what synth, bitstream and the FIFO co-simulation need from it.
- `hwflow_layers.json` (`LAYERS_FILE`): the layer table hwflow.convert writes into every project
  (layer names, classes, shapes, trace switches, config index); C-sim, trace and reports read it.
Used by hwflow.convert (writes), hwflow.sim.csim, hwflow.synth, hwflow.fifo, hwflow.reports and
benchmarks/cnn_designs.py (read).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hwflow.config import BACKENDS
from hwflow.errors import ConfigError, CsimError
from hwflow.guard import BoundedSafeLoader, check_part, check_project_tcl, load_yaml_text, read_text_file

HLS4ML_CONFIG = "hls4ml_config.yml"
LAYERS_FILE = "hwflow_layers.json"  # the layer table hwflow.convert writes into every project


# --------------------------------------------------------------------------------------------
# hls4ml_config.yml
# --------------------------------------------------------------------------------------------


class _Hls4mlLoader(BoundedSafeLoader):
    """The bounded safe loader, plus: any `!tag` (hls4ml's) loads as the plain value under it."""


def _untagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_Hls4mlLoader.add_multi_constructor("!", _untagged)


def load_hls4ml_yaml(path: Path) -> dict:
    """hls4ml_config.yml as a dict: yaml.safe_load with hwflow.guard's limits, hls4ml's tags as
    plain values. Missing, too large, not YAML or not a mapping: a one-line ConfigError naming it."""
    path = Path(path)
    data = load_yaml_text(read_text_file(path, "hls4ml config"), str(path), _Hls4mlLoader)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping written by hls4ml, got {type(data).__name__}")
    return data


def normalize_backend(name: str, *, where: str = "backend") -> str:
    for b in BACKENDS:
        if name.lower() == b.lower():
            return b
    raise ConfigError(f"{where}: unknown backend {name!r}; valid: {', '.join(BACKENDS)}")


@dataclass(frozen=True)
class HlsProject:
    """What the stages need to know about an hls4ml project folder (read from hls4ml_config.yml)."""

    root: Path
    name: str  # ProjectName (top function, `<name>_prj/`)
    backend: str
    part: str | None
    accelerator: dict = field(default_factory=dict)  # AcceleratorConfig, VivadoAccelerator only
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()

    @classmethod
    def load(cls, hls_dir: Path) -> "HlsProject":
        hls_dir = Path(hls_dir).resolve()
        if not hls_dir.is_dir():
            raise ConfigError(f"{hls_dir}: no such hls4ml project folder (write one with hls4ml or `make hls`)")
        cfg_file = hls_dir / HLS4ML_CONFIG
        for needed in (cfg_file, hls_dir / "build_prj.tcl", hls_dir / "project.tcl"):
            if not needed.is_file():
                raise ConfigError(f"{needed}: missing; {hls_dir} is not a complete hls4ml project (re-run the conversion)")
        cfg = load_hls4ml_yaml(cfg_file)
        if "Backend" not in cfg or "ProjectName" not in cfg:
            raise ConfigError(f"{cfg_file}: keys Backend and ProjectName are required (written by hls4ml's write())")
        check_project_tcl(hls_dir / "project.tcl")  # sourced by the tools: no Tcl substitution in its values
        if cfg.get("Part") is not None:
            check_part(cfg["Part"], f"{cfg_file}: Part")
        if not re.match(r"^[A-Za-z_]\w*$", str(cfg["ProjectName"])):
            raise ConfigError(f"{cfg_file}: ProjectName {cfg['ProjectName']!r} is not a C identifier")

        def _shape(key: str) -> tuple[int, ...]:
            shapes = cfg.get(key) or {}
            if isinstance(shapes, dict) and len(shapes) == 1:
                return tuple(int(d) for d in next(iter(shapes.values())))
            return ()

        return cls(
            root=hls_dir,
            name=str(cfg["ProjectName"]),
            backend=normalize_backend(str(cfg["Backend"]), where=f"{cfg_file}: Backend"),
            part=cfg.get("Part"),
            accelerator=dict(cfg.get("AcceleratorConfig") or {}),
            input_shape=_shape("InputShapes"),
            output_shape=_shape("OutputShapes"),
        )

    @property
    def config_file(self) -> Path:
        return self.root / HLS4ML_CONFIG


# --------------------------------------------------------------------------------------------
# hwflow_layers.json
# --------------------------------------------------------------------------------------------


def write_layer_table(folder: Path, *, io_type: str, backend: str, input_size: int, output_size: int,
                      layers: list[dict], config_index: dict[str, str], project: str = "myproject") -> Path:
    """The layer table of a freshly written project (hwflow.convert, inside its temp folder)."""
    path = Path(folder) / LAYERS_FILE
    path.write_text(json.dumps({
        "project": project, "io_type": str(io_type), "backend": str(backend),
        "input_size": int(input_size), "output_size": int(output_size),
        "layers": layers, "config_index": config_index,
    }, indent=1))
    return path


def read_layer_table(hls_dir: Path) -> dict:
    """The layer table of a project written by hwflow, or a CsimError saying how to get one."""
    path = Path(hls_dir) / LAYERS_FILE
    if not path.exists():
        raise CsimError(f"{hls_dir}: not an hwflow HLS project ({LAYERS_FILE} missing); run `hwflow hls` first")
    return json.loads(path.read_text())
