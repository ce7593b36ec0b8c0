"""Dagster definitions for karl: `dagster dev -m python_jobs.orchestration.definitions`.

A thin layer over karl's own functions (docs/dagster.md). The asset graph:

    ingest (fbl / catalog / reviews raw tables) -> dbt: the inputs (staging, human labels, eval sets)
      -> karl_round (the run's raw tables: llm_calls, runs, selections, model_versions, ...)
      -> dbt: the run's marts (consensus, training labels, lineage, round metrics, stopping signal)
      -> karl_predict (raw.pair_predictions) -> dbt: the prediction marts (fct_pair_relations)
      -> karl_report

The loop is a cycle in the data (round t+1 trains on round t's labels); the graph cuts it at the
round, which reads the marts it needs after building them itself (loop/runner.py). The dbt
project is split into three @dbt_assets at the raw tables karl writes, so one job runs dbt before
and after the round. DuckDB has one writer: every op runs in one process, one after another
(in_process_executor), and every asset is in the pool `karl_warehouse` (limit it to 1 in the
instance's dagster.yaml so runs never overlap: docs/dagster.md).
"""


import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    Config,
    ConfigurableResource,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    multi_asset,
    schedule,
)
from dagster_dbt import DbtCliResource, dbt_assets, get_asset_key_for_model

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.orchestration.dbt_project import (
    DBT_EXECUTABLE,
    DBT_PROJECT,
    PREDICT_SOURCES,
    ROUND_SOURCES,
    TRANSLATOR,
    downstream_of,
    prepared_manifest,
    source_key,
)

WAREHOUSE_POOL = "karl_warehouse"
NIGHTLY_RUN_ID = "nightly"
RUN_DEFAULTS = RunConfig(run_id="defaults")

# --- resources and config ------------------------------------------------------------------------
class NightlyRun(ConfigurableResource):
    """Which karl run the nightly round continues (created on the first night)."""

    run_id: str = NIGHTLY_RUN_ID


class RoundConfig(Config):
    """One labelling round. The run options apply when the run is created (the first night); later
    nights continue it with its stored config. `max_cost_usd` caps this round's LLM spend."""

    max_cost_usd: float | None = 5.0
    strategy: str = RUN_DEFAULTS.strategy
    annotator: str = RUN_DEFAULTS.annotator
    budget: int = RUN_DEFAULTS.budget
    seed: int = RUN_DEFAULTS.seed
    k_calls: int = RUN_DEFAULTS.k_calls
    members: int = RUN_DEFAULTS.members
    tuning_trials: int = RUN_DEFAULTS.tuning_trials
    workers: int = RUN_DEFAULTS.workers
    features: str = RUN_DEFAULTS.features
    aggregation: str = RUN_DEFAULTS.aggregation
    candidate_source: str = RUN_DEFAULTS.candidate_source

    def run_config(self, run_id: str) -> RunConfig:
        options = self.model_dump(exclude={"max_cost_usd"})
        return RunConfig(run_id=run_id, rounds=1, **options)


class ReportConfig(Config):
    out_dir: str = str(warehouse.PROJECT_DIR / "reports" / "dagster")


@dataclass(frozen=True)
class CatalogSource:
    file: str
    id_column: str
    title_column: str
    category_columns: tuple[str, ...]
    name: str | None = None


@dataclass(frozen=True)
class ReviewsSource:
    file: str
    reviewer: str = "reviewer"


@dataclass(frozen=True)
class KarlSources:
    """What the ingest assets load: the YAML file at $KARL_DAGSTER_SOURCES, else the FBL files only.

        fbl: {dir: /data/fbl}            # or `fbl: {}` for $KARL_FBL_DIR; leave out for none
        catalogs: [{file: items.csv, id_column: sku, title_column: name, category_columns: [dept, type]}]
        reviews: [{file: reviewed.csv, reviewer: alice}]
    """

    fbl: bool = True
    fbl_dir: str | None = None
    catalogs: tuple[CatalogSource, ...] = field(default_factory=tuple)
    reviews: tuple[ReviewsSource, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls) -> "KarlSources":
        path = os.environ.get("KARL_DAGSTER_SOURCES")
        if not path:
            return cls()
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        fbl = spec.get("fbl")
        return cls(fbl=fbl is not None, fbl_dir=(fbl or {}).get("dir"),
                   catalogs=tuple(CatalogSource(**{**c, "category_columns": tuple(c["category_columns"])})
                                  for c in spec.get("catalogs") or ()),
                   reviews=tuple(ReviewsSource(**r) for r in spec.get("reviews") or ()))


# --- metadata helpers ----------------------------------------------------------------------------
def _ingest_metadata(outcomes: Sequence[Any]) -> dict[str, Any]:
    rejected = [f"{o.source_file}: {o.error}" for o in outcomes if o.error]
    if rejected:
        raise Failure("files not loaded: " + "; ".join(rejected))
    return {"rows_written": sum(o.rows_loaded for o in outcomes),
            "rows_quarantined": sum(o.records_withheld for o in outcomes),
            "files": MetadataValue.json([{"file": str(o.source_file), "batch_id": o.batch_id,
                                          "rows_loaded": o.rows_loaded, "already_ingested": o.already_ingested}
                                         for o in outcomes])}


def _ingest(loader: Any) -> dict[str, Any]:
    """Run `loader(con, validator)` -> outcomes as `karl ingest` does: GX validation kept in raw."""
    from python_jobs.cli.ingest import gx_keep, gx_validator

    validator = gx_validator()
    with warehouse.connection() as con:
        outcomes = loader(con, validator)
        gx_keep(con, validator, outcomes)
    return _ingest_metadata(outcomes)


RUN_TABLES = ("selections", "llm_calls", "bag_members", "pool_predictions", "round_metrics", "run_steps")


def _run_rows(con: Any, run_id: str) -> dict[str, int]:
    return {table: int(con.execute(f"select count(*) from raw.{table} where run_id = ?", [run_id]).fetchone()[0])
            for table in RUN_TABLES}


# --- the definitions -----------------------------------------------------------------------------
def build_definitions(sources: KarlSources | None = None) -> Definitions:
    """karl's assets, the nightly job and its schedule for these sources (default: from the env)."""
    sources = sources or KarlSources.from_env()
    manifest = prepared_manifest()
    round_selection = downstream_of(ROUND_SOURCES)
    predict_selection = downstream_of(PREDICT_SOURCES)

    ingest_assets = []
    if sources.fbl:
        @asset(key=source_key("karl_ingest", "labelled_judgements"), group_name="ingest", pool=WAREHOUSE_POOL,
               description="`karl ingest fbl`: the FBL files, validated, into raw.labelled_judgements "
                           "(datasets FBL2023 and FBL2024).")
        def ingest_fbl(context: AssetExecutionContext) -> MaterializeResult:
            from python_jobs.ingest.fbl import ingest_fbl as load_fbl

            directory = Path(sources.fbl_dir) if sources.fbl_dir else None
            return MaterializeResult(metadata=_ingest(
                lambda con, validator: load_fbl(con, directory, validator=validator).outcomes))

        ingest_assets.append(ingest_fbl)
    if sources.catalogs:
        @asset(key=source_key("catalog", "catalog_items"), group_name="ingest", pool=WAREHOUSE_POOL,
               description="`karl ingest catalog` of each configured catalogue file.")
        def ingest_catalogs(context: AssetExecutionContext) -> MaterializeResult:
            from python_jobs.ingest.catalog import CatalogColumns, ingest_catalog

            return MaterializeResult(metadata=_ingest(lambda con, validator: [
                ingest_catalog(con, Path(c.file), CatalogColumns(c.id_column, c.title_column, c.category_columns),
                               name=c.name, validator=validator) for c in sources.catalogs]))

        ingest_assets.append(ingest_catalogs)
    if sources.reviews:
        @asset(key=source_key("karl", "human_reviews"), group_name="ingest", pool=WAREHOUSE_POOL,
               description="`karl ingest reviews` of each configured labels file.")
        def ingest_review_files(context: AssetExecutionContext) -> MaterializeResult:
            from python_jobs.ingest.reviews import ingest_reviews

            return MaterializeResult(metadata=_ingest(lambda con, validator: [
                ingest_reviews(con, r.file, reviewer=r.reviewer, validator=validator) for r in sources.reviews]))

        ingest_assets.append(ingest_review_files)

    @dbt_assets(manifest=manifest, project=DBT_PROJECT, dagster_dbt_translator=TRANSLATOR, pool=WAREHOUSE_POOL,
                exclude=f"{round_selection} {predict_selection}", name="dbt_inputs")
    def dbt_inputs(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """Seeds, staging and the marts no karl round writes into (items, human labels, eval sets)."""
        yield from dbt.cli(["build"], context=context).stream()

    @dbt_assets(manifest=manifest, project=DBT_PROJECT, dagster_dbt_translator=TRANSLATOR, pool=WAREHOUSE_POOL,
                select=round_selection, exclude=predict_selection, name="dbt_run_marts")
    def dbt_run_marts(context: AssetExecutionContext, dbt: DbtCliResource, karl_run: NightlyRun) -> Iterator[Any]:
        """The marts of the runs' raw tables, built with the nightly run's dbt vars (as the run builds them)."""
        yield from dbt.cli(["build", "--vars", json.dumps(_run_dbt_vars(karl_run.run_id))], context=context).stream()

    @dbt_assets(manifest=manifest, project=DBT_PROJECT, dagster_dbt_translator=TRANSLATOR, pool=WAREHOUSE_POOL,
                select=predict_selection, name="dbt_prediction_marts")
    def dbt_prediction_marts(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """fct_pair_relations, rpt_item_relations and the staging under them."""
        yield from dbt.cli(["build"], context=context).stream()

    dbt_definitions = [dbt_inputs, dbt_run_marts, dbt_prediction_marts]

    def model_key(model: str) -> AssetKey:
        for definition in dbt_definitions:
            try:
                return get_asset_key_for_model([definition], model)
            except KeyError:
                continue
        raise KeyError(f"no dbt model {model!r} in the project")

    # The marts the round reads that no round writes into (it builds the others itself before
    # reading them); taken from dbt_inputs only, so a change of the project that moves one
    # downstream of a round's table fails here instead of drawing a cycle.
    round_reads = [get_asset_key_for_model([dbt_inputs], model) for model in ("fct_human_labels", "fct_eval_sets",
                                                                              "dim_items")]
    round_specs = [AssetSpec(source_key(name, table), deps=round_reads, group_name="karl_round",
                             description=f"raw.{table}, written by a karl round")
                   for name, tables in ROUND_SOURCES.items() for table in tables]

    @multi_asset(specs=round_specs, pool=WAREHOUSE_POOL, name="karl_round")
    def karl_round(context: AssetExecutionContext, config: RoundConfig,
                   karl_run: NightlyRun) -> Iterator[MaterializeResult]:
        """`karl run --rounds 1 --resume`: one more labelling round of the nightly run, within the spend cap."""
        from python_jobs.loop.run_store import RunStore, config_for_one_more_round
        from python_jobs.loop.runner import Orchestrator
        from python_jobs.loop.steps import RunStopped
        from python_jobs.reporting.progress import RunProgress, RunSnapshot

        stopped = None
        with warehouse.connection() as con:
            run = config_for_one_more_round(con, config.run_config(karl_run.run_id), config.max_cost_usd)
            before = _run_rows(con, run.run_id)
            progress = RunProgress(warehouse.default_db_path(), RunSnapshot(
                run.run_id, strategy=run.strategy, annotator=run.annotator, seed=run.seed, rounds=run.rounds))
            try:
                # closing_build=False: the dbt_run_marts assets build the run's marts next, with their checks.
                Orchestrator(con, run, show_progress=False, log=context.log.info, progress=progress,
                             closing_build=False).run()
            except RunStopped as stop:  # e.g. the spend cap: the next night resumes this round
                stopped = str(stop)
                context.log.warning(stopped)
            annotated_round = run.rounds - 1
            stats = RunStore(con, run.run_id).annotation_stats(annotated_round)
            evaluation = con.execute(
                "select round_index, metrics_json from raw.round_metrics where run_id = ? "
                "order by round_index desc limit 1", [run.run_id]).fetchone()
            after = _run_rows(con, run.run_id)
        metrics = json.loads(evaluation[1]) if evaluation else {}
        written = {table: after[table] - before[table] for table in RUN_TABLES}
        metadata: dict[str, Any] = {
            "run_id": run.run_id, "round_annotated": annotated_round,
            "round_evaluated": evaluation[0] if evaluation else None,
            "labels_accepted": stats["n_accepted_pairs"], "pairs_annotated": stats["n_annotated_pairs"],
            "llm_calls": stats["n_calls"], "spend_usd": round(float(stats["cost_usd"]), 6),
            "spend_cap_usd": run.max_cost_usd,
            "id_macro_f1": metrics.get("id_macro_f1"), "ood_macro_f1": metrics.get("ood_macro_f1"),
            "rows_written": sum(written.values()), "rows_written_by_table": MetadataValue.json(written),
        }
        if stopped:
            metadata["stopped"] = stopped
        # The round's figures on its calls; every other table it writes gets the run, round and its rows.
        for spec in round_specs:
            table = spec.key.path[-1]
            yield MaterializeResult(asset_key=spec.key, metadata=metadata if table == "llm_calls" else {
                "run_id": run.run_id, "round_annotated": annotated_round,
                **({"rows_written": written[table]} if table in written else {})})

    @asset(key=source_key("karl_prediction", "pair_predictions"), group_name="karl_predict", pool=WAREHOUSE_POOL,
           deps=[source_key("karl_prediction", "model_versions"), model_key("fct_candidate_pairs")],
           description="`karl predict`: the nightly run's final model over every candidate pair.")
    def karl_predict(context: AssetExecutionContext, karl_run: NightlyRun) -> MaterializeResult:
        from python_jobs.prediction.job import predict_relations

        with warehouse.connection() as con:
            # build=False: the dbt_prediction_marts assets build the marts next, with their checks.
            summary = predict_relations(con, run_id=karl_run.run_id, build=False)
        return MaterializeResult(metadata={**summary.as_dict(), "rows_written": summary.n_written})

    @asset(key=AssetKey(["karl_report"]), group_name="karl_report", pool=WAREHOUSE_POOL,
           deps=[model_key("rpt_round_metrics"), model_key("rpt_run_stopping_signal"), model_key("fct_pair_relations")],
           description="`karl report`: the self-contained HTML page of every run.")
    def karl_report(context: AssetExecutionContext, config: ReportConfig) -> MaterializeResult:
        from python_jobs.reporting.report import write_report

        with warehouse.connection(read_only=True) as con:
            path = write_report(con, config.out_dir)
        return MaterializeResult(metadata={"path": MetadataValue.path(str(path))})

    nightly_job = define_asset_job("nightly_round", selection=AssetSelection.all(), executor_def=in_process_executor,
                                   description="ingest -> dbt -> one karl round -> dbt -> karl predict -> dbt -> report")

    @schedule(job=nightly_job, cron_schedule="0 2 * * *", execution_timezone="UTC", name="nightly_round_schedule")
    def nightly_round_schedule(context: ScheduleEvaluationContext, karl_run: NightlyRun) -> RunRequest | SkipReason:
        """Every night, unless marts.rpt_run_stopping_signal says the run should stop."""
        stop, reason = stopping_verdict(karl_run.run_id)
        if stop:
            return SkipReason(f"run {karl_run.run_id}: the stopping signal says stop ({reason})")
        return RunRequest(run_config=NIGHTLY_RUN_CONFIG)

    return Definitions(
        assets=[*ingest_assets, dbt_inputs, karl_round, dbt_run_marts, karl_predict, dbt_prediction_marts,
                karl_report],
        jobs=[nightly_job], schedules=[nightly_round_schedule], executor=in_process_executor,
        resources={"dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE),
                   "karl_run": NightlyRun()})


# The schedule's run config: a round of at most $5 with the run defaults (edit, or override in the launchpad).
NIGHTLY_RUN_CONFIG: dict[str, Any] = {"ops": {"karl_round": {"config": {"max_cost_usd": 5.0}}}}


def _run_dbt_vars(run_id: str) -> dict[str, object]:
    """The dbt vars of the run's own builds; the project's defaults before the run exists."""
    from python_jobs.loop.builds import run_dbt_vars
    from python_jobs.loop.run_store import RunStore, UnknownRunError, load_run_config

    with warehouse.connection() as con:
        try:
            return run_dbt_vars(load_run_config(con, run_id), RunStore(con, run_id))
        except UnknownRunError:
            return {}


def stopping_verdict(run_id: str) -> tuple[bool, str]:
    """(stop?, why) from marts.rpt_run_stopping_signal; a warehouse another process holds, or
    without the file yet, has no verdict (the schedule then runs, and the run's lock decides)."""
    from python_jobs.loop.stopping import should_stop

    path = warehouse.default_db_path()
    if not path.exists():
        return False, f"no warehouse at {path} yet"
    try:
        with warehouse.connection(read_only=True) as con:
            return should_stop(con, run_id)
    except warehouse.WarehouseLockedError as error:
        return False, str(error)


defs = build_definitions()
