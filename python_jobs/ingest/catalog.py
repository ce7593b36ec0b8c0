"""Ingest of any product catalogue (CSV or Parquet) into `raw.catalog_items`.

The caller names the item id column, the title column and 1-3 category columns (coarse to fine).
Parquet is read with DuckDB (`file_row_number` gives each row's position). CSV is read with
Python's csv module over the file's physical lines, so a quarantined record keeps its exact text
and line number (DuckDB's CSV reader skips blank lines and only reports line numbers for the
records it rejects). Either way the rows become an all-string pandas frame that
great-expectations validates.

Item ids are namespaced by the catalogue (`<catalog>:<id>`): two catalogues with overlapping ids
keep all their items. A re-ingested catalogue lands a new version of an item only when its row
changed (ingest/catalog_versions.py), and the summary counts new, changed and unchanged items.

The file's kind is sniffed from its bytes first (ingest/sniff.py): a Parquet file named .csv is
read as Parquet, a binary file is rejected with one sentence instead of reaching a parser.
Column names from the file reach SQL quoted (warehouse/identifiers.py).

Quarantined (the record): wrong field count, a NUL byte, blank id, blank title, blank category,
repeated id (the first record wins), a Parquet value whose type is not text (a list, a struct, a
float as a title). Rejected (the file): a named column missing, a column named twice in the
header, a file that is not CSV text or not Parquet.
"""

from __future__ import annotations

import csv
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from python_jobs.ingest.catalog_versions import split_versions
from python_jobs.ingest.common import (
    Batch,
    IngestOutcome,
    QuarantinedRow,
    blank_title_reason,
    insert_frame,
    land_batch,
    make_batch,
    reason,
    stored_outcome,
)
from python_jobs.ingest.fbl import split_lines
from python_jobs.ingest.sniff import as_utf8, parquet_problem, sniff
from python_jobs.ingest.validation import Validator, non_blank
from python_jobs.warehouse.identifiers import quote_identifier

SOURCE = "catalog"
LINE_COLUMN = "_line_no"
RAW_COLUMN = "_raw_line"
# Python's csv module refuses fields over 131,072 characters and the whole file was lost with it;
# a catalogue title has no such limit. Raised while a file is read (2**31 - 1: the C long cap).
CSV_FIELD_LIMIT = 2**31 - 1
# DuckDB types a Parquet id may have (read as text); titles and categories must be text.
ID_TYPES = {"VARCHAR", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT"}
TEXT_TYPES = {"VARCHAR"}


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
    error: str | None = None  # a file-level rejection (reason text); nothing of the file loads
    types: dict[str, str] = field(default_factory=dict)  # Parquet: the DuckDB type of each column


@contextmanager
def csv_field_limit(limit: int = CSV_FIELD_LIMIT) -> Iterator[None]:
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def duplicated_columns(header: list[str]) -> str | None:
    """The reason a header that names a column twice is rejected, or None."""
    repeated = [name for name in dict.fromkeys(header) if header.count(name) > 1]
    if not repeated:
        return None
    return reason("duplicate_column", "; ".join(
        f"column {name!r} appears {header.count(name)} times in the header" for name in repeated))


def read_csv_rows(data: bytes, delimiter: str = ",") -> SourceRows:
    """Records of a CSV file: BOM, LF/CRLF, quoted fields (even across lines) handled."""
    lines = split_lines(data)
    if not lines:
        return SourceRows(pd.DataFrame(columns=[LINE_COLUMN, RAW_COLUMN]), [], "")
    with csv_field_limit():
        return _read_csv_lines(lines, delimiter)


def _read_csv_lines(lines: list, delimiter: str) -> SourceRows:
    quarantined: list[QuarantinedRow] = []
    reader = csv.reader((line.text.replace("\x00", "") + "\n" for line in lines), delimiter=delimiter)
    header = [name.strip() for name in next(reader)]
    problem = duplicated_columns(header)
    if problem:
        withheld = sum(1 for line in lines[1:] if line.text.strip())
        return SourceRows(pd.DataFrame(columns=[LINE_COLUMN, RAW_COLUMN]), [QuarantinedRow(1, lines[0].text, problem, withheld)],
                          lines[0].text, problem)
    records: list[list[object]] = []
    previous_end = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a lone CR inside a field; the reader goes on after it
            start, end = previous_end + 1, reader.line_num
            previous_end = end
            raw_text = "\n".join(line.text for line in lines[start - 1 : end])
            quarantined.append(QuarantinedRow(start, raw_text.replace("\x00", "\\0"), reason("unparseable_record", str(error))))
            continue
        start, end = previous_end + 1, reader.line_num
        previous_end = end
        raw_text = "\n".join(line.text for line in lines[start - 1 : end])
        if not fields or all(not field.strip() for field in fields):
            quarantined.append(QuarantinedRow(start, raw_text, reason("blank_line", "empty line"), 0))
            continue
        if not all(line.is_utf8 for line in lines[start - 1 : end]):
            quarantined.append(QuarantinedRow(start, raw_text, reason("invalid_utf8", "bytes that are not UTF-8")))
            continue
        if "\x00" in raw_text:
            # NUL is no character of a title (DuckDB's VARCHAR holds it, but C-string tools
            # downstream would cut the title there); raw_line shows it as \0.
            quarantined.append(QuarantinedRow(start, raw_text.replace("\x00", "\\0"),
                                              reason("nul_byte", "the record holds a NUL byte")))
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
    raw text is the row as JSON. A file DuckDB cannot read is rejected with its message."""
    try:
        described = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
        columns = [row[0] for row in described]
        frame = _parquet_frame(con, path, columns)
    except duckdb.Error as error:
        problem = reason("unreadable_file", f"{path.name} is not a readable Parquet file: {str(error).splitlines()[0]}")
        return SourceRows(pd.DataFrame(columns=[LINE_COLUMN, RAW_COLUMN]), [QuarantinedRow(1, None, problem, 0)], "", problem)
    problem = duplicated_columns(columns)
    if problem:
        return SourceRows(frame.iloc[0:0], [QuarantinedRow(1, ",".join(columns), problem, len(frame))], ",".join(columns), problem)
    return SourceRows(frame, [], ",".join(columns), types={row[0]: str(row[1]) for row in described})


def _parquet_frame(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str]) -> pd.DataFrame:
    as_json = ", ".join(f"{quote_identifier(name)} := {quote_identifier(name)}" for name in columns)
    casts = ", ".join(f"cast({quote_identifier(name)} as varchar) as {quote_identifier(name)}" for name in columns)
    return con.execute(
        f"""
        select file_row_number + 1 as {LINE_COLUMN}, to_json(struct_pack({as_json})) as {RAW_COLUMN}, {casts}
        from read_parquet(?, file_row_number = true)
        order by file_row_number
        """,
        [str(path)],
    ).df()


def wrong_types(rows: SourceRows, columns: CatalogColumns) -> str | None:
    """The reason every row of a Parquet file is withheld when a named column's type is not what
    the column means (an id: text or an integer; a title or a category: text), else None."""
    for column, what, allowed in [(columns.id_column, "item id", ID_TYPES), (columns.title_column, "title", TEXT_TYPES),
                                  *[(name, "category", TEXT_TYPES) for name in columns.category_columns]]:
        kind = rows.types.get(column)
        if kind is not None and kind not in allowed:
            return reason("wrong_type", f"{what} ({column}) is {kind}, not text")
    return None


def validate_items(
    rows: SourceRows, columns: CatalogColumns, validator: Validator, name: str
) -> tuple[pd.DataFrame, list[QuarantinedRow], str | None]:
    """GX checks (columns present, non-blank id/title/categories) and the repeated-id check.

    Returns the good records (item_id, title, category_l1..3, _line_no), the quarantine rows and
    a file-level error when a named column is missing.
    """
    frame = rows.frame
    if rows.error:
        return _empty_items(), list(rows.quarantined), rows.error
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
    type_problem = wrong_types(rows, columns)
    for number in frame[LINE_COLUMN] if type_problem else []:
        bad_lines.add(number)
        quarantined.append(QuarantinedRow(number, raw_by_line[number], type_problem))
    if not type_problem and rows.types:  # Parquet text may hold NUL; CSV records were checked as read
        holds_nul = frame[columns.required].apply(lambda column: column.str.contains("\x00", regex=False)).any(axis=1)
        for number in frame.loc[holds_nul, LINE_COLUMN]:
            bad_lines.add(number)
            quarantined.append(QuarantinedRow(number, raw_by_line[number], reason("nul_byte", "the record holds a NUL byte")))
    for failure in result.failures:
        (number,) = failure.index
        if number in bad_lines:
            continue  # one quarantine row per withheld record
        bad_lines.add(number)
        quarantined.append(QuarantinedRow(number, raw_by_line[number], reason(failure.kind, failure.message)))
    for number, title in zip(frame[LINE_COLUMN], frame[columns.title_column]):
        problem = None if number in bad_lines else blank_title_reason(title, f"title ({columns.title_column})")
        if problem:
            bad_lines.add(number)
            quarantined.append(QuarantinedRow(number, raw_by_line[number], problem))
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


def namespaced_item_id(catalog: str, source_id: str) -> str:
    """The warehouse id of a catalogue's item: `<catalog>:<id>`, so catalogues never collide."""
    return f"{catalog}:{source_id}"


def items_frame(items: pd.DataFrame, catalog: str, batch: Batch) -> pd.DataFrame:
    """raw.catalog_items rows."""
    frame = items.drop(columns=[LINE_COLUMN]).copy()
    frame["item_id"] = [namespaced_item_id(catalog, source_id) for source_id in frame["item_id"]]
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
    rows = read_rows(con, path, data, delimiter)
    items, quarantined, error = validate_items(rows, columns, validator or Validator(), f"catalog_{catalog}")
    versions = split_versions(con, items_frame(items, catalog, batch))
    loaded = land_batch(con, batch, quarantined, lambda c: insert_frame(c, "raw.catalog_items", versions.rows))
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
        details=versions.details() if not error else {},
    )


def read_rows(con: duckdb.DuckDBPyConnection, path: Path, data: bytes, delimiter: str | None) -> SourceRows:
    """The file's records, by what its bytes are (not its name)."""
    kind = sniff(data)
    parquet_named = path.suffix.lower() in {".parquet", ".pq"}
    if kind.kind == "parquet" or parquet_named:
        problem = parquet_problem(data)
        if problem:
            problem = reason("unreadable_file", f"{path.name} is {problem}")
            return SourceRows(pd.DataFrame(columns=[LINE_COLUMN, RAW_COLUMN]), [QuarantinedRow(1, None, problem, 0)], "", problem)
        return read_parquet_rows(con, path)
    if kind.kind == "binary":
        problem = reason("unreadable_file", f"{path.name} looks binary ({kind.detail}), not CSV text")
        return SourceRows(pd.DataFrame(columns=[LINE_COLUMN, RAW_COLUMN]), [QuarantinedRow(1, None, problem, 0)], "", problem)
    return read_csv_rows(as_utf8(data, kind), delimiter or ("\t" if path.suffix.lower() == ".tsv" else ","))
