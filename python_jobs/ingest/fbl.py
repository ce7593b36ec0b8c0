"""The FBL reader: the authors' files (okamoto-lab/fbl_dataset) as two labelled datasets, FBL2023
and FBL2024, in `raw.labelled_judgements` (the table `karl ingest labels` lands in; catalog 'fbl').

Format: TSV, one item pair per line, header
ITEM_URL_1 ITEM_NAME_1 ITEM_URL_2 ITEM_NAME_2 ANNOTATOR{1,2,3}_ID ANNOTATOR{1,2,3}_LABEL.
FBL2023.tsv carries 9-class labels (scheme `fbl9`), FBL2024.tsv 3-class ones (`relation3`).
Each annotator judgement becomes one row.

The file is read line by line (ingest/lines.py), so quarantine keeps each bad line's text and
number. The parsed lines go into pandas frames that great-expectations validates.

What is quarantined, and what it withholds:
- the whole line (its 3 judgements): wrong field count (a truncated last line shows up here),
  broken UTF-8, a NUL byte, blank title, blank or malformed URL, a pair of an item with itself, a repeated
  pair (same A,B as an earlier line) and a reversed repeat (B,A after A,B); the first line wins.
- one judgement only: a blank or out-of-scheme label, a blank annotator id. The pair's other
  judgements load: they are valid votes, and the majority rule downstream decides whether two
  remaining votes still make a label. (The real FBL2023 has 136 blank labels on 64 lines.)
- the whole file: a required column missing from the header, or bytes that are no text (a
  binary or Parquet file under the .tsv name; ingest/sniff.py): nothing of that file loads.
Every withheld judgement is in `raw.quarantine`; loaded + withheld = 3 x pair lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd

from python_jobs.ingest.common import (
    IngestOutcome,
    QuarantinedRow,
    blank_title_reason,
    make_batch,
    reason,
    stored_outcome,
)
from python_jobs.ingest.fbl_source import (  # noqa: F401 - re-exported: where the files come from
    FBL_FILES,
    FBL_RAW_BASE_URL,
    FblFile,
    FblSourceError,
    download_fbl,
    resolve_fbl_dir,
)
from python_jobs.ingest.labels import land_labelled
from python_jobs.ingest.lines import SourceLine, split_lines  # noqa: F401 - re-exported
from python_jobs.ingest.sniff import as_utf8, sniff
from python_jobs.ingest.validation import Validator, in_set, matches, non_blank
from python_jobs.warehouse.keys import item_id_from_url

SOURCE = "fbl"
FBL_CATALOG = "fbl"  # the namespace dim_items gives the FBL items (they are in no catalogue)
SLOTS = (1, 2, 3)
PAIR_COLUMNS = ["ITEM_URL_1", "ITEM_NAME_1", "ITEM_URL_2", "ITEM_NAME_2"]
REQUIRED_COLUMNS = PAIR_COLUMNS + [f"ANNOTATOR{slot}_{part}" for slot in SLOTS for part in ("ID", "LABEL")]
URL_REGEX = r"^https?://[^\s/]+/\S*$"


@dataclass(frozen=True)
class FblOptions:
    # 'quarantine' (default): a B,A line after an A,B line is withheld, the first direction wins.
    # 'keep': load both directions (the raw key includes the direction; dbt must then merge them).
    reversed_pairs: Literal["quarantine", "keep"] = "quarantine"


@dataclass
class ParsedFbl:
    judgements: pd.DataFrame  # the rows to load (raw.labelled_judgements columns minus batch fields)
    quarantined: list[QuarantinedRow]
    pair_lines: int  # data lines that hold a pair (non-blank)
    error: str | None = None


def parse_fbl(spec: FblFile, data: bytes, validator: Validator, options: FblOptions = FblOptions()) -> ParsedFbl:
    """Parse and validate one FBL file; nothing touches the database here."""
    kind = sniff(data)
    if kind.kind != "text":
        problem = reason("unreadable_file", f"{spec.file_name} looks binary ({kind.detail or 'a Parquet file'}), not TSV text")
        return ParsedFbl(_empty_judgements(), [QuarantinedRow(1, None, problem, 0)], 0, problem)
    lines = split_lines(as_utf8(data, kind))
    if not lines:
        problem = reason("empty_file", f"{spec.file_name} is empty")
        return ParsedFbl(_empty_judgements(), [QuarantinedRow(1, "", problem, 0)], 0, problem)
    header = [name.strip() for name in lines[0].text.split("\t")]
    duplicated = sorted({name for name in header if header.count(name) > 1 and name in REQUIRED_COLUMNS})
    if duplicated:
        problem = reason("duplicate_column", f"{spec.file_name}: column {', '.join(duplicated)} appears twice in the header")
        return _rejected(lines, problem)
    quarantined: list[QuarantinedRow] = []
    well_formed: list[SourceLine] = []
    pair_lines = 0
    last_number = lines[-1].number
    for line in lines[1:]:
        if not line.text.strip():
            quarantined.append(QuarantinedRow(line.number, line.text, reason("blank_line", "empty line"), 0))
            continue
        pair_lines += 1
        if not line.is_utf8:
            quarantined.append(QuarantinedRow(line.number, line.text, reason("invalid_utf8", "bytes that are not UTF-8"), 3))
            continue
        if "\x00" in line.text:
            problem = reason("nul_byte", "the line holds a NUL byte")
            quarantined.append(QuarantinedRow(line.number, line.text.replace("\x00", "\\0"), problem, 3))
            continue
        n_fields = line.text.count("\t") + 1
        if n_fields != len(header):
            hint = " (the file looks truncated)" if line.number == last_number else ""
            problem = reason("wrong_field_count", f"{n_fields} fields, the header has {len(header)}{hint}")
            quarantined.append(QuarantinedRow(line.number, line.text, problem, 3))
            continue
        well_formed.append(line)

    pairs = pd.DataFrame(
        [[line.number, line.text, *line.text.split("\t")] for line in well_formed],
        columns=["line_no", "raw_line", *header],
    )
    pair_checks = [
        non_blank("blank_title", "ITEM_NAME_1", "ITEM_NAME_1 (title of item A)"),
        non_blank("blank_title", "ITEM_NAME_2", "ITEM_NAME_2 (title of item B)"),
        matches("bad_url", "ITEM_URL_1", URL_REGEX, "ITEM_URL_1"),
        matches("bad_url", "ITEM_URL_2", URL_REGEX, "ITEM_URL_2"),
    ]
    result = validator.validate(f"{spec.dataset}_pairs", pairs, REQUIRED_COLUMNS, pair_checks, ["line_no"])
    if result.missing_columns:
        missing = ", ".join(result.missing_columns)
        problem = reason("missing_column", f"{spec.file_name}: required column {missing} is missing from the header")
        return _rejected(lines, problem)

    raw_by_line = {line.number: line.text for line in well_formed}
    problems_by_line: dict[int, list[str]] = {}
    for failure in result.failures:
        (number,) = failure.index
        problems_by_line.setdefault(number, []).append(reason(failure.kind, failure.message))
    for side, what in (("1", "ITEM_NAME_1 (title of item A)"), ("2", "ITEM_NAME_2 (title of item B)")):
        for number, title in zip(pairs["line_no"], pairs[f"ITEM_NAME_{side}"]):
            problem = None if number in problems_by_line else blank_title_reason(title, what)
            if problem:
                problems_by_line[number] = [problem]
    for number, problems in problems_by_line.items():
        # one quarantine row per withheld line; its first problem names the kind
        quarantined.append(QuarantinedRow(number, raw_by_line[number], "; ".join(problems), 3))
    bad_lines = set(problems_by_line)

    pairs = pairs[~pairs["line_no"].isin(bad_lines)].copy()
    for side in ("1", "2"):
        pairs[f"ITEM_URL_{side}"] = pairs[f"ITEM_URL_{side}"].str.strip()
        pairs[f"ITEM_NAME_{side}"] = pairs[f"ITEM_NAME_{side}"].str.strip()
        pairs[f"item_{side}_id"] = pairs[f"ITEM_URL_{side}"].map(item_id_from_url)
    keep = _first_occurrences(pairs, options, quarantined)
    pairs = pairs[pairs["line_no"].isin(keep)]

    judgements = pd.concat(
        [
            pd.DataFrame(
                {
                    "line_no": pairs["line_no"],
                    "annotator_slot": slot,
                    "annotator_id": pairs[f"ANNOTATOR{slot}_ID"].str.strip(),
                    "raw_label": pairs[f"ANNOTATOR{slot}_LABEL"].str.strip(),
                }
            )
            for slot in SLOTS
        ],
        ignore_index=True,
    )
    judgement_checks = [
        non_blank("blank_annotator_id", "annotator_id", "annotator id"),
        in_set("label_not_in_scheme", "raw_label", list(spec.labels), f"label ({spec.label_scheme})"),
    ]
    result = validator.validate(
        f"{spec.dataset}_judgements", judgements, ["annotator_id", "raw_label"], judgement_checks, ["line_no", "annotator_slot"]
    )
    bad_judgements: set[tuple[int, int]] = set()
    for failure in result.failures:
        number, slot = failure.index
        kind, detail = failure.kind, failure.message
        if kind == "label_not_in_scheme" and not str(failure.value or "").strip():
            kind, detail = "blank_label", "label is blank"
        if (number, slot) in bad_judgements:
            continue  # one quarantine row per withheld judgement
        bad_judgements.add((number, slot))
        quarantined.append(QuarantinedRow(number, raw_by_line[number], reason(kind, f"annotator {slot}: {detail}"), 1))

    keep_judgement = pd.Series(
        [(number, slot) not in bad_judgements for number, slot in zip(judgements["line_no"], judgements["annotator_slot"])],
        index=judgements.index,
        dtype=bool,
    )
    judgements = judgements.loc[keep_judgement]
    rows = judgements.merge(pairs, on="line_no", how="inner")
    frame = pd.DataFrame(
        {
            "dataset": spec.dataset,
            "source_line": rows["line_no"].astype("int32"),
            "item_a_url": rows["ITEM_URL_1"],
            "item_a_id": rows["item_1_id"],
            "item_a_title": rows["ITEM_NAME_1"],
            "item_b_url": rows["ITEM_URL_2"],
            "item_b_id": rows["item_2_id"],
            "item_b_title": rows["ITEM_NAME_2"],
            "catalog": FBL_CATALOG,
            "annotator_slot": rows["annotator_slot"].astype("int32"),
            "annotator_id": rows["annotator_id"],
            "raw_label": rows["raw_label"].astype("int32"),
            "label_scheme": spec.label_scheme,
        }
    ).sort_values(["source_line", "annotator_slot"], ignore_index=True)
    quarantined.sort(key=lambda row: (row.source_line, row.reason))
    return ParsedFbl(frame, quarantined, pair_lines)


def _first_occurrences(pairs: pd.DataFrame, options: FblOptions, quarantined: list[QuarantinedRow]) -> set[int]:
    """Lines to keep: no self-pairs, the first of repeated pairs (and of reversed repeats)."""
    seen: dict[tuple[str, str], int] = {}
    keep: set[int] = set()
    for number, raw_line, a_id, b_id in zip(pairs["line_no"], pairs["raw_line"], pairs["item_1_id"], pairs["item_2_id"]):
        if a_id == b_id:
            quarantined.append(QuarantinedRow(number, raw_line, reason("self_pair", f"both items are {a_id}"), 3))
            continue
        if (a_id, b_id) in seen:
            problem = reason("duplicate_row", f"pair {a_id},{b_id} already on line {seen[(a_id, b_id)]}")
            quarantined.append(QuarantinedRow(number, raw_line, problem, 3))
            continue
        if (b_id, a_id) in seen and options.reversed_pairs == "quarantine":
            problem = reason("reversed_duplicate", f"pair {a_id},{b_id} is line {seen[(b_id, a_id)]} reversed ({b_id},{a_id})")
            quarantined.append(QuarantinedRow(number, raw_line, problem, 3))
            continue
        seen[(a_id, b_id)] = number
        keep.add(number)
    return keep


def _empty_judgements() -> pd.DataFrame:
    return pd.DataFrame(columns=["dataset", "source_line"])


def _rejected(lines: list[SourceLine], problem: str) -> ParsedFbl:
    """A file-level rejection: one quarantine row (the header line), nothing loads."""
    pair_lines = sum(1 for line in lines[1:] if line.text.strip())
    return ParsedFbl(_empty_judgements(), [QuarantinedRow(1, lines[0].text, problem, 3 * pair_lines)], pair_lines, problem)


def ingest_fbl_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    spec: FblFile,
    validator: Validator,
    options: FblOptions = FblOptions(),
) -> IngestOutcome:
    """Validate and land one FBL file; a batch already ingested is skipped untouched."""
    started = time.perf_counter()
    data = path.read_bytes()
    batch = make_batch(SOURCE, spec.file_name, data)
    previous = stored_outcome(con, batch)
    if previous is not None:
        return previous
    parsed = parse_fbl(spec, data, validator, options)
    return land_labelled(con, batch, spec.dataset, parsed.judgements, parsed.quarantined, 3 * parsed.pair_lines,
                         parsed.error, started)


@dataclass
class FblIngestResult:
    directory: Path
    outcomes: list[IngestOutcome]
    missing_files: list[str]
    seconds_validator_setup: float


def ingest_fbl(
    con: duckdb.DuckDBPyConnection,
    directory: Path | None = None,
    options: FblOptions = FblOptions(),
    validator: Validator | None = None,
    base_url: str = FBL_RAW_BASE_URL,
) -> FblIngestResult:
    """Ingest FBL2023.tsv and FBL2024.tsv from --dir / $KARL_FBL_DIR / the public repository."""
    folder = resolve_fbl_dir(directory, base_url=base_url)
    validator = validator or Validator()
    outcomes = []
    missing = []
    for spec in FBL_FILES:
        path = folder / spec.file_name
        if not path.exists():
            missing.append(spec.file_name)
            continue
        outcomes.append(ingest_fbl_file(con, path, spec, validator, options))
    return FblIngestResult(folder, outcomes, missing, validator.seconds_setup)
