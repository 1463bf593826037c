"""Fixed output locations under build/<model>/ (one place, so every stage agrees)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "hls_configs"


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and os.replace: a reader
    (or a killed run) never sees half a file."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:  # e.g. `path` is a folder: the temporary file goes too
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report_files(out_dir: Path, stem: str, markdown: str, data, plot) -> dict[str, Path]:
    """<stem>.md / .json / .png built in a temporary folder, then moved into place (nothing
    half-written); `plot(path)` draws the PNG. Returns {"md", "json", "png"} -> final paths."""
    import json
    import tempfile

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {k: f"{stem}.{k}" for k in ("md", "json", "png")}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{stem}-") as tmp:
        tmp = Path(tmp)
        (tmp / names["md"]).write_text(markdown)
        (tmp / names["json"]).write_text(json.dumps(data, indent=1, default=float) + "\n")
        plot(tmp / names["png"])
        for n in names.values():
            os.replace(tmp / n, out_dir / n)
    return {k: out_dir / n for k, n in names.items()}


def build_root() -> Path:
    """build/ in the repository, or $HWFLOW_BUILD_DIR (tests point it at a temporary folder)."""
    return Path(os.environ.get("HWFLOW_BUILD_DIR", REPO_ROOT / "build"))


@dataclass(frozen=True)
class ModelPaths:
    """Where each stage of one model's flow reads and writes."""

    root: Path

    @classmethod
    def for_model(cls, name: str) -> "ModelPaths":
        return cls(build_root() / name)

    @property
    def model(self) -> Path:  # trained weights, keyed by config + data hash
        return self.root / "model"

    @property
    def hls(self) -> Path:  # the hls4ml project
        return self.root / "hls"

    @property
    def csim(self) -> Path:  # compiled C-sim libraries, keyed by source hash
        return self.root / "csim"

    @property
    def reports(self) -> Path:  # report.md, report.json, parity.json, estimate.json, *.png
        return self.root / "reports"

    @property
    def deploy(self) -> Path:  # bitstream, hardware handoff, driver
        return self.root / "deploy"
