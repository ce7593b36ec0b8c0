"""The review-queue exports load in Argilla 2.x and Label Studio as they are: checked with the
tools' own SDKs, offline (their loaders and validators, no server)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from python_jobs.reporting.review_tools import (
    FBL_QUESTION,
    QUESTION,
    ReviewItem,
    Vote,
    argilla_records,
    argilla_settings,
    labelstudio_config,
    labelstudio_tasks,
)

rg = pytest.importorskip("argilla")
label_interface = pytest.importorskip("label_studio_sdk.label_interface")


def items() -> list[ReviewItem]:
    return [
        ReviewItem("k1", "a:1", "b:2", "Toner cartridge 305A", "LaserJet M452", "run-1", 2, "margin", 0.91,
                   "disagreement", (Vote("complement", 3, "A refills B.", "gpt-x"),
                                    Vote("complement", 3, "Toner for the printer.", "gpt-x"),
                                    Vote("other", 9, "Same aisle | unclear.", "gpt-x"))),
        ReviewItem("k2", "a:3", "b:4", None, "Mug", "run-1", 1, "qbc", 1.05, "invalid_vote",
                   (Vote(None, None, None, "gpt-x"), Vote("other", 8, "No relation.", "gpt-x"),
                    Vote("substitute", 1, "Both hold coffee.", "gpt-x"))),
    ]


@pytest.fixture(scope="module")
def offline_argilla():
    """An Argilla client whose one start-up call (who am I) is answered in-process: the SDK's
    fields, questions and metadata properties need a default client, none of them call it."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/me":
            return httpx.Response(200, json={"id": str(uuid.uuid4()), "username": "offline", "role": "owner",
                                             "first_name": "offline", "last_name": None,
                                             "inserted_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T00:00:00"})
        return httpx.Response(503, json={"detail": f"offline test: {request.url.path} not served"})

    return rg.Argilla(api_url="http://argilla.offline", api_key="offline",
                      mounts={"all://": httpx.MockTransport(answer)})


def test_argilla_settings_load_with_settings_from_json_typed_metadata_and_both_questions(
        tmp_path: Path, offline_argilla) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(argilla_settings(items())))
    settings = rg.Settings.from_json(path)
    assert [f.name for f in settings.fields] == ["item_a", "item_b", "llm_votes"]
    questions = {q.name: q for q in settings.questions}
    assert questions[QUESTION].labels == ["substitute", "complement", "other"]
    assert len(questions[FBL_QUESTION].labels) == 9 and not questions[FBL_QUESTION].required
    kinds = {m.name: type(m).__name__ for m in settings.metadata}
    assert kinds["strategy"] == "TermsMetadataProperty"
    assert kinds["round_index"] == "IntegerMetadataProperty"
    assert kinds["uncertainty"] == "FloatMetadataProperty"
    # and the SDK writes back what it read: our file is its own format
    again = tmp_path / "again.json"
    settings.to_json(again)
    assert rg.Settings.from_json(again) == settings


def test_argilla_records_load_with_record_from_dict_suggestions_scored_by_vote_share(offline_argilla) -> None:
    settings = rg.Settings._from_dict(argilla_settings(items()))
    dataset = rg.Dataset(name="karl-review", settings=settings, client=offline_argilla)
    records = [rg.Record.from_dict(record, dataset=dataset) for record in argilla_records(items())]
    first = records[0]
    assert first.id == "k1" and first.fields["item_a"] == "Toner cartridge 305A"
    suggestion = first.suggestions[QUESTION]
    assert (suggestion.value, suggestion.score, suggestion.agent) == ("complement", 0.6667, "karl-llm-majority:gpt-x")
    assert first.suggestions[FBL_QUESTION].value == "3"
    assert first.metadata["uncertainty"] == 0.91 and first.metadata["round_index"] == 2
    assert records[1].fields["item_a"] == "a:3"  # no title: the id stands in
    assert "Same aisle \\| unclear." in first.fields["llm_votes"]  # reasons shown, table intact
    # every suggested value is a label of its question (what the server would check)
    labels = {q.name: set(q.labels) for q in settings.questions if hasattr(q, "labels")}
    for record in records:
        for s in record.suggestions:
            assert s.value in labels[s.question_name]
        for name, value in record.metadata.items():
            assert name in {m.name for m in settings.metadata}


def test_labelstudio_config_is_valid_and_tasks_and_predictions_pass_the_sdk_validation() -> None:
    interface = label_interface.LabelInterface(labelstudio_config())
    interface.validate()
    tasks = labelstudio_tasks(items())
    for task in tasks:
        assert interface.validate_task({"data": task["data"]})
        for prediction in task["predictions"]:
            assert interface.validate_prediction(prediction, return_errors=True) == []
    assert [t["predictions"][0]["score"] for t in tasks] == [pytest.approx(0.91 / 1.05), 1.0]
    assert "A refills B." in tasks[0]["data"]["llm_votes"]
    choices = {r["from_name"]: r["value"]["choices"][0] for r in tasks[0]["predictions"][0]["result"]}
    assert choices[QUESTION] == "complement" and choices[FBL_QUESTION].startswith("3 ")


def test_argilla_folder_is_what_dataset_from_disk_reads(tmp_path: Path, offline_argilla) -> None:
    """`rg.Dataset.from_disk` = load these three files, then create + log on the server: the
    loading half runs here with the SDK's own readers."""
    from argilla.records._io import JsonIO

    from python_jobs.reporting.review_tools import write_argilla_folder

    folder = write_argilla_folder(items(), tmp_path / "queue", name="karl-review")
    dataset_path, settings_path, records_path = rg.Dataset._define_child_paths(folder)
    model = rg.Dataset._load_dataset_model(dataset_path)
    dataset = rg.Dataset.from_model(model=model, client=offline_argilla)
    dataset.settings = rg.Settings.from_json(settings_path)
    records = JsonIO._records_from_json(records_path)
    assert model.name == "karl-review" and len(records) == 2
    assert {q.name for q in dataset.settings.questions} == {QUESTION, FBL_QUESTION, "note"}


def test_labelstudio_refuses_what_it_should(tmp_path: Path) -> None:
    """The SDK's check bites: a choice outside the config or a score above 1 is an error."""
    interface = label_interface.LabelInterface(labelstudio_config())
    bad = {"score": 1.5, "result": [{"from_name": QUESTION, "to_name": "item_a", "type": "choices",
                                     "value": {"choices": ["bogus"]}}]}
    assert len(interface.validate_prediction(bad, return_errors=True)) == 2
