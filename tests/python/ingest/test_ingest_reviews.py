"""Parsing and validating review files (no warehouse needed)."""

from __future__ import annotations

import json
from pathlib import Path

from python_jobs.ingest.reviews import parse_file, validate_rows
from python_jobs.ingest.validation import Validator
from python_jobs.warehouse.keys import pair_key

A, B, C = "synth:0001", "synth:0002", "synth:0003"


def test_a_json_export_parses_through_the_tools_formats_with_only_submitted_answers(tmp_path: Path) -> None:
    """(The round trips through the SDKs are in test_review_responses.py.)"""
    records = [{"id": pair_key(A, B), "status": "completed",
                "metadata": {"pair_key": pair_key(A, B), "item_a_id": A, "item_b_id": B},
                "responses": {"relation_label": [{"value": "complement", "user_id": "u-1"}]}},
               {"id": pair_key(A, C), "status": "pending",
                "metadata": {"pair_key": pair_key(A, C), "item_a_id": A, "item_b_id": C},
                "responses": {"relation_label": [{"value": "other", "user_id": "u-2"}]}}]
    path = tmp_path / "argilla.json"
    path.write_text(json.dumps(records))
    rows, skipped = parse_file(path, path.read_bytes(), "default")
    assert [(r.pair_key, r.reviewer_id, r.relation_label) for r in rows] == [(pair_key(A, B), "u-1", "complement")]
    assert skipped == {"argilla response pending": 1}


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
    assert skipped == {"csv row not reviewed yet": 1} and len(rows) == 5
    good, quarantined = validate_rows(rows, Validator())
    assert [(r.source_line, r.reviewer_id, r.relation_label, r.fbl_label) for r in good] == [
        (2, "ann", "complement", ""), (3, "bob", "", "8")]
    kinds = {row.source_line: row.kind for row in quarantined}
    assert kinds[4] == "pair_key_mismatch" and kinds[5] == "label_conflict"
    assert kinds[6] in {"bad_fbl_label", "bad_relation_label"}
