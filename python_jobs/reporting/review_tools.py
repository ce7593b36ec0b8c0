"""The review queue in the formats of the tools reviewers use: Argilla 2.x and Label Studio.

Pure functions from `ReviewItem`s (one queued pair with its K votes) to what each tool's own
loaders accept as they are, checked in tests with the real SDKs, offline:

- Argilla 2.x: ``settings.json`` is what ``rg.Settings.to_json`` writes, so
  ``rg.Settings.from_json(path)`` reads it; ``records.json`` is the list ``dataset.records.to_json``
  writes, so ``rg.Record.from_dict(record)`` reads each one. Metadata is typed (terms for the
  strategy, integer round, float uncertainty) so reviewers filter and sort by it; suggestions
  carry the K votes' majority with its vote share as score and the model as agent.
- Label Studio: a labeling config (two choices: the 3-class relation and the 9-class directional
  FBL code, with every vote's reason shown) and tasks whose prediction carries the pair's
  uncertainty as ``score`` (Label Studio sorts tasks by prediction score), validated by
  label-studio-sdk's ``LabelInterface``.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from python_jobs.annotation.prompt import FblClass, load_classes

RELATION_LABELS = ("substitute", "complement", "other")
QUESTION = "relation_label"
FBL_QUESTION = "fbl_label"
NOTE_QUESTION = "note"
AGENT_PREFIX = "karl-llm-majority"
GUIDELINES = (
    "Decide how item B relates to item A. relation_label: substitute (same function), complement "
    "(used together, or one supplies or enhances the other) or other. fbl_label (optional): the "
    "9-class code, which also says the direction (A to B or B to A). The K votes of the LLM and "
    "their reasons are shown; they split or one was invalid, which is why the pair is here."
)


@dataclass(frozen=True)
class Vote:
    """One of the K annotator calls on the pair: its 3-class label (None = invalid vote), the
    9-class code when given, the model's one-sentence reason and the model."""

    relation_label: str | None
    fbl_label: int | None = None
    reason: str | None = None
    model: str = ""


@dataclass(frozen=True)
class ReviewItem:
    pair_key: str
    item_a_id: str
    item_b_id: str
    item_a_title: str | None
    item_b_title: str | None
    run_id: str
    round_index: int
    strategy: str
    uncertainty: float | None
    review_reason: str  # disagreement | invalid_vote
    votes: tuple[Vote, ...] = field(default_factory=tuple)

    @property
    def title_a(self) -> str:
        return self.item_a_title or self.item_a_id

    @property
    def title_b(self) -> str:
        return self.item_b_title or self.item_b_id


def majority(values: list[object]) -> tuple[object | None, float]:
    """(most frequent non-null value, its share of all votes); ties go to the value voted first;
    (None, 0.0) when no vote is valid. The share counts invalid votes in the denominator: 2 of
    3 with one invalid is 0.67, not 1.0."""
    valid = [value for value in values if value is not None]
    if not valid:
        return None, 0.0
    counts = Counter(valid)
    top = max(counts.values())
    winner = next(value for value in valid if counts[value] == top)
    return winner, top / len(values)


def uncertainty_scores(items: list[ReviewItem]) -> dict[str, float]:
    """pair_key -> the uncertainty on [0, 1] (Label Studio rejects prediction scores outside it).

    Margin and random scores already lie on [0, 1] and are passed through; when any value lies
    above 1 (vote entropy reaches ln 3) all are divided by the largest, which keeps the order.
    A pair without an uncertainty (round 0) gets 0."""
    values = {item.pair_key: item.uncertainty for item in items}
    finite = [value for value in values.values() if value is not None and math.isfinite(value)]
    top = max(finite, default=0.0)
    scale = top if top > 1.0 else 1.0
    return {key: (min(max(value / scale, 0.0), 1.0) if value is not None and math.isfinite(value) else 0.0)
            for key, value in values.items()}


def fbl_choice(fbl: FblClass) -> str:
    """The Label Studio choice value of an FBL code: '2 · b_replenishes_a (complement)'; the
    leading digit is what `karl ingest reviews` reads back."""
    return f"{fbl.code} · {fbl.short_name} ({fbl.relation_class})"


def votes_text(item: ReviewItem, classes: dict[int, FblClass]) -> str:
    """The K votes, one line each: label, code with its name, and the model's reason."""
    lines = []
    for number, vote in enumerate(item.votes, start=1):
        if vote.relation_label is None:
            lines.append(f"{number}. invalid vote" + (f" ({vote.reason})" if vote.reason else ""))
            continue
        code = f" · FBL {vote.fbl_label} {classes[vote.fbl_label].short_name}" if vote.fbl_label in classes else ""
        reason = f": {vote.reason}" if vote.reason else ""
        lines.append(f"{number}. {vote.relation_label}{code}{reason}")
    return "\n".join(lines) or "no votes recorded"


# ---------------------------------------------------------------- Argilla 2.x


def _property(name: str, title: str, settings: dict[str, object], **extra: object) -> dict[str, object]:
    """One settings entry in the shape `rg.Settings.to_json` writes (ids empty until the server
    creates the dataset)."""
    return {"id": None, "inserted_at": None, "updated_at": None, "name": name, "title": title,
            "settings": settings, "dataset_id": None, **extra}


def argilla_settings(items: list[ReviewItem]) -> dict[str, object]:
    """Dataset settings as `rg.Settings.to_json` writes them; `rg.Settings.from_json` reads them."""
    classes = load_classes()
    strategies = sorted({item.strategy for item in items}) or None
    reasons = sorted({item.review_reason for item in items}) or None
    runs = sorted({item.run_id for item in items}) or None

    def text_field(name: str, title: str, markdown: bool = False) -> dict[str, object]:
        return _property(name, title, {"type": "text", "use_markdown": markdown},
                         required=True, description=None, type="text")

    def label_question(name: str, title: str, labels: dict[str, str], required: bool,
                       description: str) -> dict[str, object]:
        options = [{"value": value, "text": text, "description": None} for value, text in labels.items()]
        return _property(name, title, {"type": "label_selection", "options": options, "visible_options": None},
                         description=description, required=required, type="label_selection")

    def terms(name: str, title: str, values: list[str] | None) -> dict[str, object]:
        return _property(name, title, {"visible_for_annotators": True, "type": "terms", "values": values},
                         visible_for_annotators=True)

    def number(name: str, title: str, kind: str, low: float | None, high: float | None) -> dict[str, object]:
        return _property(name, title, {"visible_for_annotators": True, "min": low, "max": high, "type": kind},
                         visible_for_annotators=True)

    return {
        "guidelines": GUIDELINES,
        "questions": [
            label_question(QUESTION, "How does B relate to A?", {label: label for label in RELATION_LABELS}, True,
                           "substitute | complement | other"),
            label_question(FBL_QUESTION, "Which of the 9 directional classes? (optional)",
                           {str(c.code): fbl_choice(c) for c in classes}, False,
                           " · ".join(f"{c.code}: {c.definition}" for c in classes)),
            _property(NOTE_QUESTION, "Note (optional)", {"type": "text", "use_markdown": False},
                      description=None, required=False, type="text"),
        ],
        "fields": [
            text_field("item_a", "Item A"),
            text_field("item_b", "Item B"),
            text_field("llm_votes", "The LLM's K votes and reasons", markdown=True),
        ],
        "vectors": [],
        "metadata": [
            terms("strategy", "Selection strategy", strategies),
            number("round_index", "Round", "integer", 0, None),
            number("uncertainty", "Uncertainty at selection", "float", None, None),
            terms("review_reason", "Why queued", reasons),
            terms("run_id", "Run", runs),
            terms("pair_key", "Pair key", None),
            terms("item_a_id", "Item A id", None),
            terms("item_b_id", "Item B id", None),
        ],
        "allow_extra_metadata": False,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def _markdown_votes(item: ReviewItem, classes: dict[int, FblClass]) -> str:
    rows = ["| # | label | FBL code | reason |", "|---|---|---|---|"]
    for number, vote in enumerate(item.votes, start=1):
        code = f"{vote.fbl_label} {classes[vote.fbl_label].short_name}" if vote.fbl_label in classes else "–"
        reason = (vote.reason or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {number} | {vote.relation_label or 'invalid'} | {code} | {reason} |")
    return "\n".join(rows)


def argilla_records(items: list[ReviewItem]) -> list[dict[str, object]]:
    """Records as `dataset.records.to_json` writes them; `rg.Record.from_dict` reads each."""
    classes = {c.code: c for c in load_classes()}
    records = []
    for item in items:
        suggestions: dict[str, dict[str, object]] = {}
        model = next((vote.model for vote in item.votes if vote.model), "")
        agent = f"{AGENT_PREFIX}:{model}" if model else AGENT_PREFIX
        label, share = majority([vote.relation_label for vote in item.votes])
        if label is not None:
            suggestions[QUESTION] = {"value": label, "score": round(share, 4), "agent": agent}
        code, code_share = majority([vote.fbl_label for vote in item.votes])
        if code is not None:
            suggestions[FBL_QUESTION] = {"value": str(code), "score": round(code_share, 4), "agent": agent}
        metadata: dict[str, object] = {
            "strategy": item.strategy, "round_index": int(item.round_index),
            "review_reason": item.review_reason, "run_id": item.run_id, "pair_key": item.pair_key,
            "item_a_id": item.item_a_id, "item_b_id": item.item_b_id,
        }
        if item.uncertainty is not None and math.isfinite(item.uncertainty):
            metadata["uncertainty"] = float(item.uncertainty)
        records.append({
            "id": item.pair_key,
            "fields": {"item_a": item.title_a, "item_b": item.title_b, "llm_votes": _markdown_votes(item, classes)},
            "metadata": metadata,
            "suggestions": suggestions,
            "responses": {},
            "vectors": {},
            "status": "pending",
        })
    return records


# ---------------------------------------------------------------- Label Studio


def labelstudio_config() -> str:
    """Labeling config: the two titles, the K votes with reasons, the 3-class and the 9-class
    choice (the model's majority pre-selected from the prediction) and a note."""
    relation = "\n".join(f'    <Choice value="{label}"/>' for label in RELATION_LABELS)
    fbl = "\n".join(f'    <Choice value="{html.escape(fbl_choice(c), quote=True)}" '
                    f'hint="{html.escape(c.definition, quote=True)}"/>' for c in load_classes())
    return f"""<View>
  <Header value="Item A"/>
  <Text name="item_a" value="$item_a_title"/>
  <Header value="Item B"/>
  <Text name="item_b" value="$item_b_title"/>
  <Header value="The LLM's votes and reasons (uncertainty $uncertainty, $strategy, round $round_index)"/>
  <Text name="llm_votes" value="$llm_votes"/>
  <Header value="How does B relate to A?"/>
  <Choices name="{QUESTION}" toName="item_a" choice="single" showInline="true" required="true">
{relation}
  </Choices>
  <Header value="Which of the 9 directional classes? (optional)"/>
  <Choices name="{FBL_QUESTION}" toName="item_a" choice="single">
{fbl}
  </Choices>
  <TextArea name="{NOTE_QUESTION}" toName="item_a" placeholder="note (optional)"/>
</View>
"""


def labelstudio_tasks(items: list[ReviewItem]) -> list[dict[str, object]]:
    """Tasks for Label Studio's import: data plus one prediction (the votes' majority) whose
    score is the pair's uncertainty on [0, 1], so 'sort by prediction score' puts the most
    uncertain pair first."""
    classes = {c.code: c for c in load_classes()}
    scores = uncertainty_scores(items)
    tasks: list[dict[str, object]] = []
    for item in items:
        model = next((vote.model for vote in item.votes if vote.model), "")
        task: dict[str, object] = {
            "data": {
                "pair_key": item.pair_key, "item_a_id": item.item_a_id, "item_b_id": item.item_b_id,
                "item_a_title": item.title_a, "item_b_title": item.title_b,
                "llm_votes": votes_text(item, classes), "review_reason": item.review_reason,
                "run_id": item.run_id, "round_index": int(item.round_index), "strategy": item.strategy,
                "uncertainty": None if item.uncertainty is None else round(float(item.uncertainty), 6),
            },
        }
        result = []
        label, _ = majority([vote.relation_label for vote in item.votes])
        if label is not None:
            result.append({"from_name": QUESTION, "to_name": "item_a", "type": "choices",
                           "value": {"choices": [label]}})
        code, _ = majority([vote.fbl_label for vote in item.votes])
        if code in classes:
            result.append({"from_name": FBL_QUESTION, "to_name": "item_a", "type": "choices",
                           "value": {"choices": [fbl_choice(classes[code])]}})
        task["predictions"] = [{
            "model_version": f"{AGENT_PREFIX}:{model}" if model else AGENT_PREFIX,
            "score": round(scores[item.pair_key], 6),
            "result": result,
        }]
        tasks.append(task)
    return tasks


def reason_of(raw_response: str | None) -> str | None:
    """The model's one-sentence reason from a recorded raw response (a JSON object with
    'reason'), or None when there is none to show."""
    if not raw_response:
        return None
    try:
        value = json.loads(raw_response)
    except (json.JSONDecodeError, TypeError):
        return None
    reason = value.get("reason") if isinstance(value, dict) else None
    return reason.strip() if isinstance(reason, str) and reason.strip() else None


ARGILLA_DIR = ".argilla"  # Argilla's Dataset.to_disk layout: <folder>/.argilla/{dataset,settings}.json, records.json


def write_argilla_folder(items: list[ReviewItem], folder: Path, name: str = "karl-review-queue") -> Path:
    """The review queue as the folder `rg.Dataset.to_disk` writes, so that
    `rg.Dataset.from_disk(folder, name=..., workspace=...)` creates the dataset (settings) and
    logs the records as they are. Returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ARGILLA_DIR).mkdir(exist_ok=True)
    model = {"id": None, "inserted_at": None, "updated_at": None, "name": name, "status": "draft",
             "guidelines": GUIDELINES, "allow_extra_metadata": False,
             "distribution": {"strategy": "overlap", "min_submitted": 1}, "workspace_id": None,
             "last_activity_at": None}
    (folder / ARGILLA_DIR / "dataset.json").write_text(json.dumps(model, indent=1), encoding="utf-8")
    (folder / ARGILLA_DIR / "settings.json").write_text(json.dumps(argilla_settings(items), indent=1, ensure_ascii=False),
                                                         encoding="utf-8")
    (folder / "records.json").write_text(json.dumps(argilla_records(items), indent=1, ensure_ascii=False),
                                         encoding="utf-8")
    return folder
