"""`karl --engine spark experiment`: every cell runs as `karl --engine spark run` does, so each
cell's rows reach Spark's raw tables, and the experiment closes with one Spark build of the marts
(or one line saying what the Spark warehouse lacks for it). Two 1-round cells on the FBL
warehouse: ~1-2 minutes on 2 shared cores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from python_jobs import warehouse
from python_jobs.config import EngineSettings, RunConfig
from python_jobs.loop.experiment import ExperimentConfig, run_experiment
from python_jobs.spark.warehouse import SparkWarehouse
from python_jobs.warehouse.raw_mirror import RUN_TABLES

pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

CELL = RunConfig(rounds=1, annotator="replay", members=3, tuning_trials=2, budget=10, workers=1, run_id="template")
EXPERIMENT = ExperimentConfig("spark-exp", strategies=("random", "margin"), seeds=(0,), cell=CELL)


def _counts(count: Callable[[str], int], run_id: str) -> dict[str, int]:
    return {table.name: count(f"select count(*) as n from raw.{table.name} where run_id = '{run_id}'")
            for table in RUN_TABLES}


def test_every_cell_of_a_spark_experiment_reaches_spark(spark, fbl_warehouse: Path) -> None:
    # The session's warehouse is shared: whether another module built the label marts there
    # must not decide this test's closing line. Without them, the close says how to get them.
    if spark.catalog.tableExists("marts.fct_human_labels"):
        spark.sql("drop table marts.fct_human_labels")
    lines: list[str] = []
    con = warehouse.connect(fbl_warehouse)
    try:
        run_experiment(con, EXPERIMENT, log=lines.append, show_progress=False, engine=EngineSettings(engine="spark"))
    finally:
        con.close()

    engine = SparkWarehouse.open(EngineSettings(engine="spark"), stop_on_close=False)
    journal = duckdb.connect(str(fbl_warehouse), read_only=True)
    try:
        for cell in EXPERIMENT.cells():
            in_duckdb = _counts(lambda sql: journal.execute(sql).fetchone()[0], cell.run_id)
            on_spark = _counts(lambda sql: engine.query_arrow(sql).column("n")[0].as_py(), cell.run_id)
            assert on_spark == in_duckdb
            assert in_duckdb["selections"] > 0 and in_duckdb["llm_calls"] == 3 * in_duckdb["selections"]
    finally:
        journal.close()
    closing = [line for line in lines if "its marts were not built there" in line]
    assert len(closing) == 1 and "lacks marts.fct_human_labels" in closing[0], lines
    assert not [line for line in lines if line.startswith("Spark: built the run's marts")]
