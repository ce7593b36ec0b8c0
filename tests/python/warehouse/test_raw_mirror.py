"""Raw rows published from the DuckDB journal to another warehouse (warehouse/raw_mirror.py): a
run's, an ingest's batches, and the check that refuses a build on a target that is behind
(spark/raw_sync.py); on two DuckDB databases: the target's tables are created without keys, as
Spark's are, so a row published twice would show as two. The same publishing on Spark:
tests/python/spark/test_spark_run_mirror.py and test_spark_one_flow.py."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from mirror_fixtures import DiesBeforeAppending, ProcessDies

from python_jobs.annotation.base import CallRecord
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.config import RunConfig
from python_jobs.loop.run_store import RunStore, now
from python_jobs.warehouse.arrow import arrow_table
from python_jobs.warehouse.engine import DuckDBWarehouse
from python_jobs.warehouse.raw_mirror import (
    INGEST_TABLES,
    RUN_TABLES,
    SYNCED_TABLES,
    RawMirror,
)
from python_jobs.warehouse.raw_schema import create_raw_tables

NAMES = [table.name for table in RUN_TABLES]


@pytest.fixture()
def journal(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "journal.duckdb"))
    create_raw_tables(con)
    yield con
    con.close()


@pytest.fixture()
def target(tmp_path: Path):
    """Raw tables with the journal's columns and no keys."""
    con = duckdb.connect(str(tmp_path / "target.duckdb"))
    create_raw_tables(con)
    for name in (table.name for table in SYNCED_TABLES):
        con.execute(f"create table raw.{name}_keyless as select * from raw.{name} limit 0")
        con.execute(f"drop table raw.{name}")
        con.execute(f"alter table raw.{name}_keyless rename to {name}")
    yield DuckDBWarehouse(con, tmp_path / "target.duckdb")
    con.close()


def _round(con: duckdb.DuckDBPyConnection, run_id: str, round_index: int) -> None:
    """What a round writes: members, a selection, its K calls, metrics, the steps."""
    store = RunStore(con, run_id)
    store.register(RunConfig(run_id=run_id, rounds=2))
    store.store_artifact("features", {"feature_set": "char13"})
    store.record_bag_members(round_index, [{"substitute": 3, "other": 3}])
    pair = f"shop:a{round_index}~shop:b{round_index}"
    store.record_selections([(run_id, round_index, pair, f"shop:a{round_index}", f"shop:b{round_index}", "fine 1",
                              "margin", 0.5, "other", now())])
    sink = DuckDBCallSink(con)
    for attempt in (1, 2, 3):
        sink.record(CallRecord(run_id=run_id, round_index=round_index, pair_key=pair, item_a_id=f"shop:a{round_index}",
                               item_b_id=f"shop:b{round_index}", attempt_index=attempt, annotator_kind="simulated",
                               model="sim", prompt_version="v1", prompt_hash="h", is_valid=True,
                               relation_label="other"))
    store.record_round_metrics(round_index, {"n_calls": 3})
    for step in ("train", "select", "annotate", "build", "evaluate"):
        store.mark_done(round_index, step, 0.1)


def _rows(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, list[tuple]]:
    return {name: sorted(con.execute(f"select * from raw.{name} where run_id = ?", [run_id]).fetchall(), key=repr)
            for name in NAMES}


def test_a_publish_copies_exactly_the_runs_rows_and_a_second_publish_adds_none(journal, target) -> None:
    _round(journal, "run-1", 0)
    _round(journal, "other-run", 0)
    report = RawMirror(journal, target, "run-1").publish()
    assert report.rows["llm_calls"] == 3 and report.rows["run_steps"] == 5
    assert _rows(target.con, "run-1") == _rows(journal, "run-1")
    assert target.con.execute("select count(*) from raw.runs where run_id <> 'run-1'").fetchone() == (0,)
    assert RawMirror(journal, target, "run-1").publish().total == 0


def test_each_publish_appends_only_what_the_run_added_since_the_last(journal, target) -> None:
    mirror = RawMirror(journal, target, "run-1")
    _round(journal, "run-1", 0)
    first = mirror.publish()
    _round(journal, "run-1", 1)
    second = mirror.publish()
    assert (first.rows["selections"], second.rows["selections"]) == (1, 1)
    assert second.rows["runs"] == 0 and second.rows["run_artifacts"] == 0
    assert _rows(target.con, "run-1") == _rows(journal, "run-1")


@pytest.mark.parametrize("dies_at", ["bag_members", "selections", "llm_calls", "run_steps"])
def test_a_process_dying_between_the_journal_commit_and_the_append_loses_and_duplicates_nothing(
        journal, target, dies_at: str) -> None:
    _round(journal, "run-1", 0)
    RawMirror(journal, target, "run-1").publish()
    _round(journal, "run-1", 1)
    with pytest.raises(ProcessDies):
        RawMirror(journal, DiesBeforeAppending(target, dies_at), "run-1").publish()
    assert _rows(target.con, "run-1") != _rows(journal, "run-1")
    RawMirror(journal, target, "run-1").publish()  # the resumed process
    assert _rows(target.con, "run-1") == _rows(journal, "run-1")


def test_a_failed_append_makes_the_same_mirror_read_the_targets_keys_again(journal, target) -> None:
    _round(journal, "run-1", 0)
    dying = DiesBeforeAppending(target, "llm_calls")
    mirror = RawMirror(journal, dying, "run-1")
    with pytest.raises(ProcessDies):
        mirror.publish()
    dying.table = "none"
    mirror.publish()
    assert _rows(target.con, "run-1") == _rows(journal, "run-1")


def test_a_batch_api_journal_row_is_published_once_its_batch_is_final(journal, target) -> None:
    journal.execute("insert into raw.llm_batches values ('b1', 'run-1', 0, 1, '[]', null, 'submitting', null, "
                    "now()::timestamp, null)")
    mirror = RawMirror(journal, target, "run-1")
    assert mirror.publish().rows["llm_batches"] == 0
    journal.execute("update raw.llm_batches set status = 'recorded', batch_id = 'batch_9' where batch_key = 'b1'")
    assert mirror.publish().rows["llm_batches"] == 1
    assert target.con.execute("select batch_id, status from raw.llm_batches").fetchall() == [("batch_9", "recorded")]


def test_closing_on_a_warehouse_never_built_says_how_to_build_it(journal, target) -> None:
    """The target holds raw tables only: no dbt build is tried (it would fail on the missing
    relations); one line names them and the two commands that make them."""
    from types import SimpleNamespace

    from python_jobs.spark.run_publishing import SPARK_BASE_RELATIONS, SparkRunMirror

    lines: list[str] = []
    run = SimpleNamespace(con=journal, config=RunConfig(run_id="never-built"), log=lines.append)
    SparkRunMirror(run, warehouse=target).build_marts({})
    message = lines[-1]
    assert all(relation in message for relation in SPARK_BASE_RELATIONS)
    assert "karl --engine spark ingest sync" in message and "karl --engine spark build" in message
    assert "karl --engine spark run --resume never-built" in message


def _ingest_batch(con: duckdb.DuckDBPyConnection, batch_id: str, n_items: int) -> None:
    """What an ingest commits at once: a catalogue's items, a quarantined line, the batch record."""
    con.executemany("insert into raw.catalog_items values ('shop', ?, ?, 'dept', null, null, ?, ?)",
                    [(f"{batch_id}-{i}", f"item {i}", batch_id, now()) for i in range(n_items)])
    con.execute("insert into raw.quarantine values (?, 'catalog', 'shop.csv', 3, 'x,,', 'blank title', ?)",
                [batch_id, now()])
    con.execute("insert into raw.ingest_batches values (?, 'catalog', 'shop.csv', ?, ?, 1, ?)",
                [batch_id, batch_id, n_items, now()])


def test_ingest_batches_are_published_whole_once_even_after_a_death_mid_publish(journal, target) -> None:
    _ingest_batch(journal, "b1", 3)
    with pytest.raises(ProcessDies):
        RawMirror(journal, DiesBeforeAppending(target, "ingest_batches"), None, INGEST_TABLES).publish()
    _ingest_batch(journal, "b2", 2)
    report = RawMirror(journal, target, None, INGEST_TABLES).publish()  # the next process
    assert report.rows["catalog_items"] == 2 and report.rows["ingest_batches"] == 2
    assert RawMirror(journal, target, None, INGEST_TABLES).publish().total == 0
    for name in ("catalog_items", "quarantine", "ingest_batches"):
        published = target.query_arrow(f"select * from raw.{name}").to_pylist()
        assert sorted(map(repr, published)) == sorted(
            map(repr, arrow_table(journal.execute(f"select * from raw.{name}")).to_pylist()))


def test_a_target_behind_the_journal_is_refused_with_the_tables_and_their_counts(journal, target, tmp_path) -> None:
    from python_jobs.spark.raw_sync import (
        SparkBehindError,
        lagging_tables,
        refuse_when_behind,
    )

    _ingest_batch(journal, "b1", 3)
    RawMirror(journal, target, None, INGEST_TABLES).publish()
    _ingest_batch(journal, "b2", 2)
    journal.close()
    journal_file = tmp_path / "journal.duckdb"
    assert [(lag.name, lag.duckdb_rows, lag.spark_rows) for lag in lagging_tables(journal_file, target)] == [
        ("catalog_items", 5, 3), ("quarantine", 2, 1), ("ingest_batches", 2, 1)]
    with pytest.raises(SparkBehindError) as refused:
        refuse_when_behind(journal_file, target)
    assert "raw.catalog_items 3 of 5 rows" in str(refused.value)
    assert "karl --engine spark ingest sync" in str(refused.value)
    refuse_when_behind(tmp_path / "no_such.duckdb", target)  # a Spark-only warehouse: nothing to compare
