"""Export the review queue (marts.fct_review_queue) for human review.

Three formats, one row per pair (a pair queued in several runs/rounds is shown once, with its
latest votes):

- ``csv``: a spreadsheet; reviewers fill ``relation_label`` (substitute | complement | other),
  optionally ``fbl_label`` (1..9 in the A->B direction), ``reviewer_id`` and ``note``, then
  ``karl ingest reviews FILE`` brings the decisions back.
- ``labelstudio``: a Label Studio task list (JSON: ``[{"data": ..., "predictions": [...]}]``), import
  it in a project using the labeling config written next to it (``<out>.labeling_config.xml``).
  A Label Studio JSON export of the project is accepted by ``karl ingest reviews``.
- ``argilla``: JSON ``{"settings": ..., "records": [...]}`` shaped like Argilla 2.x: create the
  dataset with ``rg.Settings(fields=[rg.TextField(f) for f in settings["fields"]], questions=[
  rg.LabelQuestion(q["name"], labels=q["labels"]) for q in settings["questions"]])`` and log
  ``rg.Record(id=r["id"], fields=r["fields"], metadata=r["metadata"], suggestions=[rg.Suggestion(**s)
  for s in r["suggestions"]])``. ``dataset.records.to_json(...)`` output (records with
  ``responses``) is accepted by ``karl ingest reviews``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

FORMATS = ("csv", "argilla", "labelstudio")
from python_jobs.labels import RELATION_CLASSES as RELATION_LABELS

QUESTION = "relation_label"

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


def labelstudio_config() -> str:
    choices = "\n".join(f'    <Choice value="{label}"/>' for label in RELATION_LABELS)
    return f"""<View>
  <Header value="Item A"/>
  <Text name="item_a" value="$item_a_title"/>
  <Header value="Item B"/>
  <Text name="item_b" value="$item_b_title"/>
  <Header value="LLM votes: $votes"/>
  <Choices name="{QUESTION}" toName="item_a" choice="single" showInline="true">
{choices}
  </Choices>
  <TextArea name="note" toName="item_a" placeholder="note (optional)"/>
</View>
"""


def labelstudio_tasks(pairs: list[QueuedPair]) -> list[dict[str, object]]:
    tasks: list[dict[str, object]] = []
    for pair in pairs:
        task: dict[str, object] = {
            "data": {
                "pair_key": pair.pair_key, "item_a_id": pair.item_a_id, "item_b_id": pair.item_b_id,
                "item_a_title": pair.item_a_title or pair.item_a_id,
                "item_b_title": pair.item_b_title or pair.item_b_id,
                "votes": pair.votes, "review_reason": pair.review_reason,
                "run_id": pair.run_id, "round_index": pair.round_index,
            },
        }
        if pair.suggested_relation_label:
            task["predictions"] = [{
                "model_version": "karl-majority-vote",
                "result": [{
                    "from_name": QUESTION, "to_name": "item_a", "type": "choices",
                    "value": {"choices": [pair.suggested_relation_label]},
                }],
            }]
        tasks.append(task)
    return tasks


def argilla_payload(pairs: list[QueuedPair]) -> dict[str, object]:
    settings = {
        "guidelines": "Decide how item B relates to item A: substitute (same function), complement "
                      "(B and A are used together or one supplies the other), or other.",
        "fields": ["item_a_title", "item_b_title", "votes"],
        "questions": [{"name": QUESTION, "labels": list(RELATION_LABELS)}],
        "metadata": ["pair_key", "item_a_id", "item_b_id", "review_reason", "run_id", "round_index"],
    }
    records = []
    for pair in pairs:
        suggestions = []
        if pair.suggested_relation_label:
            suggestions.append({"question_name": QUESTION, "value": pair.suggested_relation_label,
                                "agent": "karl-majority-vote"})
        records.append({
            "id": pair.pair_key,
            "fields": {"item_a_title": pair.item_a_title or pair.item_a_id,
                       "item_b_title": pair.item_b_title or pair.item_b_id, "votes": pair.votes},
            "metadata": {"pair_key": pair.pair_key, "item_a_id": pair.item_a_id, "item_b_id": pair.item_b_id,
                         "review_reason": pair.review_reason, "run_id": pair.run_id,
                         "round_index": pair.round_index},
            "suggestions": suggestions,
        })
    return {"settings": settings, "records": records}


def export_review_queue(con: duckdb.DuckDBPyConnection, fmt: str, out: Path | str,
                        include_reviewed: bool = False, run_ids: list[str] | None = None,
                        sort: str = "uncertainty") -> int:
    """Write the review queue in `fmt` to `out`; return the number of pairs written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pairs = load_queue(con, include_reviewed=include_reviewed, run_ids=run_ids, sort=sort)
    if fmt == "csv":
        write_csv(pairs, out)
    elif fmt == "labelstudio":
        out.write_text(json.dumps(labelstudio_tasks(pairs), indent=1, ensure_ascii=False), encoding="utf-8")
        labelstudio_config_path(out).write_text(labelstudio_config(), encoding="utf-8")
    else:
        out.write_text(json.dumps(argilla_payload(pairs), indent=1, ensure_ascii=False), encoding="utf-8")
    return len(pairs)


def labelstudio_config_path(out: Path) -> Path:
    return out.with_name(out.stem + ".labeling_config.xml")
