"""What `karl --engine spark run` adds to a run: its raw rows published to Spark after every step,
and its marts built on Spark when it closes (issue 16).

The DuckDB file stays the run's journal and the loop's working copy (the bookkeeping SQL, the
per-round dbt build the next round trains from, the LLM call log and its resume guarantees);
`warehouse/raw_mirror.RawMirror` copies the rows the run added to Spark's raw tables of the same
names, idempotently. When the run closes, the marts downstream of the run's tables are built on
Spark (`SPARK_RUN_BUILD_ARGS`), so Spark's lineage, label and report marts show the run.

Why not a Spark build every round: nothing in the loop reads Spark's marts (the next round
trains from DuckDB's), and a Spark build pays a query plan and a job per statement. On The
Complete Journey (local[2], load 2-4) the round build's selection took 14 s on Spark once warm
(34 s the first time) against 1.6-1.8 s on DuckDB, and the run's marts 53 s: a Spark build
every round would cost a 20-round run ~5 min for marts nobody reads until it ends. Publishing
after each of a 3-round run's 19 steps and phases cost 26 s in all (60,754 rows, 60,000 of them
pool predictions).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import duckdb

from python_jobs.config import EngineSettings, RunConfig
from python_jobs.warehouse.engine import Warehouse
from python_jobs.warehouse.raw_mirror import RUN_TABLES, SHARED_TABLES, RawMirror

# The marts a run changes, built on Spark when it closes: everything downstream of the tables the
# run writes (RUN_TABLES; 36 models with their tests), except the candidate pool and its views
# (the loop builds and reads it in DuckDB; its categories are not run rows).
SPARK_RUN_BUILD_ARGS = [
    "build",
    "--select", *(f"source:karl.{table.name}+" for table in RUN_TABLES if table.name != "llm_batches"),
    "source:karl_llm.llm_batches+",
    "--exclude", "path:models/intermediate/loop", "fct_candidate_pairs", "resource_type:seed",
    "resource_type:unit_test",
    # built by `karl --engine spark predict`, with the candidate pool they read
    "path:models/marts/prediction",
]
# What the run's marts read besides the run's tables: built once on Spark by `karl --engine spark
# build` (after `karl --engine spark ingest ...`, or `... ingest sync` for an older warehouse).
SPARK_BASE_RELATIONS = ("marts.fct_human_labels", "marts.fct_eval_sets", "marts.dim_items", "seeds.fbl_classes",
                        "staging.stg_karl__judge_samples", "staging.stg_karl__human_reviews")


class SparkRun(Protocol):
    """What the Spark side needs of a run (loop.runner.Orchestrator)."""

    con: duckdb.DuckDBPyConnection
    config: RunConfig
    engine: EngineSettings
    log: Callable[[str], None]


class SparkRunMirror:
    """The run's Spark side: the warehouse (opened on first use: the process's session) and the
    mirror of the run's rows; counts what publishing costs, for the run's closing line."""

    def __init__(self, run: SparkRun, warehouse: Warehouse | None = None) -> None:
        self.run = run
        # None: the process's Spark session, opened on first use.
        self._warehouse = warehouse
        self._mirror: RawMirror | None = None
        self.publishes = 0
        self.rows = 0
        self.seconds = 0.0

    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            from python_jobs.spark.warehouse import SparkWarehouse

            # The session is the process's (karl run stops it when the run ends), not this object's.
            self._warehouse = SparkWarehouse.open(self.run.engine, stop_on_close=False)
        return self._warehouse

    def mirror(self) -> RawMirror:
        if self._mirror is None:
            self._mirror = RawMirror(self.run.con, self.warehouse(), self.run.config.run_id)
        return self._mirror

    def publish(self) -> None:
        """The rows the run added since the last publish, into Spark's raw tables."""
        report = self.mirror().publish()
        self.publishes += 1
        self.rows += report.total
        self.seconds += report.seconds

    def build_marts(self, dbt_vars: dict[str, object]) -> None:
        """The run's marts on Spark (SPARK_RUN_BUILD_ARGS), when the Spark warehouse holds what
        they read besides the run (the human labels, the evaluation split, the seeds); else one
        line saying how to get it. Fails the run's close like the DuckDB closing build."""
        log = self.run.log
        warehouse = self.warehouse()
        # What the run filled but does not own (features, categories, its recorded model), once.
        shared = RawMirror(self.run.con, warehouse, None, SHARED_TABLES).publish()
        log(f"Spark: published {self.rows:,} rows of run {self.run.config.run_id} in {self.publishes} publishes, "
            f"{self.seconds:.1f} s, and {shared.total:,} rows of shared tables (features, categories, models) "
            f"in {shared.seconds:.1f} s.")
        missing = [relation for relation in SPARK_BASE_RELATIONS if not warehouse.has_relation(relation)]
        if missing:
            log(f"Spark: the run's raw rows are in Spark, but its marts were not built there: the Spark "
                f"warehouse lacks {', '.join(missing)}. Copy and build it once (`karl --engine spark "
                "ingest sync`, then `karl --engine spark build`); "
                f"`karl --engine spark run --resume {self.run.config.run_id}` then builds the run's marts.")
            return
        started = time.perf_counter()
        warehouse.run_dbt(SPARK_RUN_BUILD_ARGS, dbt_vars=dbt_vars)
        log(f"Spark: built the run's marts in {time.perf_counter() - started:.0f} s.")

