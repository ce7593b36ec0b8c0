"""The model re-choice section of `karl report` (HTML): per strategy and round, what the CV over
the acquired labels picked and how the pick does out of distribution next to the run's own model
(marts.fct_round_model_choices; `karl run --rechoose-from N`)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from python_jobs.reporting.plots import metric_range, plt, png, strategy_colours


def _pm(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "–"
    sd = float(values.std()) if len(values) > 1 else 0.0
    return f"{float(values.mean()):.3f} ± {sd:.3f}"


def choice_rounds(choices: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy and round: runs, what was picked how often, the pick's acquired-label
    CV figure, the pick's and the run model's OOD, and the gain (mean ± sd over runs)."""
    chosen = choices[choices["is_chosen"].astype(bool)]
    rows = []
    for (strategy, round_index), group in chosen.groupby(["strategy", "round_index"], sort=True):
        counts = group["candidate_spec"].value_counts()
        rows.append({"strategy": strategy, "round_index": int(round_index), "runs": group["run_id"].nunique(),
                     "acquired": f"{int(group['n_acquired_labels'].min())}–{int(group['n_acquired_labels'].max())}",
                     "picks": ", ".join(f"{spec} ×{n}" for spec, n in counts.items()),
                     "pick_cv": _pm(group["acquired_cv_macro_f1"]),
                     "pick_ood": _pm(group["ood_macro_f1"]),
                     "run_model_ood": _pm(group["run_model_ood_macro_f1"]),
                     "gain": _pm(group["ood_gain_over_run_model"])})
    return pd.DataFrame(rows)


def choice_curves(choices: pd.DataFrame) -> bytes:
    """OOD macro-F1 per round of the pick (solid) and of the run's own model (dashed), per
    strategy, mean ± sd over its runs."""
    chosen = choices[choices["is_chosen"].astype(bool)]
    colours = strategy_colours(list(chosen["strategy"]))
    values = list(chosen["ood_macro_f1"].dropna()) + list(chosen["run_model_ood_macro_f1"].dropna())
    y_range = metric_range(values)
    figure, axis = plt.subplots(figsize=(7, 3.8))
    for strategy, group in chosen.groupby("strategy", sort=True):
        per_round = group.groupby("round_index").agg(
            pick=("ood_macro_f1", "mean"), pick_sd=("ood_macro_f1", "std"),
            own=("run_model_ood_macro_f1", "mean"), own_sd=("run_model_ood_macro_f1", "std")).fillna(0.0)
        colour = colours[str(strategy)]
        for column, style, label in (("pick", "-", "re-chosen"), ("own", "--", "run's model")):
            axis.plot(per_round.index, per_round[column], linestyle=style, marker="o", markersize=3, color=colour,
                      label=f"{strategy}: {label}")
            axis.fill_between(per_round.index, per_round[column] - per_round[f"{column}_sd"],
                              per_round[column] + per_round[f"{column}_sd"], color=colour, alpha=0.10, linewidth=0)
    axis.set_ylim(y_range.low, y_range.high)
    axis.set_title(f"OOD macro-F1 of the re-chosen model and the run's own; y {y_range.text()}", fontsize=10)
    axis.set_xlabel("round")
    axis.set_ylabel("OOD macro-F1")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="best")
    return png(figure)


def model_choice_section(choices: pd.DataFrame | None, table: Callable[..., str],
                         img: Callable[[bytes, str], str], note: Callable[[str], str]) -> list[str]:
    if choices is None or choices.empty:
        return []
    return ["<h2>Model re-choice by the acquired labels</h2>",
            note("From the round where a run had acquired --rechoose-from labels, its own model and each "
                 "--rechoose-candidates model (FEATURES@C@FAMILY) were scored by cross-validation over the acquired "
                 "labels only (folds train on the seed labels plus the other acquired folds). The best is the "
                 "pick. OOD chooses nothing: it reports the pick's bag and the run's own model, both trained on "
                 "the same labels. Mean ± sd over the strategy's runs; figures: marts.fct_round_model_choices."),
            img(choice_curves(choices), "OOD of the re-chosen model and the run's own, per round"),
            table(choice_rounds(choices), {
                "strategy": "strategy", "round_index": "round", "runs": "runs", "acquired": "labels acquired",
                "picks": "picks (acquired-label CV)", "pick_cv": "CV F1 of the pick",
                "pick_ood": "OOD F1 of the pick", "run_model_ood": "OOD F1 of the run's model",
                "gain": "pick − run's model"})]
