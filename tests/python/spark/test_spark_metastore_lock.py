"""A second process on a local Spark warehouse ends in one karl message, not Spark's ~9,000 lines
of Java log: the Derby metastore admits one process at a time (spark/session.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.timeout(300)]

OPEN = """
from python_jobs.spark.session import SparkWarehouseLockedError, spark_session
try:
    spark_session()
except SparkWarehouseLockedError as error:
    print("LOCKED:", error)
"""


def test_a_second_process_on_a_held_spark_warehouse_gets_one_message(spark) -> None:
    """This process's session (the `spark` fixture) holds the metastore; a second process on the
    same warehouse folder is refused before its JVM starts."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    second = subprocess.run([sys.executable, "-c", OPEN], env=env, capture_output=True, text=True, timeout=300)
    assert "LOCKED: The Spark warehouse" in second.stdout, second.stdout + second.stderr[-2000:]
    assert os.environ["KARL_SPARK_WAREHOUSE_DIR"] in second.stdout and "KARL_SPARK_WAREHOUSE_DIR" in second.stdout
    assert len(second.stderr.splitlines()) < 20, "refused before Spark starts, not after its Java log"
