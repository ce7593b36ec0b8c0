"""Reads a labelled dataset file in long form (one row per judgement) into a frame of strings, one
row per data row with its 1-based line (`line_no`, header = 1) and its text (`raw_line`).

Formats: CSV and TSV (the delimiter from the header line: a tab makes it TSV), JSON lines (one
object per line) and Parquet (its rows numbered from 2, as if a header were line 1). The kind is
sniffed from the bytes first (ingest/sniff.py), never trusted from the name. Rows that cannot be
read (broken UTF-8, a NUL byte, a wrong field count, a line that is no JSON object) come back as
quarantine rows; the file is rejected as a whole only when it is no text nor Parquet, or empty.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import pandas as pd

from python_jobs.ingest.common import QuarantinedRow, reason
from python_jobs.ingest.lines import split_lines
from python_jobs.ingest.sniff import as_utf8, parquet_problem, sniff


@dataclass
class ReadRows:
    rows: pd.DataFrame  # line_no, raw_line and the file's columns, every value a stripped string
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    data_rows: int = 0  # rows the file holds (read or quarantined), blank lines not counted
    error: str | None = None  # the whole file was rejected


def _frame(records: list[dict[str, str]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=["line_no", "raw_line", *columns])
    for column in columns:
        frame[column] = frame[column].fillna("").astype(str).str.strip()
    return frame


def read_rows(file_name: str, data: bytes) -> ReadRows:
    kind = sniff(data)
    if kind.kind == "parquet":
        return _read_parquet(file_name, data)
    if kind.kind != "text":
        problem = reason("unreadable_file", f"{file_name} looks binary ({kind.detail}), not CSV, TSV, JSON lines or Parquet")
        return ReadRows(_frame([], []), [QuarantinedRow(1, None, problem, 0)], 0, problem)
    lines = [line for line in split_lines(as_utf8(data, kind))]
    if not any(line.text.strip() for line in lines):
        problem = reason("empty_file", f"{file_name} is empty")
        return ReadRows(_frame([], []), [QuarantinedRow(1, "", problem, 0)], 0, problem)
    first = next(line for line in lines if line.text.strip())
    if first.text.lstrip().startswith("{"):
        return _read_json_lines(lines)
    return _read_delimited(file_name, lines, "\t" if "\t" in first.text else ",")


def _bad_line(line, quarantined: list[QuarantinedRow]) -> bool:  # noqa: ANN001 - lines.SourceLine
    if not line.is_utf8:
        quarantined.append(QuarantinedRow(line.number, line.text, reason("invalid_utf8", "bytes that are not UTF-8"), 1))
        return True
    if "\x00" in line.text:
        quarantined.append(QuarantinedRow(line.number, line.text.replace("\x00", "\\0"),
                                          reason("nul_byte", "the line holds a NUL byte"), 1))
        return True
    return False


def _read_delimited(file_name: str, lines: list, delimiter: str) -> ReadRows:
    header_line = next(line for line in lines if line.text.strip())
    header = [name.strip().lower() for name in next(csv.reader([header_line.text], delimiter=delimiter))]
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    data_lines = [line for line in lines if line.number > header_line.number and line.text.strip()]
    if duplicated:
        problem = reason("duplicate_column", f"{file_name}: column {', '.join(duplicated)} appears twice in the header")
        return ReadRows(_frame([], header), [QuarantinedRow(header_line.number, header_line.text, problem, len(data_lines))],
                        len(data_lines), problem)
    records: list[dict[str, str]] = []
    quarantined: list[QuarantinedRow] = []
    last = lines[-1].number
    for line in data_lines:
        if _bad_line(line, quarantined):
            continue
        try:
            values = next(csv.reader([line.text], delimiter=delimiter))
        except csv.Error as error:
            quarantined.append(QuarantinedRow(line.number, line.text, reason("unparsable_row", str(error)), 1))
            continue
        if len(values) != len(header):
            hint = " (the file looks truncated)" if line.number == last else ""
            problem = reason("wrong_field_count", f"{len(values)} fields, the header has {len(header)}{hint}")
            quarantined.append(QuarantinedRow(line.number, line.text, problem, 1))
            continue
        records.append({"line_no": line.number, "raw_line": line.text, **dict(zip(header, values))})
    return ReadRows(_frame(records, header), quarantined, len(data_lines))


def _read_json_lines(lines: list) -> ReadRows:
    records: list[dict[str, str]] = []
    quarantined: list[QuarantinedRow] = []
    columns: list[str] = []
    data_lines = [line for line in lines if line.text.strip()]
    for line in data_lines:
        if _bad_line(line, quarantined):
            continue
        try:
            value = json.loads(line.text)
        except json.JSONDecodeError as error:
            quarantined.append(QuarantinedRow(line.number, line.text, reason("unparsable_row", f"not JSON ({error.msg})"), 1))
            continue
        if not isinstance(value, dict):
            quarantined.append(QuarantinedRow(line.number, line.text, reason("unparsable_row", "not a JSON object"), 1))
            continue
        row = {str(key).strip().lower(): ("" if item is None else str(item)) for key, item in value.items()}
        columns.extend(key for key in row if key not in columns)
        records.append({"line_no": line.number, "raw_line": line.text, **row})
    return ReadRows(_frame(records, columns), quarantined, len(data_lines))


def _read_parquet(file_name: str, data: bytes) -> ReadRows:
    problem = parquet_problem(data)
    if problem:
        text = reason("unreadable_file", f"{file_name}: {problem}")
        return ReadRows(_frame([], []), [QuarantinedRow(1, None, text, 0)], 0, text)
    table = pd.read_parquet(io.BytesIO(data))
    table.columns = [str(name).strip().lower() for name in table.columns]
    columns = list(table.columns)
    records = []
    for position, row in enumerate(table.itertuples(index=False), start=2):
        values = {name: _text(value) for name, value in zip(columns, row)}
        records.append({"line_no": position, "raw_line": json.dumps(values, ensure_ascii=False), **values})
    return ReadRows(_frame(records, columns), [], len(records))


def _text(value: object) -> str:
    """A Parquet cell as text: null -> '', a whole float (an integer column with nulls) -> '2'."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
