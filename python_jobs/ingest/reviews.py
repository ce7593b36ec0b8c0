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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

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
from python_jobs.ingest.review_responses import parse_json
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


def parse_csv(data: bytes, default_reviewer: str) -> tuple[list[ReviewRow], int]:
    """Rows of a review CSV (reviewed ones only) and how many were left unreviewed."""
    text = data.decode("utf-8-sig")
    lines = text.splitlines()
    reader = csv.DictReader(io.StringIO(text))
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


def parse_file(path: Path, data: bytes, default_reviewer: str) -> tuple[list[ReviewRow], Counter]:
    """(decisions as rows, what was passed over and why). JSON is an Argilla or Label Studio
    export (ingest/review_responses.py: submitted responses only); anything else is the CSV."""
    stripped = data.lstrip()
    if path.suffix.lower() == ".json" or stripped[:1] in (b"[", b"{"):
        parsed = parse_json(json.loads(data.decode("utf-8-sig")))
        rows = [ReviewRow(source_line=d.position, raw_line=d.raw, pair_key=d.pair_key, item_a_id=d.item_a_id,
                          item_b_id=d.item_b_id, reviewer_id=d.reviewer_id or default_reviewer,
                          relation_label=d.relation_label, fbl_label=d.fbl_label, note=d.note)
                for d in parsed.decisions]
        return rows, parsed.not_decided
    rows, skipped = parse_csv(data, default_reviewer)
    return rows, Counter({"csv row not reviewed yet": skipped} if skipped else {})


def validate_rows(rows: list[ReviewRow], validator: Validator) -> tuple[list[ReviewRow], list[QuarantinedRow]]:
    """(good rows, quarantined rows): GX checks on the frame, then the cross-column rules."""
    if not rows:
        return [], []
    frame = pd.DataFrame([row.__dict__ for row in rows])
    frame["row_number"] = range(len(frame))
    # relation_label may be blank when an FBL code is given: check the effective label
    frame["effective_label"] = [
        row.relation_label or FBL_RELATION.get(int(row.fbl_label), "") if row.fbl_label.isdigit()
        else row.relation_label for row in rows
    ]
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
    good = [row for number, row in enumerate(rows) if number not in problems]
    quarantined = [
        QuarantinedRow(source_line=rows[number].source_line, raw_line=rows[number].raw_line, reason=text)
        for number, texts in sorted(problems.items()) for text in texts
    ]
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
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as error:
        outcome.error = reason("unreadable_file", str(error))
        outcome.quarantined = [QuarantinedRow(source_line=0, raw_line=None, reason=outcome.error)]
        land_batch(con, batch, outcome.quarantined, lambda _con: 0)
        return outcome
    good, quarantined = validate_rows(rows, validator or Validator())
    frame = reviews_frame(good, batch)
    outcome.rows_loaded = land_batch(con, batch, quarantined,
                                     lambda connection: insert_frame(connection, "raw.human_reviews", frame))
    outcome.quarantined = quarantined
    outcome.records_in_file = len(rows)
    outcome.records_withheld = len(rows) - len(good)
    outcome.details = {f"not a decision: {why} (skipped)": n for why, n in sorted(skipped.items())}
    outcome.seconds = time.perf_counter() - started
    return outcome
