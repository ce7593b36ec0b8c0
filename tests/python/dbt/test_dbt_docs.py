"""The dbt project documents itself: every mart and source column described, marts under
enforced contracts, a grain in every model description, property files a reader can take in,
freshness only where karl expects to be fed.

The project is parsed by dbt itself (in-process `dbtRunner` `parse`, ~10-15 s), so the checks see
what `dbt docs` sees: yml merged with dbt_project.yml configs. Mart columns are the contract's
(the contract makes the yml list the table's columns: a column missing from it fails the build);
source columns are the raw tables' as the Python DDL creates them (`create_raw_tables`), so a
column added to a raw table and not to its source yml fails here.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dbt.contracts.graph.manifest import Manifest

from python_jobs.warehouse.raw_schema import create_raw_tables

PROJECT_DIR = Path(__file__).resolve().parents[3]
MAX_YML_LINES = 300
# Source tables karl expects to be fed (see the source description and docs/design.md).
FED_SOURCE_TABLES = {"karl.ingest_batches"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    from dbt.cli.main import dbtRunner

    target = tmp_path_factory.mktemp("dbt_docs_target")
    result = dbtRunner().invoke([
        "--quiet", "parse", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"),
    ])
    assert result.success and result.result is not None, f"dbt parse failed: {result.exception}"
    return result.result


def _models(manifest: Manifest, folder: str) -> list:
    return sorted(
        (node for node in manifest.nodes.values()
         if node.resource_type.value == "model" and node.original_file_path.startswith(folder)),
        key=lambda node: node.name,
    )


def _raw_columns() -> dict[str, list[str]]:
    """Columns of every raw table, as the Python DDL creates them in an empty database."""
    con = duckdb.connect(":memory:")
    try:
        create_raw_tables(con)
        rows = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'raw' order by table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def test_every_mart_has_an_enforced_contract(manifest: Manifest) -> None:
    marts = _models(manifest, "models/marts/")
    assert marts, "no mart found under models/marts/"
    uncontracted = [node.name for node in marts if not node.config.contract.enforced]
    assert not uncontracted, f"marts without an enforced contract: {', '.join(uncontracted)}"


def test_every_mart_column_is_described(manifest: Manifest) -> None:
    undescribed = [
        f"{node.name}.{column.name}"
        for node in _models(manifest, "models/marts/")
        for column in node.columns.values()
        if not (column.description or "").strip()
    ]
    assert not undescribed, f"{len(undescribed)} mart columns without a description: {', '.join(undescribed)}"


def test_every_raw_column_is_a_described_source_column(manifest: Manifest) -> None:
    sources = {source.identifier: source for source in manifest.sources.values() if source.schema == "raw"}
    problems: list[str] = []
    for table, columns in _raw_columns().items():
        source = sources.get(table)
        if source is None:
            problems.append(f"raw.{table}: no source table")
            continue
        for column in columns:
            documented = source.columns.get(column)
            if documented is None:
                problems.append(f"{source.source_name}.{table}.{column}: not in the source yml")
            elif not (documented.description or "").strip():
                problems.append(f"{source.source_name}.{table}.{column}: no description")
        extra = sorted(set(source.columns) - set(columns))
        problems += [f"{source.source_name}.{table}.{column}: in the yml, not in the table" for column in extra]
    assert not problems, f"{len(problems)} source column problems:\n  " + "\n  ".join(problems)


def test_every_model_description_states_its_grain(manifest: Manifest) -> None:
    missing = [
        node.name for node in _models(manifest, "models/")
        if "grain" not in (node.description or "").lower()
    ]
    assert not missing, f"model descriptions without a grain: {', '.join(missing)}"


def test_every_source_table_says_what_one_row_is(manifest: Manifest) -> None:
    missing = [
        f"{source.source_name}.{source.name}" for source in manifest.sources.values()
        if "one row per" not in (source.description or "").lower()
    ]
    assert not missing, f"source tables whose description gives no grain: {', '.join(missing)}"


def test_freshness_is_checked_only_where_karl_expects_to_be_fed(manifest: Manifest) -> None:
    checked = {
        f"{source.source_name}.{source.name}" for source in manifest.sources.values()
        if source.freshness is not None
        and (source.freshness.warn_after.count or source.freshness.error_after.count)
    }
    assert checked == FED_SOURCE_TABLES


def test_no_property_file_passes_300_lines() -> None:
    long_files = [
        f"{path.relative_to(PROJECT_DIR)} ({n} lines)"
        for path in sorted((PROJECT_DIR / "models").rglob("*.yml"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_YML_LINES
    ]
    assert not long_files, f"yml files over {MAX_YML_LINES} lines (split by model or area): {', '.join(long_files)}"
