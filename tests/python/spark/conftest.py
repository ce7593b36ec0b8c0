"""One SparkSession for every Spark test (local[2], 1 GB driver, its own warehouse directory),
stopped after the last of them: the JVM takes ~10-20 s to start on the shared 2 cores, so the
tests share it. Skipped when pyspark (the `spark` extra) is not installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="the spark extra (pyspark) is not installed")


@pytest.fixture(scope="package")
def spark(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - pyspark.sql.SparkSession
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:  # another package's session: share it, leave it running
        yield active
        return
    # The Python workers must be this interpreter (pyspark's default is `python3` from PATH).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warehouse = Path(tmp_path_factory.mktemp("spark_warehouse"))
    session = (SparkSession.builder.master("local[2]").appName("karl-tests")
               .config("spark.driver.memory", "1g")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
