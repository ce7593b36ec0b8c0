"""The `karl` command line (`app`); `main()` is the console script."""

import warnings

from python_jobs.cli import annotation, ingest, loop, prediction, reporting  # noqa: F401 - they register their commands
from python_jobs.cli.app import app


def main() -> None:  # pragma: no cover
    # great-expectations imports pyspark when the spark extra is installed, and pyspark warns on
    # import about the pandas version: noise for a user who never asked for Spark.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark(\.|$)")
    app()


__all__ = ["app", "main"]
