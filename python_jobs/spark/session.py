"""The Spark session of a karl process: one configuration, shared by the loader, the Spark jobs
and dbt (`--target spark`, dbt-spark's `method: session`, which reuses the active session).

Spark reads its static settings (master, driver memory, warehouse and metastore location) once,
when the session is created: whoever creates it first must pass them all, so every karl caller
goes through `spark_session()`. profiles.yml sets the same values from the same environment
variables, for a dbt run that starts the session itself (`dbt build --target spark` from a shell).

Environment (all optional): KARL_SPARK_MASTER (default local[2]; a cluster's master URL such as
spark://host:7077 or yarn), KARL_SPARK_DRIVER_MEMORY (default 2g), KARL_SPARK_WAREHOUSE_DIR
(default <project>/warehouse/spark: tables in <dir>/tables, the Derby metastore in
<dir>/metastore_db). Like the DuckDB file, one process at a time owns a local metastore.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from python_jobs.errors import KarlError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
DEFAULT_DRIVER_MEMORY = "2g"
# Errors only on the console (Spark's default prints start-up WARN lines before karl can set a level).
LOG4J2_PROPERTIES = Path(__file__).with_name("log4j2.properties")


class SparkWarehouseLockedError(KarlError):
    """Another process holds the local Spark warehouse's metastore."""


class SparkUnavailableError(KarlError):
    """pyspark is not installed, or Java is missing: the Spark engine cannot start."""


def _project_dir() -> Path:
    return Path(os.environ.get("KARL_PROJECT_DIR", Path(__file__).resolve().parents[2]))


@dataclass(frozen=True)
class SparkSettings:
    """Where the Spark session runs and keeps its tables."""

    master: str = DEFAULT_MASTER
    driver_memory: str = DEFAULT_DRIVER_MEMORY
    warehouse_dir: Path = Path("warehouse") / "spark"

    @property
    def tables_dir(self) -> Path:
        return self.warehouse_dir / "tables"

    @property
    def metastore_dir(self) -> Path:
        return self.warehouse_dir / "metastore_db"


def spark_settings_from_env() -> SparkSettings:
    """SparkSettings from KARL_SPARK_MASTER, KARL_SPARK_DRIVER_MEMORY, KARL_SPARK_WAREHOUSE_DIR."""
    configured = os.environ.get("KARL_SPARK_WAREHOUSE_DIR")
    warehouse = Path(configured).expanduser() if configured else _project_dir() / "warehouse" / "spark"
    return SparkSettings(
        master=os.environ.get("KARL_SPARK_MASTER") or DEFAULT_MASTER,
        driver_memory=os.environ.get("KARL_SPARK_DRIVER_MEMORY") or DEFAULT_DRIVER_MEMORY,
        warehouse_dir=warehouse.resolve(),
    )


def spark_conf(settings: SparkSettings) -> dict[str, str]:
    """The Spark configuration karl runs with (profiles.yml's `spark` output sets the same).

    UTC session time zone: DuckDB's naive timestamps cross Arrow unchanged. ANSI mode off:
    dbt-spark forces it off in every session it opens, so the jobs see the same semantics.
    4 shuffle partitions, not 200: local[2] on tables of thousands to millions of rows
    spends more on 200 tiny tasks than on the work.
    """
    return {
        "spark.master": settings.master,
        "spark.app.name": "karl",
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.warehouse.dir": str(settings.tables_dir),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={settings.metastore_dir};create=true"
        ),
        "spark.driver.extraJavaOptions": (f"-Dderby.system.home={settings.warehouse_dir} "
                                          f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES.as_uri()}"),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.sources.default": "parquet",
        "spark.ui.enabled": "false",
        # karl prints its own progress; Spark's stage bars would interleave with it on the console
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }


def has_active_spark_session() -> bool:
    """Whether this process already runs a Spark session (pyspark missing: no)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return False
    return SparkSession.getActiveSession() is not None


def spark_session(settings: SparkSettings | None = None) -> SparkSession:
    """The process's Spark session (created with karl's configuration on first use)."""
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkUnavailableError(
            "The Spark engine needs pyspark and dbt-spark: pip install -e '.[spark]'."
        ) from error
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = settings or spark_settings_from_env()
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    # Only before this process's first JVM: a JVM of ours that ran a session keeps Derby booted.
    if SparkContext._gateway is None and _metastore_held(settings.metastore_dir):
        raise _locked_error(settings)
    # Python workers (mapInArrow, UDFs) start the interpreter named by PYSPARK_PYTHON only (the
    # conf spark.pyspark.python is read by spark-submit); the default `python3` may lack pyarrow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:
        raise SparkUnavailableError(
            f"Spark did not start ({type(error).__name__}: {error}). It needs Java 17+ on the PATH "
            "(or JAVA_HOME)."
        ) from error
    # Spark's INFO/WARN console lines (one per dbt statement: 'Using an existing Spark session')
    # bury karl's own output; errors still show.
    session.sparkContext.setLogLevel("ERROR")
    _require_metastore(session, settings)
    return session


def _require_metastore(session, settings: SparkSettings) -> None:  # noqa: ANN001 - a SparkSession
    """Open the metastore now, so a local one another process holds ends in one message. Derby
    admits one process; Spark otherwise fails later, deep in a job, with 'Unable to instantiate
    SessionHiveMetaStoreClient'."""
    try:
        session.sql("show databases").collect()
    except Exception as error:  # noqa: BLE001 - pyspark's AnalysisException wraps the Hive error
        if "MetaStoreClient" not in str(error) and "metastore" not in str(error).lower():
            raise
        session.stop()
        raise _locked_error(settings) from None


def _metastore_held(metastore_dir: Path) -> bool:
    """Whether another process has the local Derby metastore booted: Derby holds a POSIX lock on
    dbex.lck while it does (a file left by a crash is unlocked). Checked before Spark starts,
    because Spark's own failure comes as ~9,000 lines of Java log before any message."""
    lock_file = metastore_dir / "dbex.lck"
    if not lock_file.exists():
        return False
    import fcntl

    try:
        with lock_file.open("rb+") as handle:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.lockf(handle, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _locked_error(settings: SparkSettings) -> SparkWarehouseLockedError:
    return SparkWarehouseLockedError(
        f"The Spark warehouse {settings.warehouse_dir} is in use by another process: its local "
        f"metastore ({settings.metastore_dir}) admits one at a time, like the DuckDB file. Wait for "
        "that process to finish or stop it, or point KARL_SPARK_WAREHOUSE_DIR at another folder.")


def stop_spark_session() -> None:
    """Stop the active session, if any (frees the JVM's memory and the metastore lock)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
