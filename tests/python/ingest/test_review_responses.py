"""Round trips through the review tools' SDKs, offline: export -> the tool's own loader ->
responses as the tool records them -> the tool's own export -> karl's decisions. Drafts,
discards and skips are not decisions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from python_jobs.ingest.review_responses import parse_json
from python_jobs.reporting.review_tools import (
    ReviewItem,
    Vote,
    argilla_records,
    argilla_settings,
    fbl_choice,
    labelstudio_config,
    labelstudio_tasks,
)
from python_jobs.annotation.prompt import load_classes

rg = pytest.importorskip("argilla")
label_interface = pytest.importorskip("label_studio_sdk.label_interface")

ALICE, BOB, CAROL = (str(uuid.UUID(int=n)) for n in (1, 2, 3))


def items() -> list[ReviewItem]:
    votes = (Vote("complement", 3, "A refills B.", "m"), Vote("other", 9, "Unclear.", "m"), Vote(None))
    return [ReviewItem(f"k{n}", f"a:{n}", f"b:{n}", f"A {n}", f"B {n}", "run-1", 1, "margin", 0.1 * n,
                       "disagreement", votes) for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def offline_argilla():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me":
            return httpx.Response(200, json={"id": str(uuid.uuid4()), "username": "offline", "role": "owner",
                                             "first_name": "offline", "last_name": None,
                                             "inserted_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T00:00:00"})
        return httpx.Response(503, json={"detail": "offline"})

    return rg.Argilla(api_url="http://argilla.offline", api_key="offline",
                      mounts={"all://": httpx.MockTransport(answer)})


def argilla_reviewed(offline_argilla) -> list:
    """Records loaded by the SDK, then answered as reviewers would: k1 submitted by Alice (with
    the 9-class code and a note) and drafted by Bob; k2 discarded by Carol; k3 untouched."""
    settings = rg.Settings._from_dict(argilla_settings(items()))
    dataset = rg.Dataset(name="karl-review", settings=settings, client=offline_argilla)
    records = [rg.Record.from_dict(record, dataset=dataset) for record in argilla_records(items())]
    records[0].responses.add(rg.Response("relation_label", "complement", user_id=ALICE, status="submitted"))
    records[0].responses.add(rg.Response("fbl_label", "3", user_id=ALICE, status="submitted"))
    records[0].responses.add(rg.Response("note", "toner for it", user_id=ALICE, status="submitted"))
    records[0].responses.add(rg.Response("relation_label", "other", user_id=BOB, status="draft"))
    records[1].responses.add(rg.Response("relation_label", "other", user_id=CAROL, status="discarded"))
    return records


def test_argilla_flat_export_only_submitted_responses_are_decisions(offline_argilla) -> None:
    from argilla.records._io import GenericIO

    exported = json.loads(json.dumps(GenericIO.to_list(argilla_reviewed(offline_argilla), flatten=True)))
    parsed = parse_json(exported)
    assert [(d.pair_key, d.item_a_id, d.reviewer_id, d.relation_label, d.fbl_label, d.note)
            for d in parsed.decisions] == [("k1", "a:1", ALICE, "complement", "3", "toner for it")]
    assert parsed.not_decided == {"argilla response draft": 1, "argilla response discarded": 1,
                                  "argilla record without responses": 1}


def test_argilla_nested_to_json_export_uses_the_record_status(tmp_path: Path, offline_argilla) -> None:
    from argilla.records._io import JsonIO

    records = argilla_reviewed(offline_argilla)
    records[0]._model.status = "completed"  # what the server sets once a response is submitted
    path = JsonIO.to_json(records, tmp_path / "records.json")
    parsed = parse_json(json.loads(path.read_text()))
    # the nested export drops each response's status: a completed record's responses count
    assert {(d.pair_key, d.reviewer_id, d.relation_label) for d in parsed.decisions} == {
        ("k1", ALICE, "complement"), ("k1", BOB, "other")}
    assert parsed.not_decided == {"argilla response pending": 1, "argilla record without responses": 1}


def test_labelstudio_export_skips_drafts_cancelled_and_empty_annotations_and_reads_the_code() -> None:
    interface = label_interface.LabelInterface(labelstudio_config())
    tasks = labelstudio_tasks(items())
    fbl3 = fbl_choice(next(c for c in load_classes() if c.code == 3))
    annotation = {"completed_by": 7, "was_cancelled": False, "result": [
        {"from_name": "relation_label", "to_name": "item_a", "type": "choices", "value": {"choices": ["complement"]}},
        {"from_name": "fbl_label", "to_name": "item_a", "type": "choices", "value": {"choices": [fbl3]}},
        {"from_name": "note", "to_name": "item_a", "type": "textarea", "value": {"text": ["refill"]}}]}
    assert interface.validate_annotation(annotation)  # what Label Studio itself would store
    tasks[0]["annotations"] = [annotation, {"completed_by": 8, "was_cancelled": True, "result": []}]
    tasks[1]["annotations"] = []
    tasks[1]["drafts"] = [{"result": annotation["result"]}]
    tasks[2]["annotations"] = [{"completed_by": 9, "result": []}]
    parsed = parse_json(json.loads(json.dumps(tasks)))
    assert [(d.pair_key, d.reviewer_id, d.relation_label, d.fbl_label, d.note) for d in parsed.decisions] == [
        ("k1", "7", "complement", "3", "refill")]
    assert parsed.not_decided == {"label studio annotation skipped": 1, "label studio draft": 1,
                                  "label studio annotation without a choice": 1}
