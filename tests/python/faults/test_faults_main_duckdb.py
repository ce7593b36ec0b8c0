"""A warehouse file named after a DuckDB catalogue (main.duckdb: DuckDB names its catalogue
main_db) works for ingest, build and a run: the same rounds and rows as karl.duckdb."""

from __future__ import annotations

from pathlib import Path

import pytest

from fault_tools import RUN_ARGS, RUN_ID, karl, raw_counts, round_metrics


@pytest.mark.slow
def test_main_duckdb_ingests_builds_and_runs(fbl_dir: Path, reference_run: tuple[dict, list], tmp_path: Path) -> None:
    db = tmp_path / "main.duckdb"
    for command in (["ingest", "fbl", "--dir", fbl_dir], ["build"], ["run", *RUN_ARGS, "--run-id", RUN_ID]):
        ran = karl(tmp_path, *command, "--db", db)
        assert ran.returncode == 0 and "Traceback" not in ran.output, ran.output[-3000:]
    counts, metrics = reference_run
    assert round_metrics(db) == metrics
    # The reference ran on the session template, ingested in-process (no great-expectations results
    # kept) and holding the item vectors and categories of every seed the tests use; this warehouse
    # holds its one run's. The same round metrics show the run used the same inputs.
    prepared = {"gx_validation_results", "item_vectors", "item_sparse_vectors", "item_categories"}
    assert {t: n for t, n in raw_counts(db).items() if t not in prepared} == \
        {t: n for t, n in counts.items() if t not in prepared}
    assert all(raw_counts(db)[t] > 0 for t in prepared - {"gx_validation_results"})


@pytest.mark.parametrize("stem", ["main", "temp", "system", "MAIN", "memory", "my.db"])
def test_dbt_builds_into_the_catalogue_duckdb_names_the_file(stem: str, tmp_path: Path) -> None:
    """A one-model build on each name that DuckDB renames (or that dbt-duckdb could misread)."""
    from python_jobs import warehouse

    db = tmp_path / f"{stem}.duckdb"
    with warehouse.connection(db) as con:
        catalogue = con.execute("select current_database()").fetchone()[0]
        result = warehouse.run_dbt(["run", "--select", "stg_karl__runs"], db_path=db,
                                   target_path=tmp_path / "target", raise_on_failure=False)
        assert result.success, result.failures
        built = con.execute("select table_catalog from information_schema.tables where table_name = 'stg_karl__runs'"
                            ).fetchall()
    assert built == [(catalogue,)]
