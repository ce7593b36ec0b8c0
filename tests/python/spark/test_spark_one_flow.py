"""One engine choice, one flow (issue 25): with `--engine spark` on every command, `karl ingest`
lands its batches in Spark's raw tables too (idempotent), `karl build` refuses in one line while
Spark's raw tables are behind DuckDB's, `karl ingest sync` catches a warehouse up, and a run on
that warehouse gives the figures of the same run on DuckDB.

The whole flow runs once per module, in-process on the test run's one Spark session; each test
reads what one step answered. ~4-6 minutes on 2 shared cores.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hostile_fixtures import karl, one_line

from python_jobs.config import EngineSettings, RunConfig
from python_jobs.warehouse.raw_mirror import INGEST_TABLES, SYNCED_TABLES
from python_jobs.warehouse.raw_schema import RAW_TABLES

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]

RUN = ["--rounds", "1", "--annotator", "replay", "--members", "3", "--budget", "10", "--tuning-trials", "2",
       "--workers", "1", "--seed", "0"]
SPARK = ("--engine", "spark")


def _spark_count(spark, table: str) -> int:  # noqa: ANN001 - a SparkSession
    return int(spark.sql(f"select count(*) as n from raw.{table}").collect()[0]["n"])


def _duckdb_counts(db: Path, tables: list[str]) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {table: con.execute(f"select count(*) from raw.{table}").fetchone()[0] for table in tables}
    finally:
        con.close()


def _round_figures(db: Path, run_id: str) -> list[tuple]:
    """Per round: training labels, ID and OOD macro-F1 (raw.round_metrics' JSON)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("select round_index, metrics_json from raw.round_metrics where run_id = ? "
                           "order by round_index", [run_id]).fetchall()
    finally:
        con.close()
    return [(index, metrics["n_training_labels"], round(metrics["id_macro_f1"], 6), round(metrics["ood_macro_f1"], 6))
            for index, metrics in ((index, json.loads(text)) for index, text in rows)]


@pytest.fixture(scope="module")
def flow(spark, fbl_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Every step of the flow, in order, on a fresh DuckDB file and empty Spark raw tables."""
    folder = tmp_path_factory.mktemp("spark_one_flow")
    db = folder / "karl.duckdb"
    for name in RAW_TABLES:  # the session's Spark warehouse is shared: start this flow from none
        spark.sql(f"drop table if exists raw.{name}")
    shop = folder / "shop.csv"
    shop.write_text("sku,name,dept\n1,Ballpoint pen blue,Stationery\n2,Printer toner black,Office\n")
    steps: dict[str, object] = {"db": db, "spark": spark}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KARL_DUCKDB_PATH", str(db))
        env.setenv("KARL_DBT_TARGET_PATH", str(folder / "target"))
        steps["ingest"] = karl(*SPARK, "ingest", "fbl", "--dir", fbl_dir, expect=0)
        steps["counts_after_ingest"] = {table.name: _spark_count(spark, table.name) for table in INGEST_TABLES}
        steps["ingest_again"] = karl(*SPARK, "ingest", "fbl", "--dir", fbl_dir, expect=0)
        steps["counts_after_again"] = {table.name: _spark_count(spark, table.name) for table in INGEST_TABLES}
        # A catalogue loaded without the engine: DuckDB only, as a warehouse made before Spark.
        karl("ingest", "catalog", shop, "--id-column", "sku", "--title-column", "name",
             "--category-columns", "dept", "--name", "shop", expect=0)
        steps["build_behind"] = karl(*SPARK, "build", expect=1)
        steps["sync"] = karl(*SPARK, "ingest", "sync", expect=0)
        steps["sync_again"] = karl(*SPARK, "ingest", "sync", expect=0)
        steps["build"] = karl(*SPARK, "build", expect=0)
        # The same warehouse for the DuckDB run the Spark run is compared with.
        reference = folder / "duckdb_reference" / "karl.duckdb"
        reference.parent.mkdir()
        shutil.copyfile(db, reference)
        steps["reference"] = reference
        steps["run"] = karl(*SPARK, "run", *RUN, "--run-id", "flow-spark", expect=0)
        steps["published"] = {table.name: _spark_count(spark, table.name) for table in SYNCED_TABLES}
        steps["journal"] = _duckdb_counts(db, [table.name for table in SYNCED_TABLES])
        steps["predict"] = karl(*SPARK, "predict", "--run", "flow-spark", expect=0)
    yield steps


def test_an_ingest_on_the_spark_engine_lands_its_batches_in_spark(flow: dict) -> None:
    journal = _duckdb_counts(flow["db"], [table.name for table in INGEST_TABLES])
    assert flow["counts_after_ingest"]["labelled_judgements"] == journal["labelled_judgements"] > 8000
    assert flow["counts_after_ingest"]["ingest_batches"] == 2  # FBL2023, FBL2024
    assert "Spark:" in flow["ingest"].output and "rows published" in flow["ingest"].output


def test_an_ingest_repeated_on_the_spark_engine_adds_nothing_there(flow: dict) -> None:
    assert flow["counts_after_again"] == flow["counts_after_ingest"]
    assert "Spark: 0 rows published" in one_line(flow["ingest_again"].output)


def test_a_spark_build_behind_duckdb_is_refused_in_one_line(flow: dict) -> None:
    message = one_line(flow["build_behind"].output)
    assert "Spark's raw tables are behind the DuckDB warehouse" in message
    assert "raw.catalog_items 0 of 2 rows" in message and "karl --engine spark ingest sync" in message
    assert "PASS=" not in message  # refused before dbt ran


def test_sync_catches_spark_up_once(flow: dict) -> None:
    assert "raw.catalog_items" in flow["sync"].output and "now level with DuckDB" in flow["sync"].output
    assert "nothing was missing" in one_line(flow["sync_again"].output)


def test_every_raw_table_on_spark_equals_duckdbs_after_the_run(flow: dict) -> None:
    assert flow["published"] == flow["journal"]
    assert flow["journal"]["round_metrics"] == 2 and flow["journal"]["selections"] > 0


def test_the_spark_flows_run_gives_the_duckdb_runs_figures(flow: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same run on a copy of the warehouse as it stood before the Spark run, on DuckDB."""
    from python_jobs.cli.loop import run_loop

    reference = flow["reference"]
    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(reference.parent / "target"))
    config = RunConfig(rounds=1, annotator="replay", members=3, budget=10, tuning_trials=2, workers=1, seed=0,
                       run_id="flow-duckdb")
    run_loop(config, reference, show_progress=False, engine=EngineSettings(engine="duckdb"))
    on_spark_flow = _round_figures(flow["db"], "flow-spark")
    assert len(on_spark_flow) == 2
    assert on_spark_flow == _round_figures(reference, "flow-duckdb")
    assert "Spark: built the run's marts" in flow["run"].output


def test_predict_on_the_spark_engine_builds_the_relations_table_there(flow: dict) -> None:
    spark = flow["spark"]
    con = duckdb.connect(str(flow["db"]), read_only=True)
    try:
        in_duckdb = con.execute("""
            select pair_key, relation_class, relation_source, model_version from marts.fct_pair_relations
            order by pair_key""").fetchall()
        candidates = con.execute("select count(*) from marts.fct_candidate_pairs").fetchone()[0]
    finally:
        con.close()
    on_spark = [tuple(row) for row in spark.sql("""
        select pair_key, relation_class, relation_source, model_version from marts.fct_pair_relations
        order by pair_key""").collect()]
    assert len(in_duckdb) == candidates > 0
    assert on_spark == in_duckdb
    assert "marts.fct_pair_relations and marts.rpt_item_relations built there" in one_line(flow["predict"].output)
