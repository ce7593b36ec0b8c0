"""Shared pytest fixtures: where the real FBL data is, and a throwaway warehouse file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def fbl_dir() -> Path:
    """The authors' FBL files (never committed): $KARL_FBL_DIR or ../shared/data/fbl_askul."""
    configured = os.environ.get("KARL_FBL_DIR")
    path = Path(configured) if configured else PROJECT_DIR.parent / "shared" / "data" / "fbl_askul"
    if not (path / "FBL2023.tsv").exists():
        pytest.fail(f"FBL data not found at {path}: set KARL_FBL_DIR to the folder holding FBL2023.tsv")
    return path


@pytest.fixture()
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DuckDB file for one test; KARL_DUCKDB_PATH points at it."""
    path = tmp_path / "karl.duckdb"
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(path))
    return path
