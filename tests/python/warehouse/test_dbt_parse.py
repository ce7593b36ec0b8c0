"""The parsed dbt project a run's builds reuse (warehouse/dbt_parse.py): a later process re-reads
the parse of the same vars through dbt's partial parsing, whatever the warehouse file's folder;
other vars parse in a folder of their own; old folders go. Three full parses (~5 s each)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from python_jobs.warehouse import dbt_parse
from python_jobs.warehouse.connection import PROJECT_DIR

def _options(seed: int) -> list[str]:
    return ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--vars", json.dumps({"karl_sampler_seed": seed})]


def _parsed_paths(parses: Path) -> dict[str, int]:
    """Per parse folder, how many files dbt's last parse there read anew (0: all re-used)."""
    return {folder.name: json.loads((folder / "perf_info.json").read_text())["parsed_path_count"]
            for folder in parses.iterdir()}


def _fresh_process_parse(seed: int, db: Path) -> object:
    """A parse as a new process would do it: nothing kept in memory."""
    dbt_parse._MANIFESTS.clear()
    manifest, error = dbt_parse.parsed_manifest(_options(seed), None, db)
    assert manifest is not None, error
    return manifest


def test_a_later_process_rereads_the_parse_of_its_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parses = tmp_path / "parses"
    monkeypatch.setenv("KARL_DBT_PARSE_PATH", str(parses))
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(tmp_path / "elsewhere.duckdb"))
    first = _fresh_process_parse(1, tmp_path / "a" / "shop.duckdb")
    (folder, full_parse), = _parsed_paths(parses).items()
    assert full_parse > 100  # the whole project
    assert os.environ["KARL_DUCKDB_PATH"] == str(tmp_path / "elsewhere.duckdb")  # restored after the parse

    again = _fresh_process_parse(1, tmp_path / "b" / "shop.duckdb")  # a copy in another folder
    assert _parsed_paths(parses) == {folder: 0}
    assert sorted(again.nodes) == sorted(first.nodes)
    model = next(node for node in again.nodes.values() if node.name == "fct_candidate_pairs")
    assert model.database == "shop"  # named after the file, as dbt-duckdb names the open database

    _fresh_process_parse(2, tmp_path / "a" / "shop.duckdb")  # other vars: a parse of their own
    counts = _parsed_paths(parses)
    assert len(counts) == 2 and counts[folder] == 0 and max(counts.values()) > 100

    monkeypatch.setattr(dbt_parse, "KEPT_PARSES", 1)  # only the newest folder stays
    _fresh_process_parse(2, tmp_path / "a" / "shop.duckdb")
    (kept, reread), = _parsed_paths(parses).items()
    assert kept != folder and reread == 0
    _fresh_process_parse(1, tmp_path / "a" / "shop.duckdb")  # its folder went: parsed anew
    assert _parsed_paths(parses) == {folder: full_parse}
