"""Parsing and validating review files of the three export formats (no warehouse needed)."""

from __future__ import annotations

import json
from pathlib import Path

from python_jobs.ingest.reviews import parse_file, validate_rows
from python_jobs.ingest.validation import Validator
from python_jobs.reporting.export import QueuedPair, argilla_payload, labelstudio_tasks
from python_jobs.warehouse.keys import pair_key

A, B, C = "synth:0001", "synth:0002", "synth:0003"


def queued(a: str, b: str) -> QueuedPair:
    return QueuedPair(pair_key(a, b), a, b, f"title {a}", f"title {b}", "other, complement, substitute", None,
                      "disagreement", "run1", 0, 0.5, "c1,c2,c3")


def test_argilla_records_with_responses_become_reviews(tmp_path: Path) -> None:
    payload = argilla_payload([queued(A, B), queued(A, C)])
    payload["records"][0]["responses"] = {"relation_label": [{"value": "complement", "user_id": "u-1"}]}
    path = tmp_path / "argilla.json"
    path.write_text(json.dumps(payload))
    rows, skipped = parse_file(path, path.read_bytes(), "default")
    assert skipped == 1
    assert [(r.pair_key, r.item_a_id, r.item_b_id, r.reviewer_id, r.relation_label) for r in rows] == [
        (pair_key(A, B), A, B, "u-1", "complement")]


def test_labelstudio_export_skips_cancelled_and_unannotated_tasks(tmp_path: Path) -> None:
    tasks = labelstudio_tasks([queued(A, B), queued(A, C)])
    tasks[0]["annotations"] = [
        {"was_cancelled": True, "result": []},
        {"completed_by": 7, "result": [{"from_name": "relation_label", "type": "choices",
                                        "value": {"choices": ["Substitute"]}},
                                       {"from_name": "note", "type": "textarea", "value": {"text": ["same use"]}}]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    rows, skipped = parse_file(path, path.read_bytes(), "default")
    assert skipped == 1
    assert [(r.reviewer_id, r.relation_label, r.note) for r in rows] == [("7", "substitute", "same use")]


def test_csv_rows_are_validated_and_bad_ones_quarantined(tmp_path: Path) -> None:
    lines = [
        "pair_key,item_a_id,item_b_id,relation_label,fbl_label,reviewer_id,note",
        f"{pair_key(A, B)},{A},{B},complement,,ann,",  # good
        f"{pair_key(A, C)},{A},{C},,8,,",  # FBL code only: other
        f"{pair_key(A, C)},{A},{B},other,,,",  # key of another pair
        f"{pair_key(B, C)},{B},{C},substitute,4,,",  # code 4 is a complement
        f"{pair_key(B, C)},{B},{C},,12,,",  # no such code
        f"{pair_key(B, C)},{B},{C},,,,not reviewed yet",
    ]
    path = tmp_path / "reviewed.csv"
    path.write_text("\n".join(lines) + "\n")
    rows, skipped = parse_file(path, path.read_bytes(), "bob")
    assert skipped == 1 and len(rows) == 5
    good, quarantined = validate_rows(rows, Validator())
    assert [(r.source_line, r.reviewer_id, r.relation_label, r.fbl_label) for r in good] == [
        (2, "ann", "complement", ""), (3, "bob", "", "8")]
    kinds = {row.source_line: row.kind for row in quarantined}
    assert kinds[4] == "pair_key_mismatch" and kinds[5] == "label_conflict"
    assert kinds[6] in {"bad_fbl_label", "bad_relation_label"}
