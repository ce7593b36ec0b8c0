"""Item features as a Spark job (python_jobs/spark/features.py) and the Spark side of the
warehouse interface (python_jobs/spark/warehouse.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from python_jobs.features.sparse import SparseCharTfidf
from python_jobs.spark.features import collect_item_vectors, fit_on_driver, sparse_item_vectors, vocabulary_size
from python_jobs.spark.warehouse import SparkWarehouse
from python_jobs.warehouse.engine import Warehouse

# Selected with `pytest -m spark` (the marker is registered in pyproject.toml).
pytestmark = pytest.mark.spark

TITLES = ["ボールペン 黒 0.5mm 10本", "ボールペン 替芯 黒", "コピー用紙 A4 500枚", "Copy paper A4, 5 reams",
          "", "ホッチキス 針 No.10", "stapler No.10 staples", "消しゴム", None, "A4 ファイル 10冊"]


def test_spark_item_features_equal_the_driver_featurisers_vectors_bit_for_bit(spark) -> None:
    featuriser = SparseCharTfidf()
    ids = [f"shop:{i:03d}" for i in range(len(TITLES))]
    items = spark.createDataFrame(pa.table({"item_id": ids, "title": TITLES,
                                            "catalog": ["fbl"] * 5 + ["items"] * 5})).repartition(3)
    vectoriser = fit_on_driver(items, featuriser)
    vectors = collect_item_vectors(sparse_item_vectors(items, vectoriser), vocabulary_size(vectoriser))
    expected = featuriser.fit_transform([title or "" for title in TITLES], ["fbl"] * 5 + ["items"] * 5)
    assert vectors.ids.tolist() == ids
    assert vectors.matrix.shape == expected.shape
    np.testing.assert_array_equal(vectors.matrix.indptr, expected.indptr)
    np.testing.assert_array_equal(vectors.matrix.indices, expected.indices)
    np.testing.assert_array_equal(vectors.matrix.data, expected.data)


def test_spark_warehouse_appends_by_column_name_and_reads_back_as_arrow(spark) -> None:
    spark.sql("create database if not exists raw")
    spark.sql("create table raw.karl_engine_probe (run_id string, round_index int, score double, note string) "
              "using parquet")
    engine = SparkWarehouse(spark)
    assert isinstance(engine, Warehouse)
    rows = pa.table({"score": [0.5, 0.25], "run_id": ["r1", "r1"], "round_index": [0, 1]})  # no note, other order
    assert engine.append_arrow("raw.karl_engine_probe", rows) == 2
    back = engine.read_arrow("raw.karl_engine_probe", ["run_id", "round_index", "score", "note"])
    assert sorted(back.to_pylist(), key=lambda row: row["round_index"]) == [
        {"run_id": "r1", "round_index": 0, "score": 0.5, "note": None},
        {"run_id": "r1", "round_index": 1, "score": 0.25, "note": None}]
    assert engine.query_arrow("select count(*) as n from raw.karl_engine_probe").to_pylist() == [{"n": 2}]
    assert engine.has_relation("raw.karl_engine_probe") and not engine.has_relation("marts.karl_engine_probe")
    with pytest.raises(ValueError, match="no column 'scor'"):
        engine.append_arrow("raw.karl_engine_probe", pa.table({"scor": [1.0]}))
    spark.sql("drop table raw.karl_engine_probe")
