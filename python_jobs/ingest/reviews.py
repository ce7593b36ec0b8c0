"""`karl ingest reviews FILE`: human decisions on review-queue pairs -> raw.human_reviews.

Accepted files (as `karl export review-queue` writes them, after review):
- CSV with columns pair_key, item_a_id, item_b_id, relation_label, and optionally fbl_label,
  reviewer_id, note. Rows with neither relation_label nor fbl_label are not reviewed yet and are
  skipped (counted, not quarantined).
- Label Studio's JSON export and Argilla's record exports (`to_list(flatten=True)`, `to_json`):
  one review per submitted answer; drafts, discarded responses and skipped annotations are not
  decisions (ingest/review_responses.py), they are counted in the summary.

A review is a human judgement (annotator kind 'human'): staging maps it through the class seeds
and fct_training_labels trains on the latest review of a pair (label_source 'review').
Validation (great-expectations over the parsed rows) quarantines bad rows: unknown label, FBL
code outside 1..9, FBL code that contradicts the relation label, pair key not matching the item
ids, blank ids. review_id = hash(pair_key, reviewer, batch), so re-ingesting a file is a no-op.

References are checked against the warehouse before anything lands (ingest/references.py): a
review whose item is in no catalogue or labelled dataset, or whose pair was never judged nor selected,
is quarantined (`unknown_item`, `unknown_pair`): it used to land and fail every later build.
Two rows of one reviewer that label one pair differently are both quarantined
(`conflicting_review`): "last row wins" hid the disagreement. A file whose JSON is not a list of
objects (or `{"records": [...]}`), a CSV that names a column twice, or bytes that are no text
are rejected as a whole with one sentence.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from python_jobs.ingest.catalog import csv_field_limit, duplicated_columns
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
from python_jobs.ingest.references import known_items, known_pairs, unknown_reference
from python_jobs.ingest.review_responses import parse_json
from python_jobs.ingest.sniff import as_utf8, sniff
from python_jobs.ingest.validation import Validator, in_set, matches, non_blank
from python_jobs.warehouse.keys import pair_key as make_pair_key

SOURCE = "reviews"
RELATION_LABELS = ["substitute", "complement", "other"]
# FBL code -> 3-class label (seeds/fbl_classes.csv); used to fill relation_label when only the code is given
FBL_RELATION = {1: "substitute", 2: "complement", 3: "complement", 4: "complement", 5: "complement",
                6: "complement", 7: "complement", 8: "other", 9: "other"}


@dataclass(frozen=True)
class ReviewRow:
    source_line: int  # CSV physical line; JSON: 1-based position of the task/record
    raw_line: str
    pair_key: str
    item_a_id: str
    item_b_id: str
    reviewer_id: str
    relation_label: str
    fbl_label: str
    note: str


def review_id_for(pair_key: str, reviewer_id: str, batch_id: str) -> str:
    return hashlib.sha256(f"{pair_key}\0{reviewer_id}\0{batch_id}".encode()).hexdigest()[:32]


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


class ReviewFileError(ValueError):
    """The file as a whole is not a review file karl can read (its message says why)."""


def parse_csv(data: bytes, default_reviewer: str) -> tuple[list[ReviewRow], int]:
    """Rows of a review CSV (reviewed ones only) and how many were left unreviewed. NUL bytes
    are stripped; a header that names a column twice rejects the file."""
    text = data.decode("utf-8-sig").replace("\x00", "")
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    problem = duplicated_columns([name.strip() for name in reader.fieldnames or []])
    if problem:
        raise ReviewFileError(problem)
    rows: list[ReviewRow] = []
    skipped = 0
    for record in reader:
        line = reader.line_num
        relation, fbl = _text(record.get("relation_label")).lower(), _text(record.get("fbl_label"))
        if not relation and not fbl:
            skipped += 1
            continue
        rows.append(ReviewRow(
            source_line=line, raw_line=lines[line - 1] if line - 1 < len(lines) else "",
            pair_key=_text(record.get("pair_key")), item_a_id=_text(record.get("item_a_id")),
            item_b_id=_text(record.get("item_b_id")),
            reviewer_id=_text(record.get("reviewer_id")) or default_reviewer,
            relation_label=relation, fbl_label=fbl, note=_text(record.get("note")),
        ))
    return rows, skipped


def _shape(value: object) -> str:
    if value is None:
        return "JSON null"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, list):
        kinds = sorted({type(item).__name__ for item in value if not isinstance(item, dict)})
        return f"a list of {', '.join(kinds)}"
    return f"a JSON {type(value).__name__}"


def check_json_shape(payload: object) -> None:
    """ReviewFileError naming what was found unless `payload` is a list of objects or
    {"records": [objects]} (a list of numbers, a string or null used to raise deep in parsing)."""
    expected = "expected a Label Studio task list or Argilla records (a list of JSON objects or {\"records\": [...]})"
    if isinstance(payload, dict):
        if "records" not in payload:
            raise ReviewFileError(f"{expected}, found an object without records")
        records = payload["records"]
        if not isinstance(records, list):
            raise ReviewFileError(f"{expected}, found records is {type(records).__name__}")
        payload = records
    if not isinstance(payload, list) or not all(isinstance(item, dict) for item in payload):
        raise ReviewFileError(f"{expected}, found {_shape(payload)}")


def parse_file(path: Path, data: bytes, default_reviewer: str) -> tuple[list[ReviewRow], Counter]:
    """(decisions as rows, what was passed over and why). JSON is an Argilla or Label Studio
    export (ingest/review_responses.py: submitted responses only); anything else is the CSV."""
    kind = sniff(data)
    if kind.kind != "text":
        raise ReviewFileError(f"{path.name} looks binary ({kind.detail or 'a Parquet file'}), not a review CSV or JSON")
    data = as_utf8(data, kind)
    stripped = data.lstrip()
    if path.suffix.lower() == ".json" or stripped[:1] in (b"[", b"{"):
        payload = json.loads(data.decode("utf-8-sig"))
        check_json_shape(payload)
        parsed = parse_json(payload)
        rows = [ReviewRow(source_line=d.position, raw_line=d.raw, pair_key=d.pair_key, item_a_id=d.item_a_id,
                          item_b_id=d.item_b_id, reviewer_id=d.reviewer_id or default_reviewer,
                          relation_label=d.relation_label, fbl_label=d.fbl_label, note=d.note)
                for d in parsed.decisions]
        return rows, parsed.not_decided
    with csv_field_limit():
        rows, skipped = parse_csv(data, default_reviewer)
    return rows, Counter({"csv row not reviewed yet": skipped} if skipped else {})


def effective_label(row: ReviewRow) -> str:
    """The 3-class label a row means: its relation_label, else its FBL code's class."""
    if row.relation_label or not re.fullmatch(r"[1-9]", row.fbl_label):
        return row.relation_label
    return FBL_RELATION[int(row.fbl_label)]


def conflicting_reviews(rows: list[ReviewRow]) -> dict[int, str]:
    """Rows (by position) of one reviewer that label one pair differently, with the reason:
    each names the other lines' labels. Identical repeats are no conflict (the last one lands)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for number, row in enumerate(rows):
        groups.setdefault((row.pair_key, row.reviewer_id), []).append(number)
    problems: dict[int, str] = {}
    for (pair, reviewer), numbers in groups.items():
        labels = {(effective_label(rows[n]), rows[n].fbl_label) for n in numbers}
        if len(labels) < 2:
            continue
        for number in numbers:
            others = ", ".join(f"{effective_label(rows[n])} on line {rows[n].source_line}" for n in numbers if n != number)
            problems[number] = reason("conflicting_review", f"reviewer {reviewer} labels pair {pair} "
                                                            f"{effective_label(rows[number])} here and {others}")
    return problems


def validate_rows(rows: list[ReviewRow], validator: Validator) -> tuple[list[ReviewRow], list[QuarantinedRow]]:
    """(good rows, quarantined rows): GX checks on the frame, then the cross-column rules."""
    if not rows:
        return [], []
    frame = pd.DataFrame([row.__dict__ for row in rows])
    frame["row_number"] = range(len(frame))
    # relation_label may be blank when an FBL code is given: check the effective label
    frame["effective_label"] = [effective_label(row) for row in rows]
    checks = [
        non_blank("blank_pair_key", "pair_key", "pair_key"),
        non_blank("blank_item_id", "item_a_id", "item_a_id"),
        non_blank("blank_item_id", "item_b_id", "item_b_id"),
        in_set("bad_relation_label", "effective_label", RELATION_LABELS, "relation_label"),
        matches("bad_fbl_label", "fbl_label", r"^(?:[1-9])?$", "fbl_label"),
    ]
    result = validator.validate("human_reviews", frame, ["pair_key", "item_a_id", "item_b_id"], checks,
                                ["row_number"])
    problems: dict[int, list[str]] = {}
    for failure in result.failures:
        problems.setdefault(int(failure.index[0]), []).append(reason(failure.kind, failure.message))
    for number, row in enumerate(rows):
        if number in problems:
            continue
        if row.item_a_id and row.item_b_id and row.pair_key != make_pair_key(row.item_a_id, row.item_b_id):
            problems[number] = [reason("pair_key_mismatch",
                                       f"pair_key {row.pair_key!r} is not the key of {row.item_a_id} and {row.item_b_id}")]
        elif row.fbl_label and row.relation_label and FBL_RELATION[int(row.fbl_label)] != row.relation_label:
            problems[number] = [reason("label_conflict",
                                       f"fbl_label {row.fbl_label} means {FBL_RELATION[int(row.fbl_label)]}, "
                                       f"not {row.relation_label}")]
    candidates = {number: row for number, row in enumerate(rows) if number not in problems}
    conflicts = conflicting_reviews(list(candidates.values()))
    for position, number in enumerate(candidates):
        if position in conflicts:
            problems[number] = [conflicts[position]]
    good = [row for number, row in enumerate(rows) if number not in problems]
    quarantined = [
        QuarantinedRow(source_line=rows[number].source_line, raw_line=rows[number].raw_line, reason=text)
        for number, texts in sorted(problems.items()) for text in texts
    ]
    return good, quarantined


def check_references(con: duckdb.DuckDBPyConnection, rows: list[ReviewRow]) -> tuple[list[ReviewRow], list[QuarantinedRow]]:
    """(rows whose pair and items the warehouse holds, quarantine rows for the others)."""
    items = known_items(con, {row.item_a_id for row in rows} | {row.item_b_id for row in rows})
    pairs = known_pairs(con, {row.pair_key for row in rows})
    good, quarantined = [], []
    for row in rows:
        problem = unknown_reference(row.item_a_id, row.item_b_id, row.pair_key, items, pairs)
        if problem:
            quarantined.append(QuarantinedRow(source_line=row.source_line, raw_line=row.raw_line, reason=problem))
        else:
            good.append(row)
    return good, quarantined


def reviews_frame(rows: list[ReviewRow], batch: Batch) -> pd.DataFrame:
    latest: dict[tuple[str, str], ReviewRow] = {}
    for row in rows:  # one review per (pair, reviewer) and batch: the last row of the file wins
        latest[(row.pair_key, row.reviewer_id)] = row
    kept = list(latest.values())
    return pd.DataFrame({
        "review_id": [review_id_for(r.pair_key, r.reviewer_id, batch.batch_id) for r in kept],
        "pair_key": [r.pair_key for r in kept],
        "item_a_id": [r.item_a_id for r in kept],
        "item_b_id": [r.item_b_id for r in kept],
        "reviewer_id": [r.reviewer_id for r in kept],
        "fbl_label": pd.array([int(r.fbl_label) if r.fbl_label else None for r in kept], dtype="Int64"),
        "relation_label": [r.relation_label or FBL_RELATION[int(r.fbl_label)] for r in kept],
        "note": pd.array([r.note or None for r in kept], dtype="string"),
        "batch_id": [batch.batch_id] * len(kept),
        "ingested_at": [batch.ingested_at] * len(kept),
    })


def ingest_reviews(con, path: Path | str, reviewer: str = "reviewer",  # noqa: ANN001 - duckdb connection
                   validator: Validator | None = None) -> IngestOutcome:
    """Land the reviewed rows of `path` in raw.human_reviews (idempotent per file content)."""
    started = time.perf_counter()
    path = Path(path)
    data = path.read_bytes()
    batch = make_batch(SOURCE, str(path), data)
    previous = stored_outcome(con, batch)
    if previous is not None:
        return previous
    outcome = IngestOutcome(source=SOURCE, source_file=str(path), batch_id=batch.batch_id)
    try:
        rows, skipped = parse_file(path, data, reviewer)
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error, ReviewFileError, RecursionError) as error:
        detail = str(error) if isinstance(error, ReviewFileError) else f"{type(error).__name__}: {error}"
        outcome.error = detail if detail.startswith("duplicate_column:") else reason("unreadable_file", detail)
        outcome.quarantined = [QuarantinedRow(source_line=0, raw_line=None, reason=outcome.error)]
        land_batch(con, batch, outcome.quarantined, lambda _con: 0)
        return outcome
    good, quarantined = validate_rows(rows, validator or Validator())
    good, unknown = check_references(con, good)
    quarantined = sorted(quarantined + unknown, key=lambda row: (row.source_line, row.reason))
    frame = reviews_frame(good, batch)
    outcome.rows_loaded = land_batch(con, batch, quarantined,
                                     lambda connection: insert_frame(connection, "raw.human_reviews", frame))
    outcome.quarantined = quarantined
    outcome.records_in_file = len(rows)
    outcome.records_withheld = len(rows) - len(good)
    outcome.details = {f"not a decision: {why} (skipped)": n for why, n in sorted(skipped.items())}
    outcome.seconds = time.perf_counter() - started
    return outcome
