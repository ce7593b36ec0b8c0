"""great-expectations as its users know it: a file-backed GX project with suites, validation
definitions and checkpoints stored as files, results kept, Data Docs built offline.

Where: ``python_jobs/ingest/gx/`` (override with ``$KARL_GX_DIR``), the folder
``gx.get_context(mode="file", project_root_dir="python_jobs/ingest")`` creates. It sits next to
the ingest code that runs it because the project's top level is fixed (dbt's folders plus
docs/benchmarks); GX's own ``.gitignore`` keeps ``uncommitted/`` (results, Data Docs) out of git.

- Suites: ``gx/expectations/<suite>.json``, one per validated table (FBL2023_pairs,
  FBL2023_judgements, FBL2024_pairs, FBL2024_judgements, completejourney_products,
  catalog_<name>, labels_<dataset>, human_reviews, llm_calls). A suite is written from karl's checks the first
  time its table is validated; from then on the FILE is what runs: an expectation added to it
  is evaluated at the next ingest, and a failing row of it is quarantined with kind
  ``expectation_failed`` (karl's own checks keep their named kinds). karl's own expectations
  (``meta: {"made_by": "karl"}``) follow the columns of each ingest: a catalogue ingested
  again with other columns named is checked on those.
- Checkpoints: ``gx/checkpoints/<source>.json``, one per source (fbl, labels, catalogue, baskets,
  reviews) and one for the annotator calls (annotator_calls); each lists its suites'
  validation definitions and updates Data Docs. karl runs each validation definition with the
  frame it validates (a checkpoint passes one frame to all its definitions, and FBL has two
  tables per file), attributed to the source's checkpoint.
- Results: GX's validation results store (``gx/uncommitted/validations``) and, per validation,
  one row in the warehouse (raw.gx_validation_results, landed by the caller).
- Data Docs: ``gx/uncommitted/data_docs/local_site/index.html``, static HTML, no network.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from python_jobs.ingest.validation import Check, Failure, TableResult, Validator, _plain

DEFAULT_ROOT = Path(__file__).resolve().parent  # GX creates <root>/gx/
DATASOURCE = "karl_frames"
KARL_MADE = {"made_by": "karl"}  # meta of the expectations karl writes from its checks

# suite -> checkpoint (source); suites not listed (catalog_<name>) map by prefix
SOURCE_OF_SUITE = {
    "FBL2023_pairs": "fbl", "FBL2023_judgements": "fbl", "FBL2024_pairs": "fbl", "FBL2024_judgements": "fbl",
    "completejourney_products": "baskets", "human_reviews": "reviews", "llm_calls": "annotator_calls",
}
SOURCES = ("fbl", "labels", "catalogue", "baskets", "reviews", "annotator_calls")


def source_of(suite: str) -> str:
    if suite in SOURCE_OF_SUITE:
        return SOURCE_OF_SUITE[suite]
    if suite.startswith("catalog_"):
        return "catalogue"
    if suite.startswith("labels_"):  # labels_<dataset>: one suite per labelled dataset
        return "labels"
    raise ValueError(f"no GX checkpoint for suite {suite!r}")


def project_root() -> Path:
    configured = os.environ.get("KARL_GX_DIR")
    return Path(configured).resolve().parent if configured else DEFAULT_ROOT


@dataclass
class ValidationSummary:
    """One validation as the warehouse keeps it (raw.gx_validation_results)."""

    checkpoint: str
    suite: str
    success: bool
    evaluated_expectations: int
    successful_expectations: int
    unsuccessful_expectations: int
    unexpected_rows: int
    n_rows: int
    gx_run_id: str
    validated_at: datetime
    seconds: float
    result_json: str  # per expectation: type, column, success, unexpected_count

    def row(self, batch_id: str | None) -> dict[str, Any]:
        return {"batch_id": batch_id, **{k: v for k, v in self.__dict__.items()}}


def _key(expectation: Any) -> tuple[str, str | None]:
    return type(expectation).__name__, getattr(expectation, "column", None)


def _run_time(run_id: Any) -> str:
    """GX names a validation run by its time (the folder of its stored result)."""
    run_time = getattr(run_id, "run_time", None)
    return run_time.isoformat() if run_time is not None else str(run_id)


class GxProject:
    """The file-backed context, opened lazily (importing GX costs seconds)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or project_root()
        self._context: Any = None
        self._gx: Any = None

    @property
    def gx_dir(self) -> Path:
        return self.root / "gx"

    def context(self) -> Any:
        if self._context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            logging.getLogger("great_expectations").setLevel(logging.WARNING)
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            self._gx = gx
            self._context = gx.get_context(mode="file", project_root_dir=str(self.root))
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        return self._context

    def _datasource(self) -> Any:
        context = self.context()
        try:
            return context.data_sources.get(DATASOURCE)
        except (KeyError, ValueError, Exception):  # noqa: BLE001 - GX raises its own lookup errors
            return context.data_sources.add_pandas(DATASOURCE)

    def suite(self, name: str, checks: list[Check]) -> Any:
        """The stored suite `name`, written from `checks` when there is none yet.

        A stored suite keeps every expectation its user added; karl's own (marked in their meta)
        follow `checks`: a catalogue re-ingested with other columns named is checked on those
        columns, not on the ones its first ingest named."""
        context = self.context()
        try:
            suite = context.suites.get(name)
        except Exception:  # noqa: BLE001 - DataContextError when absent
            suite = self._gx.ExpectationSuite(name=name)
            for check in checks:
                suite.add_expectation(self._karl_expectation(check))
            return context.suites.add(suite)
        self._follow_checks(suite, checks)
        return suite

    def _karl_expectation(self, check: Check) -> Any:
        expectation = check.make(self._gx.expectations)
        expectation.meta = dict(KARL_MADE)
        return expectation

    def _follow_checks(self, suite: Any, checks: list[Check]) -> None:
        """Drop karl's expectations no check asks for any more; add the checks the suite lacks.
        GX persists each change of a stored suite itself."""
        wanted = {_key(self._karl_expectation(check)): check for check in checks}
        for expectation in list(suite.expectations):
            if (expectation.meta or {}).get("made_by") == KARL_MADE["made_by"] and _key(expectation) not in wanted:
                suite.delete_expectation(expectation)
        present = {_key(expectation) for expectation in suite.expectations}
        for key, check in wanted.items():
            if key not in present:
                suite.add_expectation(self._karl_expectation(check))

    def validation_definition(self, name: str, suite: Any) -> Any:
        context = self.context()
        try:
            return context.validation_definitions.get(name)
        except Exception:  # noqa: BLE001
            source = self._datasource()
            try:
                asset = source.get_asset(name)
            except LookupError:
                asset = source.add_dataframe_asset(name)
            try:
                batch = asset.get_batch_definition("whole")
            except (KeyError, ValueError, LookupError):
                batch = asset.add_batch_definition_whole_dataframe("whole")
            definition = self._gx.ValidationDefinition(name=name, data=batch, suite=suite)
            return context.validation_definitions.add(definition)

    def checkpoint(self, source: str, definition: Any) -> Any:
        """The source's checkpoint, with `definition` among its validation definitions."""
        context, gx = self.context(), self._gx
        try:
            checkpoint = context.checkpoints.get(source)
        except Exception:  # noqa: BLE001
            checkpoint = context.checkpoints.add(gx.Checkpoint(
                name=source, validation_definitions=[definition],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")]))
        if definition.name not in {vd.name for vd in checkpoint.validation_definitions}:
            checkpoint.validation_definitions.append(definition)
            checkpoint.save()
        return checkpoint

    def build_docs(self) -> Path:
        """Build the Data Docs (static HTML, offline); return the index page."""
        self.context().build_data_docs()
        return self.gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html"


class ProjectValidator(Validator):
    """A `Validator` whose suites, validation definitions and checkpoints live in the GX
    project; every validation is stored by GX and summarised in `self.summaries`."""

    def __init__(self, project: GxProject | None = None) -> None:
        super().__init__()
        self.project = project or GxProject()
        self.summaries: list[ValidationSummary] = []

    def validate(self, name: str, frame: pd.DataFrame, required_columns: list[str], checks: list[Check],
                 index_columns: list[str]) -> TableResult:
        started = time.perf_counter()
        result = TableResult()
        result.missing_columns = [column for column in required_columns if column not in frame.columns]
        if result.missing_columns:
            return result
        project = self.project
        suite = project.suite(name, checks)
        definition = project.validation_definition(name, suite)
        checkpoint = project.checkpoint(source_of(name), definition)
        self.seconds_setup = self.seconds_setup or time.perf_counter() - started
        outcome = definition.run(
            checkpoint_id=checkpoint.id, batch_parameters={"dataframe": frame},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(index_columns)})
        by_key = {(type(check.make(project._gx.expectations)).__name__, check.column): check for check in checks}
        details = []
        unexpected_rows: set[tuple] = set()
        for item in outcome.results:
            expectation = item.expectation_config.to_domain_obj()
            info = item.exception_info or {}
            if info.get("raised_exception"):
                raise RuntimeError(f"great-expectations could not evaluate {_key(expectation)} in suite {name}: "
                                   f"{info.get('exception_message')}")
            failing = item.result.get("unexpected_index_list") or []
            details.append({"expectation": _key(expectation)[0], "column": _key(expectation)[1],
                            "success": bool(item.success), "unexpected_count": len(failing)})
            if item.success:
                continue
            check = by_key.get(_key(expectation))
            for row in failing:
                index = tuple(_plain(row[column]) for column in index_columns)
                unexpected_rows.add(index)
                column = _key(expectation)[1]
                value = row.get(column) if column else None
                if check is not None:
                    result.failures.append(Failure(index, check.kind, check.column, value, check.describe(value)))
                else:
                    result.failures.append(Failure(index, "expectation_failed", column or "", value,
                                                   f"{column} {value!r} fails {_key(expectation)[0]} (suite {name})"))
        statistics = outcome.statistics
        self.summaries.append(ValidationSummary(
            checkpoint=checkpoint.name, suite=name, success=bool(outcome.success),
            evaluated_expectations=int(statistics.get("evaluated_expectations", 0)),
            successful_expectations=int(statistics.get("successful_expectations", 0)),
            unsuccessful_expectations=int(statistics.get("unsuccessful_expectations", 0)),
            unexpected_rows=len(unexpected_rows), n_rows=len(frame),
            gx_run_id=_run_time(outcome.meta.get("run_id")),
            validated_at=datetime.now(timezone.utc).replace(tzinfo=None),
            seconds=round(time.perf_counter() - started, 3), result_json=json.dumps(details)))
        return result


def land_results(con: Any, summaries: list[ValidationSummary], batch_of: dict[str, str] | None = None,
                 run_id: str | None = None) -> int:
    """Keep each validation in raw.gx_validation_results (idempotent on checkpoint, suite and
    GX run time); `batch_of` maps a suite to the ingest batch it validated."""
    import hashlib

    for summary in summaries:
        key = hashlib.sha256(f"{summary.checkpoint}\0{summary.suite}\0{summary.gx_run_id}".encode()).hexdigest()[:32]
        con.execute(
            "insert into raw.gx_validation_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "on conflict do nothing",
            [key, summary.checkpoint, summary.suite, (batch_of or {}).get(summary.suite), run_id, summary.success,
             summary.evaluated_expectations, summary.successful_expectations, summary.unsuccessful_expectations,
             summary.unexpected_rows, summary.n_rows, summary.gx_run_id, summary.result_json, summary.seconds,
             summary.validated_at])
    return len(summaries)


def batches_of(summaries: list[ValidationSummary], outcomes: list[Any]) -> dict[str, str]:
    """suite -> batch_id of the ingest outcome it validated: the only one, or (FBL: one file per
    dataset) the one whose file name starts with the suite's dataset."""
    found: dict[str, str] = {}
    for summary in summaries:
        if len(outcomes) == 1:
            found[summary.suite] = outcomes[0].batch_id
            continue
        dataset = summary.suite.split("_")[0]
        for outcome in outcomes:
            if Path(str(outcome.source_file)).name.startswith(dataset):
                found[summary.suite] = outcome.batch_id
    return found


CALLS_QUERY = """
    select call_id, run_id, round_index, attempt_index, relation_label, fbl_label, is_valid, error_class,
           retries, tokens_in, tokens_out, cost_usd, latency_ms
    from raw.llm_calls {where}
"""


def call_checks() -> list[Check]:
    """The annotator's output, as dbt will consume it: a known class or none, a code 1..9, an
    invalid call without a label and a valid one with one, no negative counts, cost or latency."""

    def between(kind: str, column: str, low: float, high: float | None, what: str) -> Check:
        return Check(kind, column,
                     lambda e, c=column, lo=low, hi=high: e.ExpectColumnValuesToBeBetween(column=c, min_value=lo,
                                                                                           max_value=hi),
                     lambda value, w=what: f"{w} {value!r} is out of range")

    return [
        Check("unknown_relation_label", "relation_label",
              lambda e: e.ExpectColumnValuesToBeInSet(column="relation_label",
                                                      value_set=["substitute", "complement", "other"]),
              lambda value: f"relation_label {value!r} is not a class"),
        between("fbl_label_out_of_range", "fbl_label", 1, 9, "fbl_label"),
        between("bad_attempt_index", "attempt_index", 1, None, "attempt_index"),
        between("negative_retries", "retries", 0, None, "retries"),
        between("negative_tokens", "tokens_in", 0, None, "tokens_in"),
        between("negative_tokens", "tokens_out", 0, None, "tokens_out"),
        between("negative_cost", "cost_usd", 0, None, "cost_usd"),
        between("negative_latency", "latency_ms", 0, None, "latency_ms"),
        Check("label_contradicts_validity", "label_matches_validity",
              lambda e: e.ExpectColumnValuesToBeInSet(column="label_matches_validity", value_set=[True]),
              lambda value: "a valid call without a label, or an invalid one with a label"),
    ]


def validate_calls(con: Any, validator: ProjectValidator, run_id: str | None = None) -> TableResult:
    """Run the annotator_calls checkpoint over raw.llm_calls (one run's, or all)."""
    where, params = ("where run_id = ?", [run_id]) if run_id else ("", [])
    frame = con.execute(CALLS_QUERY.format(where=where), params).df()
    frame["label_matches_validity"] = frame["is_valid"] == frame["relation_label"].notna()
    for column in ("fbl_label", "attempt_index", "retries", "tokens_in", "tokens_out"):
        frame[column] = frame[column].astype("float64")  # nullable ints -> floats GX compares as numbers
    return validator.validate("llm_calls", frame, ["call_id", "relation_label", "is_valid"], call_checks(), ["call_id"])
