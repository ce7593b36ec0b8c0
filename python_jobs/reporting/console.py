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
    table = Table(title="karl experiment (marts.rpt_experiment_summary): mean ± sd over seeds")
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


def print_plan(result: object, console: Console, max_cost: float | None) -> None:
    """result: annotation.plan.plan(...)."""
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
