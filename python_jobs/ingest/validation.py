"""great-expectations checks over pandas frames, reporting the offending rows by an index column.

The GX SQL datasource does not work on DuckDB, so callers read with DuckDB (or plain Python)
into a pandas frame and validate that frame through a pandas datasource. Importing GX and
building a context costs seconds: a `Validator` creates ONE ephemeral context lazily and reuses
it for every frame it validates (one per ingest run).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

NON_BLANK_REGEX = r"\S"


@dataclass(frozen=True)
class Check:
    """One expectation and what a failing row means.

    `make` builds the GX expectation lazily (so callers need not import GX); `kind` is the
    stable quarantine reason code; `describe(value)` words the reason for one failing value.
    """

    kind: str
    column: str
    make: Callable[[Any], Any]  # gx.expectations module -> Expectation
    describe: Callable[[Any], str]


@dataclass
class Failure:
    """One row failing one check: the row's index values, the check and the failing value."""

    index: tuple[Any, ...]
    kind: str
    column: str
    value: Any
    message: str


@dataclass
class TableResult:
    missing_columns: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def non_blank(kind: str, column: str, what: str) -> Check:
    """The column holds some non-whitespace text."""
    return Check(
        kind=kind,
        column=column,
        make=lambda e: e.ExpectColumnValuesToMatchRegex(column=column, regex=NON_BLANK_REGEX),
        describe=lambda value, what=what: f"{what} is blank",
    )


def in_set(kind: str, column: str, values: list[str], what: str) -> Check:
    return Check(
        kind=kind,
        column=column,
        make=lambda e: e.ExpectColumnValuesToBeInSet(column=column, value_set=values),
        describe=lambda value, what=what: f"{what} {value!r} is not one of {', '.join(values)}",
    )


def matches(kind: str, column: str, regex: str, what: str) -> Check:
    return Check(
        kind=kind,
        column=column,
        make=lambda e: e.ExpectColumnValuesToMatchRegex(column=column, regex=regex),
        describe=lambda value, what=what: f"{what} is blank" if not str(value or "").strip() else f"{what} {value!r} is malformed",
    )


def not_null(kind: str, column: str, what: str) -> Check:
    return Check(
        kind=kind,
        column=column,
        make=lambda e: e.ExpectColumnValuesToNotBeNull(column=column),
        describe=lambda value, what=what: f"{what} is missing",
    )


class Validator:
    """Runs checks on pandas frames through one lazily created ephemeral GX context."""

    def __init__(self) -> None:
        self._context: Any = None
        self._gx: Any = None
        self._asset_count = 0
        self.seconds_setup = 0.0

    def _ensure_context(self) -> None:
        if self._context is not None:
            return
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        started = time.perf_counter()
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX pins this module's logger at INFO ("Created temporary directory ... docs site").
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

        self._gx = gx
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._datasource = self._context.data_sources.add_pandas("karl_frames")
        self.seconds_setup = time.perf_counter() - started

    def validate(
        self,
        name: str,
        frame: pd.DataFrame,
        required_columns: list[str],
        checks: list[Check],
        index_columns: list[str],
    ) -> TableResult:
        """Validate `frame`: first that every required column exists, then the row checks.

        Row checks run only when no required column is missing (a missing column makes every
        row check on it meaningless). Failures name rows by `index_column`.
        """
        self._ensure_context()
        gx = self._gx
        self._asset_count += 1
        asset = self._datasource.add_dataframe_asset(f"{name}_{self._asset_count}")
        batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(
            batch_parameters={"dataframe": frame}
        )
        result = TableResult()
        columns_check = gx.expectations.ExpectTableColumnsToMatchSet(
            column_set=list(required_columns), exact_match=False
        )
        outcome = batch.validate(columns_check, result_format="COMPLETE")
        if not outcome.success:
            present = set(frame.columns)
            result.missing_columns = [column for column in required_columns if column not in present]
            if result.missing_columns:
                return result
        suite = gx.ExpectationSuite(name=f"{name}_{self._asset_count}")
        for check in checks:
            suite.add_expectation(check.make(gx.expectations))
        suite = self._context.suites.add(suite)
        validation = batch.validate(
            suite,
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": list(index_columns)},
        )
        result_by_id = {item.expectation_config.id: item for item in validation.results}
        for expectation, check in zip(suite.expectations, checks):  # failures in the order of `checks`
            expectation_result = result_by_id[expectation.id]
            info = expectation_result.exception_info or {}
            if info.get("raised_exception"):
                raise RuntimeError(
                    f"great-expectations could not evaluate {check.kind} on {check.column}: "
                    f"{info.get('exception_message')}"
                )
            if expectation_result.success:
                continue
            for row in expectation_result.result.get("unexpected_index_list") or []:
                value = row.get(check.column)
                result.failures.append(
                    Failure(
                        index=tuple(_plain(row[column]) for column in index_columns),
                        kind=check.kind,
                        column=check.column,
                        value=value,
                        message=check.describe(value),
                    )
                )
        return result


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (they end up in SQL parameters)."""
    return value.item() if hasattr(value, "item") else value
