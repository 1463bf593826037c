"""Shared test fixtures: a private build/ folder and the paths of the shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hwflow.paths import REPO_ROOT

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED = REPO_ROOT.parent / "shared"
CIFAR = SHARED / "data" / "cifar10-jpg"
FIXTURES = SHARED / "fixtures" / "hls-reports"


@pytest.fixture
def build_dir(tmp_path, monkeypatch) -> Path:
    """Redirect build/ (HWFLOW_BUILD_DIR) into a fresh temporary folder."""
    monkeypatch.setenv("HWFLOW_BUILD_DIR", str(tmp_path / "build"))
    return tmp_path / "build"


@pytest.fixture(scope="session")
def session_build(tmp_path_factory) -> Path:
    """One build/ shared by the slow end-to-end tests (trained weights and C-sim libraries are reused)."""
    return tmp_path_factory.mktemp("build")


def write_config(tmp_path: Path, text: str, name: str = "cfg") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path
