"""What every ingest shares: batches, quarantine rows, idempotent landing, the summary.

A batch is one source file (or a set of files read together) identified by
sha256(source, bytes): the same bytes ingested twice are the same batch and land nothing new.
Rows go in with `insert or ignore` on the raw table's primary key, so a changed file only adds
the rows whose key is new. Rows, quarantine and the batch record land in one transaction.

Quarantine reasons read `<kind>: <detail>`; `kind` is a stable code (e.g. `blank_title`) that the
summary groups by, `detail` says what was wrong in words.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable

import duckdb
import pandas as pd


@dataclass(frozen=True)
class Batch:
    batch_id: str
    source: str
    source_file: str
    file_sha256: str
    ingested_at: datetime


def sha256_of(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def make_batch(source: str, source_file: str, contents: bytes | list[bytes]) -> Batch:
    """The batch of `contents` read from `source_file`; its id depends only on source + bytes."""
    parts = [contents] if isinstance(contents, bytes) else list(contents)
    file_sha = sha256_of(parts)
    batch_id = sha256_of([source.encode(), b"\0", file_sha.encode()])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return Batch(batch_id=batch_id, source=source, source_file=source_file, file_sha256=file_sha, ingested_at=now)


def reason(kind: str, detail: str) -> str:
    return f"{kind}: {detail}"


def reason_kind(text: str) -> str:
    return text.split(":", 1)[0]


@dataclass(frozen=True)
class QuarantinedRow:
    """One problem with one source row. `records` = how many target rows it withholds
    (an FBL line holds 3 judgements; a judgement-level problem withholds 1)."""

    source_line: int
    raw_line: str | None
    reason: str
    records: int = 1
    source_file: str | None = None  # when a batch reads several files; default: the batch's

    @property
    def kind(self) -> str:
        return reason_kind(self.reason)


@dataclass
class IngestOutcome:
    """What one batch did (or had done, when it was already ingested)."""

    source: str
    source_file: str
    batch_id: str
    rows_loaded: int = 0
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    already_ingested: bool = False
    error: str | None = None  # a file-level rejection: nothing of the file was loaded
    records_in_file: int = 0  # target rows the file holds (loaded + withheld), when known
    records_withheld: int = 0
    seconds: float = 0.0
    details: dict[str, int] = field(default_factory=dict)  # source-specific counts worth printing

    def quarantined_by_kind(self) -> Counter[str]:
        return Counter(row.kind for row in self.quarantined)


def stored_outcome(con: duckdb.DuckDBPyConnection, batch: Batch) -> IngestOutcome | None:
    """The recorded outcome of `batch` if it was ingested before, else None."""
    found = con.execute(
        "select rows_loaded from raw.ingest_batches where batch_id = ?", [batch.batch_id]
    ).fetchone()
    if found is None:
        return None
    rows = con.execute(
        "select source_line, raw_line, reason from raw.quarantine where batch_id = ? order by source_line, reason",
        [batch.batch_id],
    ).fetchall()
    quarantined = [QuarantinedRow(source_line=line, raw_line=raw, reason=text) for line, raw, text in rows]
    file_errors = [row.reason for row in quarantined if row.kind in FILE_LEVEL_KINDS]
    return IngestOutcome(
        source=batch.source,
        source_file=batch.source_file,
        batch_id=batch.batch_id,
        rows_loaded=int(found[0]),
        quarantined=quarantined,
        already_ingested=True,
        error="; ".join(file_errors) or None,
    )


# Kinds that reject a whole file (nothing of it loads).
FILE_LEVEL_KINDS = {"missing_column", "duplicate_column", "empty_file", "unreadable_file"}


def quarantine_frame(batch: Batch, rows: list[QuarantinedRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "batch_id": [batch.batch_id] * len(rows),
            "source": [batch.source] * len(rows),
            "source_file": [row.source_file or batch.source_file for row in rows],
            "source_line": pd.array([row.source_line for row in rows], dtype="Int64"),
            "raw_line": pd.array([row.raw_line for row in rows], dtype="string"),
            "reason": pd.array([row.reason for row in rows], dtype="string"),
            "ingested_at": [batch.ingested_at] * len(rows),
        }
    )


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Insert the frame's rows whose primary key is new; return how many went in."""
    if frame.empty:
        return 0
    columns = ", ".join(frame.columns)
    con.register("_karl_ingest_frame", frame)
    try:
        inserted = con.execute(
            f"insert or ignore into {table} ({columns}) select {columns} from _karl_ingest_frame"
        ).fetchone()
    finally:
        try:
            con.unregister("_karl_ingest_frame")
        except duckdb.Error:
            pass  # the transaction failed; its error is the one worth seeing
    return int(inserted[0]) if inserted else 0


def land_batch(
    con: duckdb.DuckDBPyConnection,
    batch: Batch,
    quarantined: list[QuarantinedRow],
    write_rows: Callable[[duckdb.DuckDBPyConnection], int],
) -> int:
    """In one transaction: write the good rows (`write_rows` returns how many were new; bulk
    sources may also write their own quarantine rows there), the quarantine rows and the batch
    record. Returns the rows loaded."""
    con.execute("begin transaction")
    try:
        loaded = write_rows(con)
        insert_frame(con, "raw.quarantine", quarantine_frame(batch, quarantined))
        (n_quarantined,) = con.execute(
            "select count(*) from raw.quarantine where batch_id = ?", [batch.batch_id]
        ).fetchone()
        con.execute(
            "insert or ignore into raw.ingest_batches values (?, ?, ?, ?, ?, ?, ?)",
            [
                batch.batch_id,
                batch.source,
                batch.source_file,
                batch.file_sha256,
                loaded,
                n_quarantined,
                batch.ingested_at,
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return loaded


def summary_lines(outcomes: list[IngestOutcome], record_name: str = "rows") -> list[str]:
    """Plain-text summary: per batch, rows loaded and quarantined by reason kind."""
    lines: list[str] = []
    for outcome in outcomes:
        state = " (already ingested: nothing changed)" if outcome.already_ingested else ""
        lines.append(
            f"{outcome.source_file}: {outcome.rows_loaded} {record_name} loaded, "
            f"{len(outcome.quarantined)} quarantine rows{state}"
            + (f" in {outcome.seconds:.2f} s" if outcome.seconds and not outcome.already_ingested else "")
        )
        if not outcome.error and not outcome.already_ingested:
            lines.append(f"    batch {outcome.batch_id[:12]} (`karl ingest undo {outcome.batch_id[:12]}` takes it back)")
        for kind, count in sorted(outcome.quarantined_by_kind().items()):
            lines.append(f"    {kind}: {count}")
        for name, count in outcome.details.items():
            lines.append(f"    {name}: {count}")
        if outcome.records_in_file:
            lines.append(
                f"    {record_name} in file: {outcome.records_in_file} = "
                f"{outcome.records_in_file - outcome.records_withheld} loaded or already present + "
                f"{outcome.records_withheld} withheld by quarantine"
            )
    return lines


# Unicode categories that print nothing: control (Cc), format (Cf: zero-width space U+200B,
# ZWNJ U+200C, ZWJ U+200D, word joiner U+2060, BOM U+FEFF, soft hyphen), unassigned (Cn) and
# the separators (Zs, Zl, Zp). GX's non-blank check (regex \S) lets Cf and Cc through.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Zs", "Zl", "Zp"})


def blank_title_reason(title: object, what: str = "title") -> str | None:
    """The quarantine reason (`blank_title: ...`) when `title` shows nothing once NFKC-normalised
    (empty, whitespace, zero-width or control characters only), else None. Every reader of item
    titles (catalogues, FBL files, labels files) calls it, so a title is blank in one sense only."""
    text = unicodedata.normalize("NFKC", "" if title is None else str(title))
    if any(unicodedata.category(char) not in _INVISIBLE_CATEGORIES for char in text):
        return None
    if not text.strip():
        return reason("blank_title", f"{what} is blank")
    codes = ", ".join(sorted({f"U+{ord(char):04X}" for char in text if not char.isspace()}))
    return reason("blank_title", f"{what} is blank after Unicode normalisation (only invisible characters: {codes})")
