"""The `karl` command line (`app`); `main()` is the console script."""

from python_jobs.cli import annotation, ingest, loop, reporting  # noqa: F401 - they register their commands
from python_jobs.cli.app import app


def main() -> None:  # pragma: no cover
    app()


__all__ = ["app", "main"]
