"""The tables the CLI prints after a run, an experiment and a plan (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _fmt(value: object, spec: str) -> str:
    return "" if value is None or value != value else format(value, spec)


def print_round_table(rows: list[tuple], console: Console) -> None:
    """rows: reporting.status.round_rows."""
    table = Table(title="karl rounds (marts.fct_round_metrics)")
    for column in ("run", "strategy", "round", "ID macro-F1", "OOD macro-F1", "train labels",
                   "annotated", "accepted", "yield", "diversity", "seconds"):
        table.add_column(column, justify="right", no_wrap=column == "run")
    for r in rows:
        table.add_row(r[0], r[1], str(r[2]), _fmt(r[3], ".3f"), _fmt(r[4], ".3f"), str(r[5]), str(r[6]),
                      str(r[7]), _fmt(r[8], ".2f"), _fmt(r[9], ".3f"), _fmt(r[10], ".1f"))
    console.print(table)


def print_experiment_summary(rows: list[dict], console: Console) -> None:
    """rows: loop.experiment.experiment_summary (marts.rpt_experiment_summary)."""
    table = Table(title="karl experiment (marts.rpt_experiment_summary): mean ± sd over splits x seeds")
    for column in ("strategy", "runs", "rounds", "ID r0", "ID gain", "ID drop from best", "OOD r0",
                   "OOD gain", "OOD rel. gain", "best OOD rel.", "best OOD round", "min ID gain",
                   "corr(div, ID)", "corr(div, OOD)"):
        table.add_column(column, justify="right")

    def pm(mean: float | None, sd: float | None) -> str:
        return "" if mean is None else f"{mean:+.3f} ± {0 if sd is None or sd != sd else sd:.3f}"

    for r in rows:
        table.add_row(r["strategy"], str(r["n_runs"]), str(r["n_rounds"]), _fmt(r["mean_id_macro_f1_round0"], ".3f"),
                      pm(r["mean_id_gain"], r["sd_id_gain"]), _fmt(r["mean_id_drop_from_best"], ".3f"),
                      _fmt(r["mean_ood_macro_f1_round0"], ".3f"), pm(r["mean_ood_gain"], r["sd_ood_gain"]),
                      _fmt(r["mean_ood_relative_gain"], "+.1%"), _fmt(r["mean_best_ood_relative_gain"], "+.1%"),
                      _fmt(r.get("mean_best_ood_round"), ".1f"), _fmt(r.get("mean_min_id_gain"), "+.3f"),
                      _fmt(r["corr_diversity_id_gain"], "+.2f"), _fmt(r["corr_diversity_ood_gain"], "+.2f"))
    console.print(table)
    print_learning_curves(rows, console)


def print_learning_curves(rows: list[dict], console: Console) -> None:
    """The learning-curve figures of rpt_experiment_summary: OOD at round 0, half-way and last,
    the ceiling, the normalised area and the labels to half / 80% of the ceiling's gain."""
    if not rows or all(_missing(r.get("mean_ood_macro_f1_final")) for r in rows):
        return
    splits = max(0 if _missing(r.get("n_splits")) else int(r["n_splits"]) for r in rows)
    table = Table(title=f"learning curves (marts.fct_experiment_runs): mean ± sd over {splits} split(s) x seeds")
    for column in ("strategy", "runs", "OOD r0", "OOD half-way", "OOD last", "ceiling", "area (0 floor, 1 ceiling)",
                   "labels to 50% (runs)", "labels to 80% (runs)"):
        table.add_column(column, justify="right")

    def pm(mean: float | None, sd: float | None) -> str:
        return "" if _missing(mean) else f"{mean:.3f} ± {0 if _missing(sd) else sd:.3f}"

    def reached(mean: float | None, count: int | None) -> str:
        runs = 0 if _missing(count) else int(count)
        return f"- ({runs})" if _missing(mean) else f"{mean:.0f} ({runs})"

    for r in rows:
        table.add_row(r["strategy"], str(r["n_runs"]), pm(r["mean_ood_macro_f1_round0"], r.get("sd_ood_macro_f1_round0")),
                      pm(r.get("mean_ood_macro_f1_half"), r.get("sd_ood_macro_f1_half")),
                      pm(r.get("mean_ood_macro_f1_final"), r.get("sd_ood_macro_f1_final")),
                      pm(r.get("mean_ceiling_ood_macro_f1"), r.get("sd_ceiling_ood_macro_f1")),
                      pm(r.get("mean_normalised_ood_area"), r.get("sd_normalised_ood_area")),
                      reached(r.get("mean_labels_to_half_ceiling_gain"), r.get("n_runs_reaching_half_ceiling_gain")),
                      reached(r.get("mean_labels_to_80pct_ceiling_gain"), r.get("n_runs_reaching_80pct_ceiling_gain")))
    console.print(table)


def _missing(value: object) -> bool:
    """None, or the NaN a null becomes in a pandas frame."""
    return value is None or (isinstance(value, float) and value != value)


def print_plan(result: object, console: Console, max_cost: float | None) -> None:
    """result: annotation.plan.plan(...): one rendered prompt, then the table."""
    if result.sample_messages:
        console.print(f"One rendered prompt ({result.sample_tokens:,} tokens in, {result.sample_token_source}):")
        for message in result.sample_messages:
            console.print(f"--- {message['role']} ---", style="bold")
            console.print(message["content"], markup=False, highlight=False, soft_wrap=True)
    table = Table(title=f"Plan: {result.description}")
    for column in ("model", "calls to send", "answered by cache", "tokens in", "tokens out", "cost (USD)", "tokens from"):
        table.add_column(column)
    for row in result.models:
        cost = "no price" if row.cost_usd is None else f"{row.cost_usd:.4f}"
        table.add_row(row.model, str(row.calls), str(row.cached_calls), f"{row.tokens_in:,}", f"{row.tokens_out:,}",
                      cost, row.token_source)
    console.print(table)
    total = result.cost_usd
    console.print(f"{result.pairs} pairs, {result.calls} calls to send, estimated cost "
                  + ("unknown (a model has no price: set KARL_LLM_PRICES)" if total is None else f"${total:.4f}"))
    if max_cost is not None and total is not None:
        verdict = "fits within" if total <= max_cost else "[red]exceeds[/red]"
        console.print(f"The plan {verdict} --max-cost ${max_cost:.4f}.")


def print_judge(judge_id: str, header: str, rows: list[dict], grids: dict[str, tuple], console: Console) -> None:
    """rows: judge.agreement; grids: level -> judge.confusion."""
    console.print(f"judge {judge_id}: {header}")
    overall = Table(title="Agreement with the human majority (rpt_judge_agreement)")
    for column in ("level", "pairs", "accuracy", "macro-F1", "Cohen's κ", "unanimity", "unanimous precision",
                   "same direction", "reversed", "cost (USD)", "USD / correct", "USD / correct unanimous"):
        overall.add_column(column, justify="right")
    per_class = Table(title="Per human class")
    for column in ("level", "class", "pairs", "precision", "recall", "F1", "unanimous precision", "unanimous coverage"):
        per_class.add_column(column, justify="right")
    for r in rows:
        if r["class_label"] == "all":
            overall.add_row(r["level"], str(r["n_pairs"]), _fmt(r["accuracy"], ".3f"), _fmt(r["macro_f1"], ".3f"),
                            _fmt(r["cohens_kappa"], ".3f"), _fmt(r["unanimity_rate"], ".3f"),
                            _fmt(r["unanimous_precision"], ".3f"), _fmt(r["same_direction_rate"], ".3f"),
                            _fmt(r["reversed_direction_rate"], ".3f"), _fmt(r["cost_usd"], ".4f"),
                            _fmt(r["cost_per_correct_label"], ".6f"), _fmt(r["cost_per_correct_unanimous_label"], ".6f"))
        else:
            per_class.add_row(r["level"], r["class_label"], str(r["n_pairs"]), _fmt(r["precision"], ".3f"),
                              _fmt(r["recall"], ".3f"), _fmt(r["f1"], ".3f"), _fmt(r["unanimous_precision"], ".3f"),
                              _fmt(r["unanimous_coverage"], ".3f"))
    console.print(overall)
    console.print(per_class)
    for level, (humans, llms, cells) in grids.items():
        grid = Table(title=f"Confusion {level} (rpt_judge_confusion): rows human majority, columns LLM plurality")
        grid.add_column("human \\ llm")
        for label in llms:
            grid.add_column(label, justify="right")
        for human in humans:
            grid.add_row(human, *[str(cells.get((human, label), 0)) for label in llms])
        console.print(grid)
