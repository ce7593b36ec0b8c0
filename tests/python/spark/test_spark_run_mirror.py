"""`karl --engine spark run` publishes the run's raw rows to Spark (spark/run_publishing.py,
warehouse/raw_mirror.py): after a run that died between a DuckDB commit and its Spark append, and
after its resume, Spark's raw tables hold exactly the run's rows of the DuckDB journal, none twice.

One short replay run on the FBL warehouse (1 round, 3 members): ~1-2 minutes on 2 shared cores,
most of it the loop itself (tuning, the candidate pool's dbt build, the round build)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from mirror_fixtures import DiesBeforeAppending, ProcessDies

from python_jobs import warehouse
from python_jobs.annotation.factory import make_annotator
from python_jobs.config import EngineSettings, RunConfig
from python_jobs.loop.runner import Orchestrator
from python_jobs.spark.run_publishing import SparkRunMirror
from python_jobs.spark.warehouse import SparkWarehouse
from python_jobs.warehouse.raw_mirror import RUN_TABLES, RawMirror

# Selected with `pytest -m spark` (the marker is registered in pyproject.toml).
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

RUN_ID = "spark-mirror"
CONFIG = RunConfig(strategy="margin", rounds=1, annotator="replay", seed=3, run_id=RUN_ID, members=3,
                   tuning_trials=2, budget=10, workers=1)


def _run(db: Path, target: object | None = None) -> None:
    con = warehouse.connect(db)
    try:
        orchestrator = Orchestrator(con, CONFIG, annotator_factory=lambda o: make_annotator(o.con, o.config),
                                    show_progress=False, log=lambda _: None, closing_build=False,
                                    engine=EngineSettings(engine="spark"))
        if target is not None:
            orchestrator.spark_run = SparkRunMirror(orchestrator, warehouse=target)
        orchestrator.run()
    finally:
        con.close()


def _plain(value: object) -> object:
    """Spark hands timestamps back zoned (UTC, the session's zone); DuckDB's are naive UTC."""
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def _journal(db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {table.name: sorted(con.execute(f"select * from raw.{table.name} where run_id = ?", [RUN_ID]).fetchall(),
                                   key=repr) for table in RUN_TABLES}
    finally:
        con.close()


def _on_spark(engine: SparkWarehouse, db: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = {table.name: [row[0] for row in con.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ? "
            "order by ordinal_position", [table.name]).fetchall()] for table in RUN_TABLES}
    finally:
        con.close()
    return {name: sorted((tuple(_plain(value) for value in row.values()) for row in engine.query_arrow(
        f"select {', '.join(names)} from raw.{name} where run_id = '{RUN_ID}'").to_pylist()), key=repr)
        for name, names in columns.items()}


def test_spark_holds_exactly_the_runs_rows_after_a_death_between_commit_and_append_and_a_resume(
        spark, fbl_warehouse: Path) -> None:
    engine = SparkWarehouse.open(EngineSettings(engine="spark"), stop_on_close=False)
    # Round 0's select step is committed in DuckDB (its selections, pool predictions, its run_steps
    # row); the process dies appending the selections to Spark.
    with pytest.raises(ProcessDies):
        _run(fbl_warehouse, DiesBeforeAppending(engine, "selections"))
    journal, published = _journal(fbl_warehouse), _on_spark(engine, fbl_warehouse)
    assert journal["selections"] and journal["pool_predictions"]
    assert published["selections"] == [] and published["pool_predictions"] == journal["pool_predictions"]
    assert published["run_steps"] == [row for row in journal["run_steps"] if row[2] != "select"]

    _run(fbl_warehouse)  # the resumed process: --engine spark run --resume
    journal = _journal(fbl_warehouse)
    assert (1, "evaluate") in {(row[1], row[2]) for row in journal["run_steps"]}
    assert len(journal["llm_calls"]) == 3 * len(journal["selections"]) > 0
    assert _on_spark(engine, fbl_warehouse) == journal

    # Another process publishing the finished run appends nothing.
    con = warehouse.connect(fbl_warehouse)
    try:
        assert RawMirror(con, engine, RUN_ID).publish().total == 0
    finally:
        con.close()
