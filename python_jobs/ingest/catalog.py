"""Ingest of any product catalogue (CSV or Parquet) into `raw.catalog_items`.

The caller names the item id column, the title column and 1-3 category columns (coarse to fine).
Parquet is read with DuckDB (`file_row_number` gives each row's position). CSV is read with
Python's csv module over the file's physical lines, so a quarantined record keeps its exact text
and line number (DuckDB's CSV reader skips blank lines and only reports line numbers for the
records it rejects). Either way the rows become an all-string pandas frame that
great-expectations validates.

Quarantined (the record): wrong field count, blank id, blank title, blank category, repeated id
(the first record wins). Rejected (the file): a named column missing.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from python_jobs.ingest.common import (
    Batch,
    IngestOutcome,
    QuarantinedRow,
    insert_frame,
    land_batch,
    make_batch,
    reason,
    stored_outcome,
)
from python_jobs.ingest.fbl import split_lines
from python_jobs.ingest.validation import Validator, non_blank

SOURCE = "catalog"
LINE_COLUMN = "_line_no"
RAW_COLUMN = "_raw_line"


@dataclass(frozen=True)
class CatalogColumns:
    id_column: str
    title_column: str
    category_columns: tuple[str, ...]  # 1..3, coarse to fine

    def __post_init__(self) -> None:
        if not 1 <= len(self.category_columns) <= 3:
            raise ValueError(f"give 1 to 3 category columns (coarse to fine), got {len(self.category_columns)}")

    @property
    def required(self) -> list[str]:
        return [self.id_column, self.title_column, *self.category_columns]


@dataclass
class SourceRows:
    """All-string records of a file with their line (CSV) or row (Parquet) number and raw text."""

    frame: pd.DataFrame  # columns: _line_no, _raw_line, then the file's columns as strings
    quarantined: list[QuarantinedRow]
    header_line: str


def read_csv_rows(data: bytes, delimiter: str = ",") -> SourceRows:
    """Records of a CSV file: BOM, LF/CRLF, quoted fields (even across lines) handled."""
    lines = split_lines(data)
    if not lines:
        return SourceRows(pd.DataFrame(columns=[LINE_COLUMN, RAW_COLUMN]), [], "")
    quarantined: list[QuarantinedRow] = []
    reader = csv.reader((line.text + "\n" for line in lines), delimiter=delimiter)
    header = [name.strip() for name in next(reader)]
    records: list[list[object]] = []
    previous_end = reader.line_num
    for fields in reader:
        start, end = previous_end + 1, reader.line_num
        previous_end = end
        raw_text = "\n".join(line.text for line in lines[start - 1 : end])
        if not fields or all(not field.strip() for field in fields):
            quarantined.append(QuarantinedRow(start, raw_text, reason("blank_line", "empty line"), 0))
            continue
        if not all(line.is_utf8 for line in lines[start - 1 : end]):
            quarantined.append(QuarantinedRow(start, raw_text, reason("invalid_utf8", "bytes that are not UTF-8")))
            continue
        if len(fields) != len(header):
            hint = " (the file looks truncated)" if end == lines[-1].number else ""
            problem = reason("wrong_field_count", f"{len(fields)} fields, the header has {len(header)}{hint}")
            quarantined.append(QuarantinedRow(start, raw_text, problem))
            continue
        records.append([start, raw_text, *fields])
    frame = pd.DataFrame(records, columns=[LINE_COLUMN, RAW_COLUMN, *header])
    return SourceRows(frame, quarantined, lines[0].text)


def read_parquet_rows(con: duckdb.DuckDBPyConnection, path: Path) -> SourceRows:
    """Rows of a Parquet file as strings; the line number is the 1-based row number and the
    raw text is the row as JSON."""
    frame = _parquet_frame(con, path)
    header = ",".join(column for column in frame.columns if not column.startswith("_"))
    return SourceRows(frame, [], header)


def _parquet_frame(con: duckdb.DuckDBPyConnection, path: Path) -> pd.DataFrame:
    described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
    columns = [row[0] for row in described]
    as_json = ", ".join(f"'{_sql_text(name)}': \"{name}\"" for name in columns)
    casts = ", ".join(f'cast("{name}" as varchar) as "{name}"' for name in columns)
    return con.execute(
        f"""
        select file_row_number + 1 as {LINE_COLUMN}, to_json({{{as_json}}}) as {RAW_COLUMN}, {casts}
        from read_parquet(?, file_row_number = true)
        order by file_row_number
        """,
        [str(path)],
    ).df()


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def validate_items(
    rows: SourceRows, columns: CatalogColumns, validator: Validator, name: str
) -> tuple[pd.DataFrame, list[QuarantinedRow], str | None]:
    """GX checks (columns present, non-blank id/title/categories) and the repeated-id check.

    Returns the good records (item_id, title, category_l1..3, _line_no), the quarantine rows and
    a file-level error when a named column is missing.
    """
    frame = rows.frame
    checks = [non_blank("blank_id", columns.id_column, f"item id ({columns.id_column})"),
              non_blank("blank_title", columns.title_column, f"title ({columns.title_column})")]
    checks += [non_blank("blank_category", column, f"category ({column})") for column in columns.category_columns]
    for column in columns.required:
        if column in frame.columns:
            frame[column] = frame[column].fillna("")
    result = validator.validate(name, frame, columns.required, checks, [LINE_COLUMN])
    quarantined = list(rows.quarantined)
    if result.missing_columns:
        problem = reason(
            "missing_column",
            f"required column {', '.join(result.missing_columns)} is missing (columns found: {', '.join(c for c in frame.columns if not c.startswith('_'))})",
        )
        withheld = len(frame)
        return _empty_items(), quarantined + [QuarantinedRow(1, rows.header_line, problem, withheld)], problem
    raw_by_line = dict(zip(frame[LINE_COLUMN], frame[RAW_COLUMN]))
    bad_lines: set[int] = set()
    for failure in result.failures:
        (number,) = failure.index
        if number in bad_lines:
            continue  # one quarantine row per withheld record
        bad_lines.add(number)
        quarantined.append(QuarantinedRow(number, raw_by_line[number], reason(failure.kind, failure.message)))
    good = frame[~frame[LINE_COLUMN].isin(bad_lines)]
    items = pd.DataFrame(
        {
            LINE_COLUMN: good[LINE_COLUMN].astype("int64"),
            "item_id": good[columns.id_column].str.strip(),
            "title": good[columns.title_column].str.strip(),
        }
    )
    for level in range(3):
        values = good[columns.category_columns[level]].str.strip() if level < len(columns.category_columns) else None
        items[f"category_l{level + 1}"] = values
    first_line = items.drop_duplicates("item_id").set_index("item_id")[LINE_COLUMN]
    repeated = items.duplicated("item_id", keep="first")
    for number, item_id in zip(items.loc[repeated, LINE_COLUMN], items.loc[repeated, "item_id"]):
        problem = reason("duplicate_item_id", f"item id {item_id!r} already on line {first_line[item_id]}")
        quarantined.append(QuarantinedRow(int(number), raw_by_line[number], problem))
    quarantined.sort(key=lambda row: (row.source_line, row.reason))
    return items[~repeated].reset_index(drop=True), quarantined, None


def _empty_items() -> pd.DataFrame:
    return pd.DataFrame(columns=[LINE_COLUMN, "item_id", "title", "category_l1", "category_l2", "category_l3"])


def items_frame(items: pd.DataFrame, catalog: str, batch: Batch) -> pd.DataFrame:
    """raw.catalog_items rows."""
    frame = items.drop(columns=[LINE_COLUMN]).copy()
    frame.insert(0, "catalog", catalog)
    frame["batch_id"] = batch.batch_id
    frame["ingested_at"] = batch.ingested_at
    return frame


def ingest_catalog(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    columns: CatalogColumns,
    name: str | None = None,
    validator: Validator | None = None,
    delimiter: str | None = None,
) -> IngestOutcome:
    """Validate and land a CSV/Parquet catalogue; the same bytes twice change nothing."""
    started = time.perf_counter()
    catalog = name or path.stem
    data = path.read_bytes()
    batch = make_batch(SOURCE, path.name, [catalog.encode(), b"\0", data])
    previous = stored_outcome(con, batch)
    if previous is not None:
        return previous
    if path.suffix.lower() in {".parquet", ".pq"}:
        rows = read_parquet_rows(con, path)
    else:
        rows = read_csv_rows(data, delimiter or ("\t" if path.suffix.lower() == ".tsv" else ","))
    items, quarantined, error = validate_items(rows, columns, validator or Validator(), f"catalog_{catalog}")
    frame = items_frame(items, catalog, batch)
    loaded = land_batch(con, batch, quarantined, lambda c: insert_frame(c, "raw.catalog_items", frame))
    withheld = sum(row.records for row in quarantined)
    return IngestOutcome(
        source=SOURCE,
        source_file=path.name,
        batch_id=batch.batch_id,
        rows_loaded=loaded,
        quarantined=quarantined,
        error=error,
        records_in_file=len(items) + withheld,
        records_withheld=withheld,
        seconds=time.perf_counter() - started,
    )
