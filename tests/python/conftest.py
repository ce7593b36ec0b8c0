"""Shared pytest fixtures: where the real FBL data is, and a throwaway warehouse file."""

from __future__ import annotations

import importlib.machinery
import os
import signal
import sys
from pathlib import Path

import pytest

# An xdist worker's __main__ is execnet's bootstrap, with neither __spec__ nor __file__. pyspark's
# connect package (which great-expectations imports) takes such a __main__ for its own doctest
# runner and calls sys.exit(0) when grpc is missing (pyspark/sql/connect/utils.py), ending the
# karl command under test with exit 0 and no output. A spec named __main__ is what `python -m`
# gives, and multiprocessing's spawn skips re-importing a main of that name.
_MAIN = sys.modules["__main__"]
if getattr(_MAIN, "__spec__", None) is None and not hasattr(_MAIN, "__file__"):
    _MAIN.__spec__ = importlib.machinery.ModuleSpec("__main__", None)

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The test process's own SIGTERM and SIGINT handlers, as the runner started it.
SIGNALS_AT_START = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
# The run seeds the tests use: the template holds their item vectors and induced categories, so
# a run on a copy starts at tuning instead of refitting TF-IDF, SVD and k-means.
PREPARED_SEEDS = (0, 1, 2, 3)


def prepare_run_inputs(con, seeds: tuple[int, ...]) -> None:  # noqa: ANN001 - a DuckDB connection
    """What a run's set-up stores before it tunes, for each seed: the svd and char13 item vectors
    and the categories induced over them (loop/runner.py, Orchestrator.prepare). Stored rows are
    keyed by featuriser, corpus and seed, so a run on a copy finds and reuses them."""
    from python_jobs.candidates.categories import ensure_categories
    from python_jobs.config import DEFAULT_FEATURES
    from python_jobs.features.sets import prepare_pair_features
    from python_jobs.features.vectors import ensure_item_vectors

    for seed in seeds:
        feature_set = ensure_item_vectors(con, seed=seed)
        prepare_pair_features(con, DEFAULT_FEATURES, seed=seed, dense_feature_set=feature_set)
        ensure_categories(con, feature_set, seed=seed)


SPARK_TESTS = "tests/python/spark/"


def _weight(item: pytest.Item) -> int:
    """Spark tests first, then the slow ones, then the light ones."""
    return 0 if item.get_closest_marker("spark") else 1 if item.get_closest_marker("slow") else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heaviest kind first (a stable sort, so within a kind the order stays pytest-randomly's):
    under `--dist loadscope --no-loadscope-reorder` (the Makefile) the long work units start
    early and the light ones fill the other worker around them."""
    items.sort(key=_weight)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201 - xdist's types
    """`--dist loadscope` with every test under tests/python/spark/ as one work unit, so one worker
    starts the one JVM; every other module stays a unit of its own (its module fixtures paid
    once). xdist_group marks cannot do this: xdist 3.8 groups by rewriting a node id that pytest 9
    no longer reads."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SparkAsOneUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "spark" if module.startswith(SPARK_TESTS) else module

    return SparkAsOneUnit(config, log)


@pytest.fixture(autouse=True)
def signal_handlers_restored():  # noqa: ANN201 - a generator fixture
    """After every test, SIGTERM and SIGINT handled as when the run started. An in-process Dagster
    run maps SIGTERM to SIGINT's handler when it ends (dagster's capture_interrupts); under a runner
    that ignores SIGINT (a background CI job) SIGTERM then stays ignored, every subprocess started
    later inherits that, and `terminate()` no longer stops a test's server."""
    yield
    for signum, handler in SIGNALS_AT_START.items():
        if signal.getsignal(signum) != handler:
            signal.signal(signum, handler)


@pytest.fixture(scope="session")
def fbl_dir() -> Path:
    """The authors' FBL files (never committed): $KARL_FBL_DIR or ../shared/data/fbl_askul."""
    configured = os.environ.get("KARL_FBL_DIR")
    path = Path(configured) if configured else PROJECT_DIR.parent / "shared" / "data" / "fbl_askul"
    if not (path / "FBL2023.tsv").exists():
        pytest.fail(f"FBL data not found at {path}: set KARL_FBL_DIR to the folder holding FBL2023.tsv")
    return path


@pytest.fixture(scope="session", autouse=True)
def gx_project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The GX project (python_jobs/ingest/gx: suites, checkpoints) copied for the session, so
    tests that ingest through the CLI never write suites or results into the repository."""
    import shutil

    source = PROJECT_DIR / "python_jobs" / "ingest" / "gx"
    target = tmp_path_factory.mktemp("gx_project") / "gx"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("uncommitted"))
    os.environ["KARL_GX_DIR"] = str(target)
    # dbt's target folder of this test process until the FBL template sets its own: two xdist
    # workers must never share the project's target/.
    os.environ.setdefault("KARL_DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))
    # Every test's runs (in this process or its subprocesses) re-read the parses of this worker's
    # earlier runs (warehouse/dbt_parse.py) instead of parsing the project again in each fresh
    # target folder.
    os.environ.setdefault("KARL_DBT_PARSE_PATH", str(tmp_path_factory.mktemp("dbt_parses")))
    return target


@pytest.fixture()
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DuckDB file for one test; KARL_DUCKDB_PATH points at it."""
    path = tmp_path / "karl.duckdb"
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(path))
    return path


@pytest.fixture(scope="session")
def fbl_warehouse_template(fbl_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with the real FBL data ingested and `dbt build` run once per session.
    Tests copy it (fbl_warehouse) instead of paying ingest + build again."""
    from python_jobs import warehouse
    from python_jobs.ingest.fbl import ingest_fbl

    folder = tmp_path_factory.mktemp("fbl_warehouse")
    # Named as every test's copy is (karl.duckdb): dbt-duckdb names the database after the file's
    # stem, so the template and its copies share one parsed dbt project (warehouse/dbt_runner.py).
    path = folder / "karl.duckdb"
    os.environ["KARL_DBT_TARGET_PATH"] = str(folder / "target")
    con = warehouse.connect(path)
    try:
        ingest_fbl(con, fbl_dir)
        warehouse.run_dbt(["build", "--exclude", "resource_type:unit_test"], db_path=path)
        prepare_run_inputs(con, PREPARED_SEEDS)
        # dbt-duckdb keeps its handle on the database after the build, so closing ours does not
        # checkpoint: write everything into the file before tests copy it.
        con.execute("force checkpoint")
    finally:
        con.close()
    return path


@pytest.fixture()
def fbl_warehouse(fbl_warehouse_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built FBL warehouse; KARL_DUCKDB_PATH points at it."""
    import shutil

    path = tmp_path / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, path)
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(path))
    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(tmp_path / "target"))
    return path


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - pyspark.sql.SparkSession
    """The one Spark session of a test run: karl's own (spark/session.py: local[2], its Derby
    metastore), a 1 GB driver and a warehouse folder of the session's, stopped after the last
    test. A JVM costs ~10-20 s of the 2 cores to start, so every Spark test shares this one."""
    import shutil

    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Java (17+) is not installed: Spark cannot start")
    pytest.importorskip("pyspark", reason="the spark extra is not installed: pip install -e '.[spark]'")
    from python_jobs.spark.session import spark_session, stop_spark_session

    os.environ["KARL_SPARK_WAREHOUSE_DIR"] = str(tmp_path_factory.mktemp("spark_warehouse"))
    os.environ["KARL_SPARK_DRIVER_MEMORY"] = "1g"
    session = spark_session()
    try:
        yield session
    finally:
        stop_spark_session()

