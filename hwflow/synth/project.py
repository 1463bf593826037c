"""The hls4ml project on disk, as the synthesis and bitstream stages read it (hls4ml_config.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hwflow.errors import ConfigError
from hwflow.guard import check_part, check_project_tcl

BACKENDS = ("Vivado", "Vitis", "VivadoAccelerator")


def _load_hls4ml_yaml(path: Path) -> dict:
    """hls4ml_config.yml, read with a safe loader that keeps hls4ml's custom tags as plain values.

    hls4ml writes e.g. `KerasModel: !keras_model '/path'`; yaml.safe_load refuses unknown tags,
    so a SafeLoader subclass maps any `!tag` to the plain scalar/list/dict under it.
    """
    import yaml

    from hwflow.guard import BoundedSafeLoader, load_yaml_text

    class _Loader(BoundedSafeLoader):
        pass

    def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node):
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    _Loader.add_multi_constructor("!", _plain)
    data = load_yaml_text(path.read_text(errors="replace"), str(path), _Loader)  # SafeLoader subclass
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
        cfg_file = hls_dir / "hls4ml_config.yml"
        for needed in (cfg_file, hls_dir / "build_prj.tcl", hls_dir / "project.tcl"):
            if not needed.is_file():
                raise ConfigError(f"{needed}: missing; {hls_dir} is not a complete hls4ml project (re-run the conversion)")
        cfg = _load_hls4ml_yaml(cfg_file)
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
        return self.root / "hls4ml_config.yml"
