"""The warehouse interface (python_jobs/warehouse/engine.py) on DuckDB, and how the engine is
chosen (config.engine_settings_from_env, `karl --engine`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from python_jobs.cli import app
from python_jobs.config import EngineSettings, engine_settings_from_env
from python_jobs.warehouse.engine import DuckDBWarehouse, Warehouse, open_warehouse
from python_jobs.warehouse.identifiers import relation_sql


def test_the_engine_is_duckdb_unless_karl_engine_or_the_option_says_spark() -> None:
    assert engine_settings_from_env({}) == EngineSettings("duckdb")
    assert engine_settings_from_env({}).target is None
    spark = engine_settings_from_env({"KARL_ENGINE": " Spark "})
    assert (spark.engine, spark.target) == ("spark", "spark")
    assert engine_settings_from_env({"KARL_ENGINE": "spark"}, {"engine": "duckdb"}).engine == "duckdb"
    assert engine_settings_from_env({"KARL_ENGINE": "spark", "KARL_SPARK_DBT_TARGET": "databricks"}).target == \
        "databricks"
    with pytest.raises(ValueError, match="engine must be one of duckdb, spark"):
        engine_settings_from_env({"KARL_ENGINE": "postgres"})


def test_an_unknown_engine_in_the_environment_is_a_usage_error_not_a_traceback(monkeypatch) -> None:
    monkeypatch.setenv("KARL_ENGINE", "postgres")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert "engine must be one of duckdb, spark, not 'postgres'" in result.output
    assert "Traceback" not in result.output


def test_relation_sql_takes_schema_dot_name_only() -> None:
    assert relation_sql("marts.fct_candidate_pairs", ["pair_key"]) == "select pair_key from marts.fct_candidate_pairs"
    with pytest.raises(ValueError, match="not a relation name"):
        relation_sql("marts.x; drop table raw.runs")


def test_duckdb_warehouse_appends_arrow_rows_by_column_name_and_reads_a_relation(db_path: Path) -> None:
    with open_warehouse(EngineSettings("duckdb"), db_path) as engine:
        assert isinstance(engine, DuckDBWarehouse) and isinstance(engine, Warehouse)
        engine.con.execute("create table raw.karl_engine_probe (run_id varchar, round_index integer, "
                           "score double, note varchar)")
        rows = pa.table({"score": [0.5, 0.25], "run_id": ["r1", "r1"], "round_index": [0, 1]})
        assert engine.append_arrow("raw.karl_engine_probe", rows) == 2
        back = engine.read_arrow("raw.karl_engine_probe", ["run_id", "round_index", "score", "note"])
        assert back.to_pylist() == [{"run_id": "r1", "round_index": 0, "score": 0.5, "note": None},
                                    {"run_id": "r1", "round_index": 1, "score": 0.25, "note": None}]
        assert engine.query_arrow("select count(*) as n from raw.karl_engine_probe").to_pylist() == [{"n": 2}]
        assert engine.has_relation("raw.karl_engine_probe") and not engine.has_relation("marts.karl_engine_probe")
