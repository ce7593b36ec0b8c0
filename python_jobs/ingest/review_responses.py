"""Decisions in the files Argilla 2.x and Label Studio export, with their review status honoured.

A decision is a reviewer's submitted answer. What is not one:

- Argilla: a response whose status is ``draft`` or ``discarded``. ``dataset.records.to_list(
  flatten=True)`` keeps each response's status (``relation_label.responses.status``);
  ``dataset.records.to_json`` (nested) drops it and keeps only the record's status, which is
  ``completed`` once a response was submitted (``min_submitted`` = 1 in the exported settings) and
  ``pending`` otherwise: a pending record's responses are drafts or discards, so none counts. A
  record with no status at all (hand-made files) counts its responses as submitted.
- Label Studio: a skipped annotation (``was_cancelled``) and a draft (kept under ``drafts``, not
  ``annotations``, in Label Studio's JSON export); an annotation whose result has no relation and
  no FBL choice.

The 9-class answer comes back as its code: Argilla's ``fbl_label`` value is the code itself,
Label Studio's choice starts with it ('3 · a_replenishes_b (complement)').
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

QUESTION = "relation_label"
FBL_QUESTION = "fbl_label"
NOTE_QUESTION = "note"
SUBMITTED = "submitted"
LEADING_CODE = re.compile(r"^\s*([1-9])\b")


@dataclass(frozen=True)
class Decision:
    position: int  # 1-based position of the task / record in the file
    raw: str  # the task / record as JSON (cut to 2000 characters), for the quarantine
    pair_key: str
    item_a_id: str
    item_b_id: str
    reviewer_id: str  # '' = unknown (the caller fills in its default)
    relation_label: str  # lower case, '' when only a code was given
    fbl_label: str  # '1'..'9' or ''
    note: str


@dataclass
class Parsed:
    decisions: list[Decision] = field(default_factory=list)
    not_decided: Counter = field(default_factory=Counter)  # why a task/record/response was passed over

    @property
    def skipped(self) -> int:
        return sum(self.not_decided.values())


def _text(value: object) -> str:
    if isinstance(value, list):
        value = " ".join(str(part) for part in value)
    return "" if value is None else str(value).strip()


def fbl_code(value: object) -> str:
    """'3', 3 or '3 · a_replenishes_b (complement)' -> '3'; anything else is kept as text (the
    validation quarantines it as a bad code)."""
    text = _text(value)
    found = LEADING_CODE.match(text)
    return found.group(1) if found else text


def _raw(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, default=str)[:2000]


# ---------------------------------------------------------------- Argilla


def _nested_responses(record: dict) -> dict[str, list[dict]]:
    responses = record.get("responses") or {}
    if isinstance(responses, list):  # [{"question_name": ..., "value": ...}, ...]
        grouped: dict[str, list[dict]] = {}
        for response in responses:
            grouped.setdefault(_text(response.get("question_name")), []).append(response)
        return grouped
    return {name: (value if isinstance(value, list) else [value]) for name, value in responses.items()}


def _flat_responses(record: dict) -> dict[str, list[dict]]:
    """`to_list(flatten=True)`: parallel lists under 'q.responses', 'q.responses.users' and
    'q.responses.status' -> the nested shape, with each response's status."""
    grouped: dict[str, list[dict]] = {}
    for key in record:
        if not key.endswith(".responses"):
            continue
        name = key[: -len(".responses")]
        values = record.get(key) or []
        users = record.get(f"{key}.users") or [None] * len(values)
        statuses = record.get(f"{key}.status") or [None] * len(values)
        grouped[name] = [{"value": v, "user_id": u, "status": s} for v, u, s in zip(values, users, statuses)]
    return grouped


def parse_argilla(records: list[dict]) -> Parsed:
    parsed = Parsed()
    for position, record in enumerate(records, start=1):
        flat = any(key.endswith(".responses") for key in record)
        responses = _flat_responses(record) if flat else _nested_responses(record)
        metadata = record if flat else (record.get("metadata") or {})
        record_status = _text(record.get("status")).lower()
        by_user: dict[str, dict[str, dict]] = {}
        for name, answers in responses.items():
            for answer in answers or []:
                if not isinstance(answer, dict):
                    continue
                by_user.setdefault(_text(answer.get("user_id")), {})[name] = answer
        for user, answers in by_user.items():
            main = answers.get(QUESTION) or answers.get(FBL_QUESTION)
            if main is None:
                continue
            status = _text(main.get("status")).lower()
            if not status:  # nested export: only the record's status is known
                status = {"completed": SUBMITTED, "pending": "pending"}.get(record_status, SUBMITTED)
            if status != SUBMITTED:
                parsed.not_decided[f"argilla response {status}"] += 1
                continue
            parsed.decisions.append(Decision(
                position=position, raw=_raw(record),
                pair_key=_text(metadata.get("pair_key") or record.get("id")),
                item_a_id=_text(metadata.get("item_a_id")), item_b_id=_text(metadata.get("item_b_id")),
                reviewer_id=user if user not in ("", "None") else "",
                relation_label=_text((answers.get(QUESTION) or {}).get("value")).lower(),
                fbl_label=fbl_code((answers.get(FBL_QUESTION) or {}).get("value")),
                note=_text((answers.get(NOTE_QUESTION) or {}).get("value")),
            ))
        if not by_user:
            parsed.not_decided["argilla record without responses"] += 1
    return parsed


# ---------------------------------------------------------------- Label Studio


def _labelstudio_answer(annotation: dict) -> tuple[str, str, str]:
    relation, code, note = "", "", ""
    for result in annotation.get("result") or []:
        value = result.get("value") or {}
        name = result.get("from_name")
        if name == QUESTION and value.get("choices"):
            relation = _text(value["choices"][0]).lower()
        elif name == FBL_QUESTION and value.get("choices"):
            code = fbl_code(value["choices"][0])
        elif name == NOTE_QUESTION and value.get("text"):
            note = _text(value["text"])
    return relation, code, note


def parse_labelstudio(tasks: list[dict]) -> Parsed:
    parsed = Parsed()
    for position, task in enumerate(tasks, start=1):
        data = task.get("data") or {}
        annotations = task.get("annotations") or []
        if not annotations:
            parsed.not_decided["label studio task without annotations" if not task.get("drafts")
                               else "label studio draft"] += 1
            continue
        for annotation in annotations:
            if annotation.get("was_cancelled"):
                parsed.not_decided["label studio annotation skipped"] += 1
                continue
            relation, code, note = _labelstudio_answer(annotation)
            if not relation and not code:
                parsed.not_decided["label studio annotation without a choice"] += 1
                continue
            completed_by = annotation.get("completed_by")
            if isinstance(completed_by, dict):
                completed_by = completed_by.get("email") or completed_by.get("id")
            parsed.decisions.append(Decision(
                position=position, raw=_raw(task), pair_key=_text(data.get("pair_key")),
                item_a_id=_text(data.get("item_a_id")), item_b_id=_text(data.get("item_b_id")),
                reviewer_id=_text(completed_by), relation_label=relation, fbl_label=code, note=note,
            ))
    return parsed


def parse_json(payload: object) -> Parsed:
    """Dispatch: {"records": [...]} or a list of records -> Argilla; a list of tasks -> Label Studio."""
    if isinstance(payload, dict):
        return parse_argilla(payload.get("records") or [])
    if not isinstance(payload, list):
        return Parsed()
    first = next((entry for entry in payload if isinstance(entry, dict)), {})
    if "annotations" in first or "data" in first:
        return parse_labelstudio(payload)
    return parse_argilla(payload)
