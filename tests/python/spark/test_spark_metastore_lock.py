"""A second process on a local Spark warehouse ends in one karl message, not Spark's ~9,000 lines
of Java log: the Derby metastore admits one process at a time (spark/session.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.timeout(300)]

HOLD = """
import sys, time
from python_jobs.spark.session import spark_session
spark_session().sql("show databases").collect()
print("up", flush=True)
sys.stdin.read()
"""
OPEN = """
from python_jobs.spark.session import SparkWarehouseLockedError, spark_session
try:
    spark_session()
except SparkWarehouseLockedError as error:
    print("LOCKED:", error)
"""


def test_a_second_process_on_a_held_spark_warehouse_gets_one_message(tmp_path: Path) -> None:
    env = {**os.environ, "KARL_SPARK_WAREHOUSE_DIR": str(tmp_path / "spark"), "PYTHONWARNINGS": "ignore"}
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout.readline().strip() == "up"
        started = time.perf_counter()
        second = subprocess.run([sys.executable, "-c", OPEN], env=env, capture_output=True, text=True, timeout=120)
        assert "LOCKED: The Spark warehouse" in second.stdout
        assert "KARL_SPARK_WAREHOUSE_DIR" in second.stdout
        assert len(second.stderr.splitlines()) < 20, "refused before Spark starts, not after its Java log"
        assert time.perf_counter() - started < 60
    finally:
        holder.stdin.close()
        holder.wait(timeout=120)
