"""The Spark scripts of benchmarks/ run at a tiny size (issue 24; the others:
tests/python/benchmarks/test_benchmarks_smoke.py). spark_scoring.py and spark_select_parity.py
run in this process through their main(argv), on the test run's one SparkSession (the `spark`
fixture: a JVM costs ~10-20 s of the 2 cores to start); spark_run_parity.py and
spark_run_mirror.py drive `karl --engine spark run` in processes of their own, so they run as
subprocesses. Each test checks the script printed its figures, not only that it ran."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from python_jobs import warehouse
from python_jobs.annotation.factory import make_annotator
from python_jobs.config import RunConfig
from python_jobs.loop.runner import Orchestrator

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.timeout(1800)]

PROJECT_DIR = Path(__file__).resolve().parents[3]
BENCHMARKS = PROJECT_DIR / "benchmarks"
NUMBER = r"[\d,]+(?:\.\d+)?"


def load_script(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module (its own sys.path set-up runs on import)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 1500) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=PROJECT_DIR,
                            env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
                            check=False)
    assert result.returncode == 0, (f"{script} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
                                    f"\n--- stderr\n{result.stderr[-4000:]}")
    return result.stdout


def test_spark_scoring_prints_both_engines_and_the_cluster_prediction(spark, capsys) -> None:
    load_script("spark_scoring").main(["--sizes", "100000"])
    out = capsys.readouterr().out
    assert re.search(rf"^\s+duckdb\s+{NUMBER} \|\s+{NUMBER} s\s+{NUMBER} \|\s+{NUMBER} s", out, re.MULTILINE), out
    assert re.search(rf"^\s+spark\s+{NUMBER} \|\s+{NUMBER} s\s+{NUMBER} \|\s+{NUMBER} s", out, re.MULTILINE), out
    assert re.search(rf"spark scoring job on 10k pairs \(its fixed cost\): {NUMBER} s", out), out
    assert re.search(rf"^\s+N = 64:\s+{NUMBER} s$", out, re.MULTILINE), out
    assert not spark.sparkContext._jsc.sc().isStopped()  # the shared session is left running


def test_spark_select_parity_prints_a_line_per_round(spark, fbl_warehouse: Path, capsys) -> None:
    # The run it redoes: one round of 10 replay-annotated pairs on the FBL pool, 2 members.
    config = RunConfig(strategy="margin", rounds=1, annotator="replay", seed=0, run_id="parity", members=2,
                       tuning_trials=1, budget=10, workers=1)
    con = warehouse.connect(fbl_warehouse)
    try:
        Orchestrator(con, config, annotator_factory=lambda o: make_annotator(o.con, o.config),
                     show_progress=False, log=lambda _: None).run()
    finally:
        con.close()
    load_script("spark_select_parity").main([str(fbl_warehouse), "parity"])
    out = capsys.readouterr().out
    assert re.search(rf"^prepare {NUMBER} s$", out, re.MULTILINE), out
    assert re.search(rf"^round 0: scored {NUMBER} \(duckdb {NUMBER} s\) / {NUMBER} \(spark {NUMBER} s\); "
                     r"kept \d+ / \d+; same order of kept: (True|False)", out, re.MULTILINE), out
    assert not spark.sparkContext._jsc.sc().isStopped()


def test_spark_run_parity_prints_both_runs_and_the_rounds(fbl_warehouse_template: Path, tmp_path: Path) -> None:
    db = tmp_path / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db)
    out = run_script("spark_run_parity.py", "--db", str(db), "--rounds", "1", "--annotator", "replay",
                     "--candidate-source", "fbl_pool", "--budget", "10", "--members", "2", "--tuning-trials", "1")
    assert re.search(rf"^duckdb: {NUMBER} s wall", out, re.MULTILINE), out
    assert re.search(rf"^spark: {NUMBER} s wall", out, re.MULTILINE), out
    assert re.search(r"^round 0: \d+ pairs selected on DuckDB, \d+ on Spark, \d+ differ; largest uncertainty "
                     r"difference", out, re.MULTILINE), out
    assert re.search(r"^accepted labels: \d+ on DuckDB, (the same|DIFFERENT) on Spark", out, re.MULTILINE), out


def test_spark_run_mirror_prints_the_run_and_the_comparison(fbl_warehouse_template: Path, tmp_path: Path) -> None:
    """The script's input: a DuckDB warehouse and its Spark twin, loaded and built (as its
    docstring says), each in a process of its own (one process at a time owns a Derby metastore)."""
    db, spark_dir = tmp_path / "karl.duckdb", tmp_path / "spark"
    shutil.copyfile(fbl_warehouse_template, db)
    env = {**os.environ, "KARL_DUCKDB_PATH": str(db), "KARL_SPARK_WAREHOUSE_DIR": str(spark_dir),
           "KARL_SPARK_DRIVER_MEMORY": "1g", "KARL_DBT_TARGET_PATH": str(tmp_path / "target")}
    for command in ([sys.executable, "-m", "python_jobs.cli", "--quiet", "--engine", "spark", "ingest", "sync"],
                    [sys.executable, "-m", "python_jobs.cli", "--quiet", "--engine", "spark", "build"]):
        result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=1500,
                                check=False)
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = run_script("spark_run_mirror.py", "--db", str(db), "--spark-dir", str(spark_dir), "--rounds", "1",
                     "--annotator", "replay", "--candidate-source", "fbl_pool", "--budget", "10", "--members", "2",
                     "--tuning-trials", "1", env={"KARL_SPARK_DRIVER_MEMORY": "1g"})
    assert re.search(rf"^run: {NUMBER} s wall", out, re.MULTILINE), out
    assert re.search(rf"^raw.selections\s+DuckDB\s+{NUMBER}\s+Spark\s+{NUMBER}", out, re.MULTILINE), out
    assert re.search(r"^(Spark holds exactly the run's rows and labels|Spark and DuckDB DIFFER)$", out,
                     re.MULTILINE), out
