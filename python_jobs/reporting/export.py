"""Export the review queue (marts.fct_review_queue) for human review.

Three formats, one row per pair (a pair queued in several runs/rounds is shown once, with its
latest votes):

- ``csv``: a spreadsheet; reviewers fill ``relation_label`` (substitute | complement | other),
  optionally ``fbl_label`` (1..9 in the A->B direction), ``reviewer_id`` and ``note``, then
  ``karl ingest reviews FILE`` brings the decisions back.
- ``labelstudio``: a Label Studio task list (``[{"data": ..., "predictions": [...]}]``: both titles,
  the K votes with the model's reasons, a prediction whose score is the pair's uncertainty) and
  the labeling config next to it (``<out>.labeling_config.xml``: the 3-class and the 9-class
  directional choice). Label Studio's JSON export of the project goes back through
  ``karl ingest reviews``.
- ``argilla``: a folder in the layout ``rg.Dataset.to_disk`` writes (``.argilla/dataset.json``,
  ``.argilla/settings.json``, ``records.json``): ``rg.Dataset.from_disk(out, name=...)`` creates the
  dataset and logs the records as they are. ``dataset.records.to_list(flatten=True)`` (or
  ``to_json``) goes back through ``karl ingest reviews``; only submitted responses count.

The formats themselves (and why each field is shaped so) are in reporting/review_tools.py.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from python_jobs.reporting.review_tools import (
    ReviewItem,
    Vote,
    labelstudio_config,
    labelstudio_tasks,
    reason_of,
    write_argilla_folder,
)
from python_jobs.warehouse.connection import require_marts

FORMATS = ("csv", "argilla", "labelstudio")


# Columns of the review CSV; the last four are for the reviewer.
CSV_COLUMNS = (
    "pair_key", "item_a_id", "item_b_id", "item_a_title", "item_b_title", "votes",
    "suggested_relation_label", "review_reason", "run_id", "round_index",
    "relation_label", "fbl_label", "reviewer_id", "note",
)

QUEUE_QUERY = """
    select
        pair_key, item_a_id, item_b_id, item_a_title, item_b_title, votes,
        suggested_relation_label, review_reason, run_id, round_index, uncertainty_score, call_ids
    from marts.fct_review_queue
    where {where}
    qualify row_number() over (partition by pair_key order by round_index desc, run_id desc) = 1
    order by {order}, pair_key
"""
# The queue's order: the model's most uncertain selections first, or the LLM's least confident
# votes first (fct_review_queue.label_confidence, from token logprobs; pairs without one last).
QUEUE_ORDERS = {
    "uncertainty": "uncertainty_score desc nulls last",
    "confidence": "label_confidence asc nulls last",
}


@dataclass(frozen=True)
class QueuedPair:
    pair_key: str
    item_a_id: str
    item_b_id: str
    item_a_title: str | None
    item_b_title: str | None
    votes: str
    suggested_relation_label: str | None
    review_reason: str
    run_id: str
    round_index: int
    uncertainty_score: float | None
    call_ids: str


def load_queue(con: duckdb.DuckDBPyConnection, include_reviewed: bool = False,
               run_ids: list[str] | None = None, sort: str = "uncertainty") -> list[QueuedPair]:
    """Pairs to review, one per pair_key, in QUEUE_ORDERS[sort] order (most uncertain first)."""
    if sort not in QUEUE_ORDERS:
        raise ValueError(f"unknown sort {sort!r}: choose one of {', '.join(QUEUE_ORDERS)}")
    conditions = ["true" if include_reviewed else "not is_reviewed"]
    params: list[object] = []
    if run_ids:
        conditions.append("run_id in (" + ", ".join("?" for _ in run_ids) + ")")
        params.extend(run_ids)
    rows = con.execute(QUEUE_QUERY.format(where=" and ".join(conditions), order=QUEUE_ORDERS[sort]), params).fetchall()
    return [QueuedPair(*row) for row in rows]


def write_csv(pairs: list[QueuedPair], out: Path) -> None:
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for pair in pairs:
            writer.writerow({
                "pair_key": pair.pair_key, "item_a_id": pair.item_a_id, "item_b_id": pair.item_b_id,
                "item_a_title": pair.item_a_title or "", "item_b_title": pair.item_b_title or "",
                "votes": pair.votes, "suggested_relation_label": pair.suggested_relation_label or "",
                "review_reason": pair.review_reason, "run_id": pair.run_id, "round_index": pair.round_index,
                "relation_label": "", "fbl_label": "", "reviewer_id": "", "note": "",
            })


VOTES_QUERY = """
    select pair_key, run_id, round_index, attempt_index, relation_label, fbl_label, model, raw_response
    from staging.stg_karl__llm_calls
    where pair_key in (select unnest(?::varchar[]))
    order by run_id, round_index, pair_key, attempt_index
"""


def review_items(con: duckdb.DuckDBPyConnection, pairs: list[QueuedPair]) -> list[ReviewItem]:
    """The queued pairs with their K votes: label, 9-class code, the model's reason."""
    votes: dict[tuple[str, str, int], list[Vote]] = {}
    keys = [pair.pair_key for pair in pairs]
    for pair_key, run_id, round_index, _, label, code, model, raw in (con.execute(VOTES_QUERY, [keys]).fetchall()
                                                                        if keys else []):
        votes.setdefault((pair_key, run_id, int(round_index)), []).append(
            Vote(label, None if code is None else int(code), reason_of(raw), model or ""))
    strategies = dict(con.execute("select run_id, strategy from staging.stg_karl__runs").fetchall())
    return [ReviewItem(pair.pair_key, pair.item_a_id, pair.item_b_id, pair.item_a_title, pair.item_b_title,
                       pair.run_id, int(pair.round_index), strategies.get(pair.run_id, ""), pair.uncertainty_score,
                       pair.review_reason, tuple(votes.get((pair.pair_key, pair.run_id, int(pair.round_index)), [])))
            for pair in pairs]


def export_review_queue(con: duckdb.DuckDBPyConnection, fmt: str, out: Path | str,
                        include_reviewed: bool = False, run_ids: list[str] | None = None,
                        sort: str = "uncertainty") -> int:
    """Write the review queue in `fmt` to `out`; return the number of pairs written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out = Path(out)
    require_marts(con, "fct_review_queue")
    out.parent.mkdir(parents=True, exist_ok=True)
    pairs = load_queue(con, include_reviewed=include_reviewed, run_ids=run_ids, sort=sort)
    if fmt == "csv":
        write_csv(pairs, out)
    elif fmt == "labelstudio":
        out.write_text(json.dumps(labelstudio_tasks(review_items(con, pairs)), indent=1, ensure_ascii=False),
                       encoding="utf-8")
        labelstudio_config_path(out).write_text(labelstudio_config(), encoding="utf-8")
    else:
        write_argilla_folder(review_items(con, pairs), out)
    return len(pairs)


def labelstudio_config_path(out: Path) -> Path:
    return out.with_name(out.stem + ".labeling_config.xml")
