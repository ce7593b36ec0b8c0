"""Figures of `karl report`: pure functions from pandas frames (the marts) to PNG bytes.

matplotlib runs headless (Agg). Every figure is rendered at a fixed size and dpi so the page reads
the same everywhere; runs keep one colour per strategy and one line style per seed throughout.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from python_jobs.labels import RELATION_CLASSES as CLASSES

CLASS_COLOURS = {"substitute": "#4C72B0", "complement": "#DD8452", "other": "#8C8C8C"}
STRATEGY_COLOURS = {"qbc": "#C44E52", "margin": "#55A868", "random": "#4C72B0", "entropy": "#8172B2",
                    "breaking_ties": "#937860", "kcenter": "#DA8BC3", "context": "#CCB974"}
SEED_STYLES = ("-", "--", ":", "-.")
DPI = 110


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def run_styles(runs: pd.DataFrame) -> dict[str, dict[str, object]]:
    """run_id -> line style kwargs: colour by strategy, dash pattern by position among its seeds."""
    styles: dict[str, dict[str, object]] = {}
    extra = ["#8172B2", "#937860", "#DA8BC3", "#CCB974"]
    for strategy, group in runs.sort_values(["strategy", "seed", "run_id"]).groupby("strategy", sort=True):
        colour = STRATEGY_COLOURS.get(str(strategy)) or extra[len(styles) % len(extra)]
        for position, run_id in enumerate(group["run_id"]):
            styles[str(run_id)] = {"color": colour, "linestyle": SEED_STYLES[position % len(SEED_STYLES)]}
    return styles


def _label(run: pd.Series) -> str:
    return f"{run['strategy']} · seed {run['seed']} ({run['run_id']})"


def macro_f1_curves(metrics: pd.DataFrame, styles: dict[str, dict[str, object]]) -> bytes:
    """ID and OOD macro-F1 per round, every run on one chart (ID and OOD panels, each scaled to its
    own range: they differ by ~0.4, a shared axis would flatten the differences between runs)."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, prefix, title in ((axes[0], "id", "In-distribution (CV on FBL2023)"),
                                (axes[1], "ood", "Out-of-distribution (FBL2024 test half)")):
        for run_id, run in metrics.groupby("run_id", sort=True):
            run = run.sort_values("round_index")
            axis.plot(run["round_index"], run[f"{prefix}_macro_f1"], marker="o", markersize=4,
                      label=_label(run.iloc[0]), **styles[str(run_id)])
        axis.set_title(title)
        axis.set_xlabel("round")
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_ylabel("macro-F1")
    axes[1].legend(fontsize=8, loc="best")
    return _png(figure)


def per_class_f1(metrics: pd.DataFrame, styles: dict[str, dict[str, object]]) -> bytes:
    """F1 of each class per round: rows ID / OOD, one column per class."""
    figure, axes = plt.subplots(2, 3, figsize=(11, 5.6), sharex=True, sharey="row")
    for row, prefix in enumerate(("id", "ood")):
        for column, name in enumerate(CLASSES):
            axis = axes[row][column]
            for run_id, run in metrics.groupby("run_id", sort=True):
                run = run.sort_values("round_index")
                axis.plot(run["round_index"], run[f"{prefix}_f1_{name}"], marker="o", markersize=3,
                          label=_label(run.iloc[0]), **styles[str(run_id)])
            axis.set_title(f"{prefix.upper()} F1 · {name}", fontsize=10)
            axis.grid(alpha=0.3)
            axis.xaxis.get_major_locator().set_params(integer=True)
            if row == 1:
                axis.set_xlabel("round")
    axes[0][0].legend(fontsize=7, loc="best")
    return _png(figure)


def yield_and_class_mix(metrics: pd.DataFrame, balance: pd.DataFrame,
                        styles: dict[str, dict[str, object]]) -> bytes:
    """Left: share of annotated pairs accepted per round. Right: accepted labels per class and
    round, one stacked bar per run side by side."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    annotated = metrics[metrics["n_annotated_pairs"].fillna(0) > 0]
    for run_id, run in annotated.groupby("run_id", sort=True):
        run = run.sort_values("round_index")
        left.plot(run["round_index"], run["acceptance_yield"], marker="o", markersize=4,
                  label=_label(run.iloc[0]), **styles[str(run_id)])
    left.set_title("Acceptance yield (unanimous / annotated)")
    left.set_xlabel("round")
    left.set_ylim(0, 1.05)
    left.xaxis.get_major_locator().set_params(integer=True)
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="best")
    run_ids = sorted(balance["run_id"].unique())
    width = 0.8 / max(len(run_ids), 1)
    hatches = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
    run_handles: list[Patch] = []
    for position, run_id in enumerate(run_ids):
        run = balance[balance["run_id"] == run_id]
        pivot = run.pivot_table(index="round_index", columns="relation_label", values="n_accepted_labels",
                                aggfunc="sum", fill_value=0).sort_index()
        bottom = pd.Series(0, index=pivot.index, dtype=float)
        x = pivot.index.to_numpy() + (position - (len(run_ids) - 1) / 2) * width
        for name in CLASSES:
            values = pivot[name] if name in pivot.columns else pd.Series(0, index=pivot.index)
            right.bar(x, values, width=width * 0.95, bottom=bottom, color=CLASS_COLOURS[name],
                      edgecolor="white", hatch=hatches[position % len(hatches)], linewidth=0.5,
                      label=name if position == 0 else None)
            bottom = bottom + values.to_numpy()
        run_handles.append(Patch(facecolor="white", edgecolor="#333333", hatch=hatches[position % len(hatches)],
                                 label=str(run_id)))
    right.set_title("Accepted labels per class and run")
    right.set_xlabel("round")
    right.set_ylabel("labels")
    right.xaxis.get_major_locator().set_params(integer=True)
    class_handles = [Patch(facecolor=CLASS_COLOURS[name], label=name) for name in CLASSES]
    right.legend(handles=class_handles + run_handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                 borderaxespad=0)
    return _png(figure)


def diversity_against_gain(metrics: pd.DataFrame, styles: dict[str, dict[str, object]]) -> bytes:
    """Each round as a point: training-set diversity (x) against its OOD macro-F1 gain over the
    previous round (y)."""
    figure, axis = plt.subplots(figsize=(7, 4.2))
    points = metrics.dropna(subset=["ood_macro_f1_delta_to_previous", "diversity"])
    for run_id, run in points.groupby("run_id", sort=True):
        axis.scatter(run["diversity"], run["ood_macro_f1_delta_to_previous"], s=28,
                     color=styles[str(run_id)]["color"], label=_label(run.iloc[0]), alpha=0.85)
        for _, point in run.iterrows():
            axis.annotate(str(int(point["round_index"])), (point["diversity"], point["ood_macro_f1_delta_to_previous"]),
                          fontsize=7, xytext=(3, 3), textcoords="offset points")
    axis.axhline(0, color="#444444", linewidth=0.8)
    axis.set_xlabel("training-set diversity (1 − mean |Pearson r|)")
    axis.set_ylabel("OOD macro-F1 gain over previous round")
    axis.set_title("Diversity against gain (numbers = round)")
    axis.grid(alpha=0.3)
    if len(points):
        axis.legend(fontsize=8, loc="best")
    return _png(figure)


def cost_per_round(costs: pd.DataFrame, styles: dict[str, dict[str, object]], runs: pd.DataFrame) -> bytes:
    """Left: spend (or calls, for free annotators) per round. Right: latency p50 / p90 per round."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.0))
    labels = {str(r["run_id"]): _label(r) for _, r in runs.iterrows()}
    has_cost = bool(len(costs)) and float(costs["cost_usd"].sum()) > 0
    value = "cost_usd" if has_cost else "n_calls"
    for run_id, run in costs.groupby("run_id", sort=True):
        run = run.sort_values("round_index")
        left.plot(run["round_index"], run[value], marker="o", markersize=4,
                  label=labels.get(str(run_id), str(run_id)), **styles[str(run_id)])
        right.plot(run["round_index"], run["latency_p50_ms"], marker="o", markersize=3, **styles[str(run_id)])
        right.plot(run["round_index"], run["latency_p90_ms"], marker="^", markersize=3, alpha=0.5,
                   color=styles[str(run_id)]["color"], linestyle=":")
    left.set_title("Spend per round (USD)" if has_cost else "Annotator calls per round (annotator is free)")
    left.set_ylim(bottom=0)
    left.set_xlabel("round")
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="best")
    left.xaxis.get_major_locator().set_params(integer=True)
    right.set_title("Call latency per round: p50 (circles), p90 (triangles), ms")
    right.set_xlabel("round")
    right.grid(alpha=0.3)
    right.xaxis.get_major_locator().set_params(integer=True)
    if costs["latency_p50_ms"].isna().all():
        right.text(0.5, 0.5, "no call latencies recorded\n(replayed annotations)", ha="center", va="center",
                   transform=right.transAxes, color="#666666")
        right.set_xticks([])
        right.set_yticks([])
    return _png(figure)


def experiment_view(metrics: pd.DataFrame) -> bytes:
    """Mean and spread (± 1 std, min-max band) over seeds per strategy, ID and OOD macro-F1."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, prefix in ((axes[0], "id"), (axes[1], "ood")):
        column = f"{prefix}_macro_f1"
        for strategy, group in metrics.groupby("strategy", sort=True):
            stats = group.groupby("round_index")[column].agg(["mean", "std", "min", "max", "count"]).reset_index()
            colour = STRATEGY_COLOURS.get(str(strategy), "#333333")
            seeds = int(group["seed"].nunique())
            axis.plot(stats["round_index"], stats["mean"], marker="o", markersize=4, color=colour,
                      label=f"{strategy} (mean of {seeds} seed{'s' if seeds != 1 else ''})")
            std = stats["std"].fillna(0)
            axis.fill_between(stats["round_index"], stats["mean"] - std, stats["mean"] + std, color=colour, alpha=0.2)
            axis.plot(stats["round_index"], stats["min"], color=colour, linewidth=0.6, alpha=0.5)
            axis.plot(stats["round_index"], stats["max"], color=colour, linewidth=0.6, alpha=0.5)
        axis.set_title(f"{prefix.upper()} macro-F1 per strategy over seeds")
        axis.set_xlabel("round")
        axis.grid(alpha=0.3)
        axis.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_ylabel("macro-F1")
    axes[1].legend(fontsize=8, loc="best")
    return _png(figure)
