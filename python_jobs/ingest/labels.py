"""`karl ingest labels FILE --dataset NAME [--catalog NAME]`: a labelled dataset in long form.

One row per judgement: `item_a_id`, `item_b_id`, `relation_label` (substitute | complement |
other) and/or `fbl_label` (1-9, directional, A->B), optional `annotator_id`, optional
`item_a_title`, `item_b_title`. Item ids without a `namespace:` prefix get the dataset's namespace
(`--catalog`, else the dataset name in lower case); an item that is in no catalogue and no
labelled dataset is created from its title. Rows land in raw.labelled_judgements, the table the
FBL reader (ingest/fbl.py) lands in too: staging resolves both the same way.

What is quarantined (reason and line), and what it withholds:
- the row (one judgement, one annotator's answer): unreadable rows (ingest/labels_reader.py), a
  blank item id, a pair of an item with itself, an item that is nowhere in the warehouse and has
  no title, a blank label (no relation_label nor fbl_label), a label outside the seeds' classes,
  an fbl_label whose class contradicts the relation_label, a blank annotator id, an annotator's
  second judgement of the same pair, a judgement of B,A after the pair was given as A,B (the first
  direction wins, as `karl ingest fbl` does). A blank or bad label is that annotator's missing
  answer: the pair's other judgements load and the majority rule decides, exactly as FBL's blank
  labels do, so replay sees the same votes.
- the whole file: no text nor Parquet, empty, a required column missing, a column twice.
Re-ingesting the same bytes as the same dataset lands nothing; other rows under a dataset name
already loaded are a new version of it (label_versions.py), which staging serves from then on.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import duckdb
import pandas as pd

from python_jobs.errors import UsageError
from python_jobs.ingest.common import (
    IngestOutcome,
    QuarantinedRow,
    blank_title_reason,
    insert_frame,
    land_batch,
    make_batch,
    reason,
    stored_outcome,
)
from python_jobs.ingest.label_versions import compare_with_live, known_item_ids, with_batch
from python_jobs.ingest.labels_reader import read_rows
from python_jobs.ingest.validation import Validator, in_set
from python_jobs.labels import FBL_RELATION, RELATION_CLASSES

SOURCE = "labels"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_NAMES = {"none", "fbl_pool", "sampler"}
ID_COLUMNS = ["item_a_id", "item_b_id"]


def check_name(what: str, name: str) -> str:
    """A dataset or catalogue name: letters, digits, `_.-` (a role flag lists names with commas)."""
    name = (name or "").strip()
    if not NAME_PATTERN.match(name) or name.lower() in RESERVED_NAMES:
        raise UsageError(f"{what} {name!r}: use 1-64 letters, digits, '_', '.' or '-' (starting with a letter or "
                         f"digit), not one of {', '.join(sorted(RESERVED_NAMES))}")
    return name


def title_problem(title: object) -> bool:
    """True when a title is no title: blank once Unicode-normalised (common.blank_title_reason)."""
    return blank_title_reason(title) is not None


def namespaced(item_id: str, namespace: str) -> str:
    return item_id if ":" in item_id else f"{namespace}:{item_id}"


def parse_labels(con: duckdb.DuckDBPyConnection, dataset: str, namespace: str, file_name: str, data: bytes,
                 validator: Validator) -> tuple[pd.DataFrame, list[QuarantinedRow], int, str | None]:
    """(rows to land, quarantine, judgements in the file, file-level error); nothing is written."""
    read = read_rows(file_name, data)
    if read.error:
        return pd.DataFrame(), read.quarantined, read.data_rows, read.error
    rows, quarantined = read.rows, list(read.quarantined)
    missing = [column for column in ID_COLUMNS if column not in rows.columns]
    if not missing and "relation_label" not in rows.columns and "fbl_label" not in rows.columns:
        missing = ["relation_label or fbl_label"]
    if missing:
        problem = reason("missing_column", f"{file_name}: required column {', '.join(missing)} is missing from the header")
        return pd.DataFrame(), [QuarantinedRow(1, None, problem, read.data_rows)], read.data_rows, problem
    has_annotators = "annotator_id" in rows.columns  # without the column, an annotator is its slot
    for column in ("relation_label", "fbl_label", "annotator_id", "item_a_title", "item_b_title"):
        if column not in rows.columns:
            rows[column] = ""
    rows["relation_label"] = rows["relation_label"].str.lower()
    checks = [
        in_set("label_not_in_scheme", "relation_label", ["", *RELATION_CLASSES], "relation_label (seeds/relation_classes.csv)"),
        in_set("label_not_in_scheme", "fbl_label", ["", *(str(code) for code in FBL_RELATION)], "fbl_label (seeds/fbl_classes.csv, 1-9)"),
    ]
    result = validator.validate(f"labels_{dataset}", rows, ID_COLUMNS, checks, ["line_no"])
    problems: dict[int, str] = {}
    for failure in result.failures:
        (number,) = failure.index
        problems.setdefault(number, reason(failure.kind, failure.message))

    known = known_item_ids(con)
    titled: dict[str, str] = {}
    for side in ("a", "b"):
        rows[f"item_{side}_id"] = [namespaced(value, namespace) if value else "" for value in rows[f"item_{side}_id"]]
        for item_id, title in zip(rows[f"item_{side}_id"], rows[f"item_{side}_title"]):
            if item_id and not title_problem(title):
                titled.setdefault(item_id, title)
    seen_direction: dict[str, tuple[str, str]] = {}
    slots: dict[tuple[str, str], int] = {}
    voters: dict[tuple[str, str], dict[str, int]] = {}
    out: list[dict] = []
    for row in rows.itertuples(index=False):
        a, b = row.item_a_id, row.item_b_id
        problem = problems.get(row.line_no)
        if not a or not b:
            problem = reason("blank_item_id", "item_a_id or item_b_id is blank")
        elif a == b:
            problem = reason("self_pair", f"both items are {a}")
        else:
            unknown = [item for item in (a, b) if item not in known and item not in titled]
            if unknown:
                problem = reason("unknown_item", f"{', '.join(unknown)} is in no catalogue nor labelled dataset and "
                                 "the row gives no title (item_a_title / item_b_title)")
        if problem is None:
            key = tuple(sorted((a, b)))
            first = seen_direction.setdefault(key, (a, b))
            if first != (a, b):
                problem = reason("reversed_duplicate", f"pair {a},{b} was given as {b},{a} earlier in the file")
        if problem is not None and (not a or not b or a == b or problem.startswith(("unknown_item", "reversed_duplicate"))):
            quarantined.append(QuarantinedRow(row.line_no, row.raw_line, problem, 1))
            continue
        slot = slots[(a, b)] = slots.get((a, b), 0) + 1  # an answer, missing or not, takes its annotator's place
        annotator = row.annotator_id if has_annotators else str(slot)
        if problem is None and not annotator:
            problem = reason("blank_annotator_id", "annotator id is blank")
        if problem is None and not row.relation_label and not row.fbl_label:
            problem = reason("blank_label", "relation_label and fbl_label are blank (the annotator's missing answer)")
        if problem is None and row.fbl_label and row.relation_label and FBL_RELATION[int(row.fbl_label)] != row.relation_label:
            problem = reason("label_contradiction", f"fbl_label {row.fbl_label} is {FBL_RELATION[int(row.fbl_label)]} "
                             f"(seeds/fbl_classes.csv), the row says {row.relation_label}")
        if problem is None and annotator in voters.setdefault((a, b), {}):
            problem = reason("duplicate_judgement", f"annotator {annotator} judged {a},{b} on line {voters[(a, b)][annotator]}")
        if problem is not None:
            quarantined.append(QuarantinedRow(row.line_no, row.raw_line, problem, 1))
            continue
        voters[(a, b)][annotator] = row.line_no
        fbl9 = bool(row.fbl_label)
        out.append({
            "dataset": dataset, "source_line": int(row.line_no), "item_a_id": a, "item_b_id": b,
            "item_a_title": None if title_problem(row.item_a_title) else row.item_a_title,
            "item_b_title": None if title_problem(row.item_b_title) else row.item_b_title,
            "item_a_url": None, "item_b_url": None, "catalog": namespace, "annotator_slot": slot,
            "annotator_id": annotator,
            "raw_label": int(row.fbl_label) if fbl9 else RELATION_CLASSES.index(row.relation_label) + 1,
            "label_scheme": "fbl9" if fbl9 else "relation3",
        })
    quarantined.sort(key=lambda item: (item.source_line, item.reason))
    frame = pd.DataFrame(out, columns=["dataset", "source_line", "item_a_id", "item_b_id", "item_a_title", "item_b_title",
                                       "item_a_url", "item_b_url", "catalog", "annotator_slot", "annotator_id",
                                       "raw_label", "label_scheme"])
    return frame, quarantined, read.data_rows, None


def ingest_labels(con: duckdb.DuckDBPyConnection, path: Path, dataset: str, catalog: str | None = None,
                  validator: Validator | None = None) -> IngestOutcome:
    """Validate and land one labelled dataset file; the same bytes as the same dataset land nothing."""
    started = time.perf_counter()
    dataset = check_name("dataset", dataset)
    namespace = check_name("catalog", catalog) if catalog else dataset.lower()
    data = path.read_bytes()
    batch = make_batch(SOURCE, path.name, [dataset.encode(), b"\0", namespace.encode(), b"\0", data])
    previous = stored_outcome(con, batch)
    if previous is not None:
        return previous
    frame, quarantined, n_rows, error = parse_labels(con, dataset, namespace, path.name, data, validator or Validator())
    return land_labelled(con, batch, dataset, frame, quarantined, n_rows, error, started)


def land_labelled(con: duckdb.DuckDBPyConnection, batch, dataset: str, frame: pd.DataFrame,  # noqa: ANN001 - common.Batch
                  quarantined: list[QuarantinedRow], n_records: int, error: str | None, started: float) -> IngestOutcome:
    """Land a parsed dataset as one batch (a new version when the dataset had other rows)."""
    details = compare_with_live(con, dataset, frame) if not error and not frame.empty else {}
    rows = with_batch(frame, batch)
    loaded = land_batch(con, batch, quarantined, lambda c: insert_frame(c, "raw.labelled_judgements", rows))
    return IngestOutcome(
        source=batch.source, source_file=batch.source_file, batch_id=batch.batch_id, rows_loaded=loaded,
        quarantined=quarantined, error=error, records_in_file=n_records,
        records_withheld=sum(row.records for row in quarantined), seconds=time.perf_counter() - started,
        details=details,
    )
