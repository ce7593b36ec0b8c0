"""`karl report`, `karl status`, `karl validate`, `karl export ...`: what the warehouse holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from python_jobs import warehouse
from python_jobs.cli.app import (
    DbOption,
    ExportFormat,
    _out,
    app,
    export_app,
)
from python_jobs.cli.ingest import gx_keep, gx_validator
from python_jobs.errors import KarlError


@app.command()
def report(
    out: Path = typer.Option(Path("reports"), "--out", help="Folder for karl_report.html."),
    run_ids: Optional[list[str]] = typer.Option(None, "--run", help="Run id to include (repeat; default: all runs)."),
    title: str = typer.Option("karl report", help="Page title."),
    experiment_id: Optional[str] = typer.Option(None, "--experiment", help="Report the runs of one `karl experiment`."),
    db: Optional[Path] = DbOption,
) -> None:
    """Write a self-contained HTML report (plots and key tables) from the reporting marts."""
    from python_jobs.loop.run_store import UnknownRunError, run_ids_of_experiment
    from python_jobs.reporting.report import REPORT_FILE, write_report

    if out.exists() and not out.is_dir():
        raise KarlError(f"--out {out} is a file: give a folder (karl writes {REPORT_FILE} into it)")
    with warehouse.connection(db) as con:
        if experiment_id:
            run_ids = run_ids_of_experiment(con, experiment_id) + list(run_ids or [])
            if not run_ids:
                raise UnknownRunError(f"no runs of experiment {experiment_id!r} in this warehouse")
        try:
            path = write_report(con, out, run_ids=run_ids or None, title=title, gx_docs=_data_docs_link(out))
        except ValueError as error:
            raise KarlError(str(error)) from error
    _out().result(f"report written to {path}", event="report_written", path=str(path))


def _data_docs_link(out: Path) -> str | None:
    """The GX Data Docs index relative to the report's folder, when it has been built."""
    from python_jobs.ingest.gx_project import GxProject

    index = GxProject().gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html"
    return os.path.relpath(index, Path(out).resolve()) if index.exists() else None


@app.command()
def status(db: Optional[Path] = DbOption) -> None:
    """Runs (with their state: running, completed, aborted...), rounds, stopping verdict, labels, spend.
    While a run holds the warehouse, shows what the runs publish after every step."""
    from python_jobs.reporting.progress import marts_copy_path
    from python_jobs.reporting.status import collect_status, render, status_record

    path = Path(db) if db else warehouse.default_db_path()
    try:
        with warehouse.connection(path, read_only=path.exists()) as con:
            result = collect_status(con, path)
    except warehouse.WarehouseLockedError as locked:
        copy = marts_copy_path(path)  # the marts as the run's last build left them
        if copy.exists():
            with warehouse.connection(copy, read_only=True) as con:
                result = collect_status(con, path, locked_by=locked.holder)
        else:
            result = collect_status(None, path, locked_by=locked.holder)
    out = _out()
    if out.json:
        out.result(event="status", **status_record(result))
    else:
        render(result, out.console)


@app.command()
def validate(
    run_ids: Optional[list[str]] = typer.Option(None, "--run", help="Only this run's calls (repeat; default: all calls)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Run the annotator_calls great-expectations checkpoint over raw.llm_calls, keep the results
    in raw.gx_validation_results and rebuild the Data Docs."""
    from python_jobs.ingest.gx_project import validate_calls

    validator = gx_validator()
    with warehouse.connection(db) as con:
        for run_id in run_ids or [None]:
            result = validate_calls(con, validator, run_id)
            gx_keep(con, validator, run_id=run_id)
            validator.summaries.clear()
            kinds: dict[str, int] = {}
            for failure in result.failures:
                kinds[failure.kind] = kinds.get(failure.kind, 0) + 1
            _out().result(f"annotator calls{' of ' + run_id if run_id else ''}: "
                          + (", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "every expectation met"),
                          event="calls_validated", run_id=run_id, failures=kinds)


@export_app.command("review-queue")
def export_review_queue_command(
    format: ExportFormat = typer.Option("csv", "--format", help="File format."),
    out: Path = typer.Option(..., "--out", help="csv: a .csv file; labelstudio: a .json task list (+ .labeling_config.xml); argilla: a folder (rg.Dataset.from_disk)."),
    include_reviewed: bool = typer.Option(False, help="Also export pairs a human already reviewed."),
    run_ids: Optional[list[str]] = typer.Option(None, "--run", help="Only pairs queued by this run (repeat)."),
    sort: str = typer.Option("uncertainty", "--sort", help="uncertainty (the model's most uncertain first) or confidence (the LLM's least confident votes first)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Export pairs whose K votes disagreed or were invalid, for human review."""
    from python_jobs.reporting.export import export_review_queue

    if out.is_dir():
        raise KarlError(f"--out {out} is a folder: give a file to write (e.g. {out / ('review_queue.' + ('csv' if format.value == 'csv' else 'json'))})")
    with warehouse.connection(db) as con:
        n_pairs = export_review_queue(con, format.value, out, include_reviewed=include_reviewed, run_ids=run_ids or None,
                                      sort=sort)
    _out().result(f"{n_pairs} pairs written to {out}", event="review_queue_exported", n_pairs=n_pairs, path=str(out))
