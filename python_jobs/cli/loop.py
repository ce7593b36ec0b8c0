"""`karl run`, `karl demo`, `karl experiment` and the experiment tables: the KARL loop."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from python_jobs import warehouse
from python_jobs.cli.app import (
    RUN_DEFAULTS,
    Aggregation,
    Annotator,
    CandidateSource,
    DbOption,
    ModelFamily,
    QbcMeasure,
    StopRule,
    Strategy,
    _out,
    app,
    engine_settings,
)
from python_jobs.cli.ingest import build, ingest_fbl_command
from python_jobs.config import STRATEGIES, EngineSettings, RunConfig, parse_datasets


@contextmanager
def _spark_stopped_after(engine: Optional[EngineSettings]) -> Iterator[None]:
    """On `--engine spark`: the Spark session this command started stopped when it ends (frees the
    JVM's memory and the metastore lock); a session the process already ran stays up."""
    if engine is None or engine.engine != "spark":
        yield
        return
    from python_jobs.spark.session import has_active_spark_session, stop_spark_session

    started_here = not has_active_spark_session()
    try:
        yield
    finally:
        if started_here:
            stop_spark_session()


def use_db_for_dbt(db: Optional[Path]) -> None:
    """`--db` for the run's in-process dbt builds too: they open $KARL_DUCKDB_PATH (the loop's
    builds pass no path), which would otherwise build another warehouse than the run's."""
    if db is not None:
        os.environ["KARL_DUCKDB_PATH"] = str(Path(db).expanduser().resolve())


def run_loop(config: RunConfig, db: Optional[Path] = None, show_progress: bool = True,
             engine: EngineSettings | None = None) -> str:
    """Run (or resume) one KARL run and print its rounds; returns its run id. With the Spark
    engine the candidate scan runs as a Spark job, and the run's rows and marts also land in Spark
    (spark/run_publishing.py); the DuckDB file stays the run's journal."""
    from python_jobs.loop.runner import Orchestrator
    from python_jobs.reporting.console import print_round_table
    from python_jobs.reporting.progress import RunProgress, RunSnapshot
    from python_jobs.reporting.status import round_rows

    out = _out()
    use_db_for_dbt(db)
    snapshot = RunSnapshot(config.run_id, strategy=config.strategy, annotator=config.annotator, seed=config.seed,
                           rounds=config.rounds)
    with warehouse.connection(db) as con:
        # Published only once the run holds the warehouse: a run refused by the lock leaves no trace.
        progress = RunProgress(Path(db) if db else warehouse.default_db_path(), snapshot, emit=out.info)
        with _spark_stopped_after(engine):
            Orchestrator(con, config, show_progress=show_progress and out.show_progress, log=out.info,
                         progress=progress, engine=engine).run()
        rows = round_rows(con, [config.run_id])
    if out.json:
        out.result(event="run_done", run_id=config.run_id, rounds=[list(row) for row in rows])
    else:
        print_round_table(rows, out.console)
    return config.run_id


def _specs(text: str) -> tuple[str, ...]:
    """A comma-separated option's parts, stripped, empty parts dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


@app.command()
def run(
    ctx: typer.Context,
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
                                       help="signal (marts.rpt_run_stopping_signal) or a rule of loop/stopping/rules.py; "
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
    rechoose_from: Optional[int] = typer.Option(None, "--rechoose-from", help="From the round with N acquired labels: score the run's model and --rechoose-candidates by CV over the acquired labels (docs/features.md)."),
    rechoose_candidates: str = typer.Option(",".join(RUN_DEFAULTS.rechoose_candidates), "--rechoose-candidates", help="With --rechoose-from: candidate models FEATURES@C@FAMILY, comma-separated."),
    cold_start: int = typer.Option(0, "--cold-start", help="No human training labels: round 0 first asks the annotator about N pairs chosen for coverage."),
    catalog: Optional[str] = typer.Option(None, "--catalog", help="With --candidate-source sampler: candidates and features of this ingested catalogue."),
    train_labels: str = typer.Option(",".join(RUN_DEFAULTS.train_labels), "--train-labels",
                                     help="Labelled datasets that train (ID = cross-validation over them), comma-separated; 'none': a cold start."),
    pool_labels: str = typer.Option(",".join(RUN_DEFAULTS.pool_labels), "--pool-labels",
                                    help="Labelled datasets whose pairs the loop may annotate (--candidate-source fbl_pool)."),
    eval_labels: str = typer.Option(",".join(RUN_DEFAULTS.eval_labels), "--eval-labels",
                                    help="Held-out labelled datasets (OOD, per dataset); one that is also pool is split by anchor."),
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
                               panel=_specs(panel),
                               llm_batch=batch, require_judge=require_judge, features=features,
                               model_family=model_family.value, cold_start=cold_start, catalog=catalog,
                               rechoose_from=rechoose_from, rechoose_candidates=_specs(rechoose_candidates),
                               train_labels=parse_datasets(train_labels), pool_labels=parse_datasets(pool_labels),
                               eval_labels=parse_datasets(eval_labels),
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
    run_loop(config, db, engine=engine_settings(ctx))


@app.command()
def demo(
    ctx: typer.Context,
    rounds: int = typer.Option(3, help="Rounds of the short replay run."),
    db: Optional[Path] = DbOption,
) -> None:
    """The quick start: ingest the FBL data, build the warehouse, run a short replay run, print the rounds."""
    ingest_fbl_command(ctx, dir=None, keep_reversed_pairs=False, db=db)
    build(ctx, db=db, select=None, unit_tests=False)
    config = RunConfig(strategy="margin", rounds=rounds, annotator="replay", budget=50, seed=0)
    _out().info(f"Replay run {config.run_id}: margin, {rounds} rounds.", event="run_started", run_id=config.run_id)
    run_loop(config, db, engine=engine_settings(ctx))


@app.command()
def experiment(
    ctx: typer.Context,
    strategies: str = typer.Option(",".join(("random", "qbc", "margin")), help=f"Comma-separated strategies ({', '.join(STRATEGIES)})."),
    seeds: str = typer.Option("0,1,2", help="The seeds each strategy runs with: comma-separated or a range (0-2)."),
    splits: int = typer.Option(1, "--splits", help="Pool/test splits each cell runs on: split seeds "
                               "KARL_SPLIT_SEED (default 42) on; 1: the warehouse's split."),
    rounds: int = typer.Option(20, help="Rounds T per run."),
    budget: int = typer.Option(RUN_DEFAULTS.budget, help="Pairs annotated per round, at most."),
    annotator: Annotator = typer.Option(RUN_DEFAULTS.annotator, help="The annotator of every cell."),
    members: int = typer.Option(RUN_DEFAULTS.members, help="Bagging members M."),
    tuning_trials: int = typer.Option(RUN_DEFAULTS.tuning_trials, help="Bayesian-optimisation trials for the hyperparameters (cells of one seed share the tuning)."),
    features: str = typer.Option(RUN_DEFAULTS.features, "--features",
                                 help="Pair-feature set: components svd, char13, overlap, embeddings joined by '+'."),
    model_family: ModelFamily = typer.Option(RUN_DEFAULTS.model_family, "--model-family", help="Bag members."),
    rechoose_from: Optional[int] = typer.Option(None, "--rechoose-from", help="From the round with N acquired labels: score the run's model and --rechoose-candidates by CV over the acquired labels (docs/features.md)."),
    rechoose_candidates: str = typer.Option(",".join(RUN_DEFAULTS.rechoose_candidates), "--rechoose-candidates", help="With --rechoose-from: candidate models FEATURES@C@FAMILY, comma-separated."),
    experiment_id: Optional[str] = typer.Option(None, "--experiment-id", help="Name (re-use it to resume)."),
    aggregation: Aggregation = typer.Option(RUN_DEFAULTS.aggregation, help="How the K votes become a label."),
    workers: int = typer.Option(RUN_DEFAULTS.workers, help="Processes for the ID cross-validation (1 on a loaded machine)."),
    train_labels: str = typer.Option(",".join(RUN_DEFAULTS.train_labels), "--train-labels",
                                     help="Labelled datasets that train (ID = cross-validation over them), comma-separated; 'none': a cold start."),
    pool_labels: str = typer.Option(",".join(RUN_DEFAULTS.pool_labels), "--pool-labels",
                                    help="Labelled datasets whose pairs the loop may annotate (--candidate-source fbl_pool)."),
    eval_labels: str = typer.Option(",".join(RUN_DEFAULTS.eval_labels), "--eval-labels",
                                    help="Held-out labelled datasets (OOD, per dataset); one that is also pool is split by anchor."),
    candidate_source: CandidateSource = typer.Option(RUN_DEFAULTS.candidate_source, "--candidate-source",
                                                     help="fbl_pool (the pool datasets' pairs) or sampler (a catalogue's candidates)."),
    catalog: Optional[str] = typer.Option(None, "--catalog", help="With --candidate-source sampler: candidates and features of this ingested catalogue."),
    cold_start: int = typer.Option(0, "--cold-start", help="No human training labels: each cell's round 0 first asks the annotator about N pairs chosen for coverage."),
    db: Optional[Path] = DbOption,
) -> None:
    """The paper's experiment: strategies x seeds x T rounds, one run per cell, RQ1-RQ3 from the marts."""
    from python_jobs.errors import UsageError
    from python_jobs.loop.experiment import (
        ExperimentConfig,
        experiment_summary,
        parse_seeds,
        run_experiment,
        split_seeds_for,
    )
    from python_jobs.reporting.console import print_experiment_summary
    from python_jobs.reporting.progress import RunProgress, RunSnapshot

    name = experiment_id or "exp-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    chosen = _specs(strategies)
    unknown = [s for s in chosen if s not in STRATEGIES]
    if unknown or not chosen:
        raise UsageError(f"unknown strategies {unknown}: choose from {', '.join(STRATEGIES)}")
    try:
        seed_list = parse_seeds(seeds)
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        cell = RunConfig(rounds=rounds, budget=budget, annotator=annotator.value, members=members,
                         tuning_trials=tuning_trials, features=features, model_family=model_family.value, run_id="template",
                         rechoose_from=rechoose_from, rechoose_candidates=_specs(rechoose_candidates),
                         aggregation=aggregation.value, workers=workers,
                         train_labels=parse_datasets(train_labels), pool_labels=parse_datasets(pool_labels),
                         eval_labels=parse_datasets(eval_labels), candidate_source=candidate_source.value,
                         catalog=catalog, cold_start=cold_start)
    except ValueError as error:
        raise UsageError(str(error)) from error
    first_split = os.environ.get("KARL_SPLIT_SEED", "42").strip()
    if not first_split.lstrip("-").isdigit():
        raise UsageError(f"KARL_SPLIT_SEED={first_split!r} must be an integer (the first split's seed)")
    try:
        split_seeds = split_seeds_for(splits, int(first_split))
    except ValueError as error:
        raise UsageError(str(error)) from error
    config = ExperimentConfig(experiment_id=name, strategies=chosen, seeds=seed_list, cell=cell,
                              split_seeds=split_seeds)
    use_db_for_dbt(db)
    with warehouse.connection(db) as con:
        out = _out()
        path = Path(db) if db else warehouse.default_db_path()

        def progress_for(cell: RunConfig) -> RunProgress:
            return RunProgress(path, RunSnapshot(cell.run_id, strategy=cell.strategy, annotator=cell.annotator,
                                                 seed=cell.seed, rounds=cell.rounds), emit=out.info)

        engine = engine_settings(ctx)
        with _spark_stopped_after(engine):
            seconds = run_experiment(con, config, log=out.info, show_progress=out.show_progress,
                                     progress_for=progress_for, engine=engine)
        summary = experiment_summary(con, name)
    if out.json:
        out.result(event="experiment_done", experiment_id=name, seconds=round(seconds, 1), summary=summary)
    else:
        print_experiment_summary(summary, out.console)
    out.info(f"Experiment {name}: {len(config.cells())} runs in {seconds / 60:.1f} min. "
             f"Report: karl report --experiment {name} --out reports/{name}", event="experiment_done")




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
        warehouse.require_marts(con, "fct_candidate_pairs", "fct_human_labels")
        keys, truths = strategy_tables.pool_reference(con)
        _out().result(strategy_tables.markdown(strategy_tables.panel_table(keys, truths, seed)), event="panel_table")
        run_ids = [r.strip() for r in runs.split(",") if r.strip()]
        if run_ids:
            _out().result(strategy_tables.markdown(strategy_tables.panel_run_rows(con, run_ids)), event="panel_runs")
