"""The judge section of `karl report` (HTML): how the LLM annotator agrees with the human labels,
every judge in one table, the latest judge's per-class figures and its 3x3 and 9x9 confusion
grids (frames from `marts.load_judge_frames`)."""

from __future__ import annotations

import html
from collections.abc import Callable

import pandas as pd

from python_jobs.judge.marts import JudgeFrames


def _grid(confusion: pd.DataFrame, level: str) -> str:
    cells = confusion[confusion["level"] == level]
    if cells.empty:
        return ""
    grid = cells.pivot_table(index=["human_order", "human_label"], columns=["llm_order", "llm_label"],
                             values="n_pairs", aggfunc="sum").sort_index().sort_index(axis=1)
    head = "".join(f"<th>{html.escape(str(label))}</th>" for _, label in grid.columns)
    rows = "".join(
        f"<tr><th>{html.escape(str(label))}</th>"
        + "".join(f'<td class="num">{int(value)}</td>' for value in grid.loc[(order, label)]) + "</tr>"
        for order, label in grid.index)
    return f"<table><thead><tr><th>human \\ LLM</th>{head}</tr></thead><tbody>{rows}</tbody></table>"


def judge_section(frames: JudgeFrames, table: Callable[..., str]) -> list[str]:
    if frames.overall.empty:
        return []
    return [
        "<h2>LLM judge: agreement with the human labels</h2>",
        '<p class="note">`karl judge`: a stratified sample of human-labelled pairs (the FBL2023 judge '
        "reserve by 9-class code, FBL2024's pool half by relation; never the OOD test half), K votes "
        "each. Accuracy, macro-F1 and Cohen's κ of the LLM's plurality label against the human "
        "majority; unanimity and the precision of unanimous labels (what the loop accepts); for "
        "directional classes (2, 3, 5, 6) how often the LLM kept or reversed the direction; cost per "
        "correct label. `karl run --require-judge` needs a row here for its model, prompt and few-shot "
        "setting.</p>",
        '<div class="scroll">' + table(frames.overall, {
            "judge_id": "judge", "models": "model", "prompt_version": "prompt", "few_shot": "few-shot",
            "k_calls": "K", "level": "level", "n_pairs": "pairs", "accuracy": "accuracy", "macro_f1": "macro-F1",
            "cohens_kappa": "Cohen κ", "unanimity_rate": "unanimity", "unanimous_precision": "unan. precision",
            "same_direction_rate": "same dir.", "reversed_direction_rate": "reversed dir.",
            "cost_usd": "cost $", "cost_per_correct_label": "$ / correct",
            "cost_per_correct_unanimous_label": "$ / correct unanimous"}) + "</div>",
        f"<h3>Latest judge {html.escape(str(frames.latest))}: per human class</h3>",
        '<div class="scroll">' + table(frames.per_class, {
            "level": "level", "class_label": "class", "n_pairs": "pairs", "precision": "precision",
            "recall": "recall", "f1": "F1", "unanimous_precision": "unan. precision",
            "unanimous_coverage": "unan. coverage"}) + "</div>",
        "<h3>Confusion, 3 classes (rows: human majority; columns: LLM plurality, none = tie or no valid vote)</h3>",
        '<div class="scroll">' + _grid(frames.confusion, "relation3") + "</div>",
        "<h3>Confusion, 9 FBL classes (FBL2023 pairs)</h3>",
        '<div class="scroll">' + _grid(frames.confusion, "fbl9") + "</div>",
    ]
