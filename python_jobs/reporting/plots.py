"""Figures of `karl report` that do not mislead: pure functions from mart frames to PNG bytes.

- Fixed, stated axes: every panel of one metric shares one y-range, computed once over all runs
  of the report (`metric_range`), padded and never narrower than `MIN_SPAN`, so a 0.009 drop is
  drawn as 0.009 of a 0.2-wide axis, not as a cliff across the whole panel.
- Spread over seeds: a strategy with several runs is drawn as its mean (line) ± one standard
  deviation (band); a strategy with one run as that run.
- Baselines on every macro-F1 panel: chance (guessing by the class mix scores a macro-F1 of 1/3
  whatever the mix: each class's precision and recall both equal its share) and, when the report
  holds random-acquisition runs, their mean as the acquisition baseline.

matplotlib runs headless (Agg), fixed size and dpi.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CLASSES = ("substitute", "complement", "other")
STRATEGY_COLOURS = {"qbc": "#C44E52", "margin": "#55A868", "random": "#4C72B0", "entropy": "#8172B2",
                    "breaking_ties": "#937860", "kcenter": "#DA8BC3", "context": "#CCB974"}
EXTRA_COLOURS = ("#8172B2", "#937860", "#DA8BC3", "#CCB974")
CHANCE_MACRO_F1 = 1.0 / 3.0
MIN_SPAN = 0.2
DPI = 110


@dataclass(frozen=True)
class AxisRange:
    low: float
    high: float

    def text(self) -> str:
        return f"{self.low:.2f}–{self.high:.2f}"


def metric_range(values: list[float] | pd.Series, min_span: float = MIN_SPAN, step: float = 0.05,
                 floor: float | None = 0.0, ceiling: float | None = 1.0) -> AxisRange:
    """One y-range for a metric over all runs: [min, max] widened to multiples of `step`, then
    to at least `min_span` around its centre, kept inside [floor, ceiling]."""
    finite = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not finite:
        return AxisRange(floor or 0.0, ceiling or 1.0)
    low, high = math.floor(min(finite) / step) * step, math.ceil(max(finite) / step) * step
    if high - low < min_span:
        centre = (low + high) / 2
        low, high = centre - min_span / 2, centre + min_span / 2
    if floor is not None and low < floor:
        low, high = floor, max(high, floor + min_span)
    if ceiling is not None and high > ceiling:
        low, high = min(low, ceiling - min_span), ceiling
    # whole hundredths, so the stated range is the drawn one
    return AxisRange(math.floor(round(low * 100, 6)) / 100, math.ceil(round(high * 100, 6)) / 100)


def png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def strategy_colours(strategies: list[str]) -> dict[str, str]:
    colours, extra = {}, iter(EXTRA_COLOURS * 4)
    for strategy in sorted(set(strategies)):
        colours[strategy] = STRATEGY_COLOURS.get(strategy) or next(extra)
    return colours


def spread(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per x: mean, sd (0 for one run) and the number of runs of `y`."""
    stats = frame.groupby(x)[y].agg(["mean", "std", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return stats


def _strategy_curves(axis: plt.Axes, frame: pd.DataFrame, x: str, y: str, colours: dict[str, str],
                     legend: bool) -> None:
    """Per strategy: its run's line, or (several runs, x = round) the mean ± sd band. Against
    labels or spend the runs' x values differ, so each run is its own thin line instead."""
    for strategy, group in frame.groupby("strategy", sort=True):
        runs = group["run_id"].nunique()
        colour = colours[str(strategy)]
        if runs == 1 or x != "round_index":
            for position, (_, run) in enumerate(group.groupby("run_id", sort=True)):
                run = run.sort_values(x)
                label = f"{strategy} ({runs} run{'s' if runs > 1 else ''})" if legend and position == 0 else None
                axis.plot(run[x], run[y], marker="o", markersize=3.5 if runs == 1 else 2.5, color=colour,
                          linewidth=1.5 if runs == 1 else 1.0, alpha=1.0 if runs == 1 else 0.8, label=label)
            continue
        stats = spread(group, x, y)
        axis.plot(stats[x], stats["mean"], marker="o", markersize=3.5, color=colour,
                  label=f"{strategy} (mean ± sd of {runs} runs)" if legend else None)
        axis.fill_between(stats[x], stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                          color=colour, alpha=0.18, linewidth=0)


def _baselines(axis: plt.Axes, metrics: pd.DataFrame, x: str, y: str, legend: bool) -> None:
    axis.axhline(CHANCE_MACRO_F1, color="#999999", linestyle=":", linewidth=1.2,
                 label="chance (guess by class mix) = 1/3" if legend else None)
    random_runs = metrics[metrics["strategy"] == "random"]
    if not random_runs.empty and metrics["strategy"].nunique() > 1 and x == "round_index":
        stats = spread(random_runs, x, y)
        axis.plot(stats[x], stats["mean"], color="#4C72B0", linestyle="--", linewidth=1,
                  label="random acquisition (baseline)" if legend else None)


def f1_curves(metrics: pd.DataFrame, x: str, xlabel: str, ranges: dict[str, AxisRange]) -> bytes:
    """ID and OOD macro-F1 against `x` (round, accepted labels or spend), per strategy, on the
    fixed ranges, with the chance and random-acquisition baselines."""
    colours = strategy_colours(list(metrics["strategy"]))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    for axis, prefix, title in ((axes[0], "id", "In-distribution (CV over the train datasets)"),
                                (axes[1], "ood", "Out-of-distribution (the eval datasets' held-out pairs)")):
        column = f"{prefix}_macro_f1"
        _strategy_curves(axis, metrics, x, column, colours, legend=prefix == "ood")
        _baselines(axis, metrics, x, column, legend=prefix == "ood")
        axis.set_ylim(ranges[column].low, ranges[column].high)
        axis.set_title(f"{title}; y {ranges[column].text()}", fontsize=10)
        axis.set_xlabel(xlabel)
        axis.grid(alpha=0.3)
        if x == "round_index":
            axis.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_ylabel("macro-F1")
    axes[1].legend(fontsize=8, loc="best")
    return png(figure)


def per_class_f1(metrics: pd.DataFrame, ranges: dict[str, AxisRange]) -> bytes:
    """F1 per class and round (rows ID / OOD), per strategy, every panel of a row on one range."""
    colours = strategy_colours(list(metrics["strategy"]))
    figure, axes = plt.subplots(2, 3, figsize=(11, 5.4), sharex=True)
    for row, prefix in enumerate(("id", "ood")):
        key = f"{prefix}_per_class"
        for column, name in enumerate(CLASSES):
            axis = axes[row][column]
            _strategy_curves(axis, metrics, "round_index", f"{prefix}_f1_{name}", colours,
                             legend=row == 0 and column == 0)
            axis.set_ylim(ranges[key].low, ranges[key].high)
            axis.set_title(f"{prefix.upper()} F1 · {name}", fontsize=10)
            axis.grid(alpha=0.3)
            axis.xaxis.get_major_locator().set_params(integer=True)
            if row == 1:
                axis.set_xlabel("round")
    axes[0][0].legend(fontsize=7, loc="best")
    return png(figure)


def bars_per_round(frame: pd.DataFrame, y: str, title: str, ylabel: str) -> bytes:
    """One quantity per round, per strategy (mean ± sd over its runs), from 0."""
    colours = strategy_colours(list(frame["strategy"]))
    figure, axis = plt.subplots(figsize=(8, 3.6))
    strategies = sorted(frame["strategy"].unique())
    width = 0.8 / max(len(strategies), 1)
    for position, strategy in enumerate(strategies):
        stats = spread(frame[frame["strategy"] == strategy], "round_index", y)
        axis.bar(stats["round_index"] + (position - (len(strategies) - 1) / 2) * width, stats["mean"],
                 width=width, yerr=stats["std"], color=colours[strategy], label=strategy, capsize=2)
    axis.set_ylim(bottom=0)
    axis.set_title(title, fontsize=10)
    axis.set_xlabel("round")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3, axis="y")
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.legend(fontsize=8)
    return png(figure)


def confusion_grid(matrices: list[tuple[str, pd.DataFrame]]) -> bytes:
    """Heatmaps side by side; each frame has reference_label, predicted_label, n_pairs. Colour =
    share of the row (the recall of the reference class), text = the count."""
    figure, axes = plt.subplots(1, len(matrices), figsize=(3.9 * len(matrices), 3.6), squeeze=False)
    for axis, (title, cells) in zip(axes[0], matrices):
        rows = [c for c in CLASSES if c in set(cells["reference_label"])] or list(CLASSES)
        columns = list(CLASSES) + sorted(set(cells["predicted_label"]) - set(CLASSES))
        counts = np.zeros((len(rows), len(columns)))
        for cell in cells.itertuples():
            if cell.reference_label in rows and cell.predicted_label in columns:
                counts[rows.index(cell.reference_label), columns.index(cell.predicted_label)] += cell.n_pairs
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(rows)):
            for j in range(len(columns)):
                axis.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=9,
                          color="white" if shares[i, j] > 0.6 else "#222222")
        axis.set_xticks(range(len(columns)), [c.replace("_", " ") for c in columns], rotation=30, fontsize=8)
        axis.set_yticks(range(len(rows)), rows, fontsize=8)
        axis.set_xlabel("predicted", fontsize=9)
        axis.set_ylabel("reference", fontsize=9)
        axis.set_title(title, fontsize=10)
    return png(figure)


def diversity_curves(metrics: pd.DataFrame, ranges: dict[str, AxisRange]) -> bytes:
    colours = strategy_colours(list(metrics["strategy"]))
    figure, axis = plt.subplots(figsize=(8, 3.4))
    _strategy_curves(axis, metrics, "round_index", "diversity", colours, legend=True)
    axis.set_ylim(ranges["diversity"].low, ranges["diversity"].high)
    axis.set_title(f"Diversity of the training set (1 − mean |r|); y {ranges['diversity'].text()}", fontsize=10)
    axis.set_xlabel("round")
    axis.grid(alpha=0.3)
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.legend(fontsize=8)
    return png(figure)


def ceiling_curves(learning: pd.DataFrame) -> bytes:
    """Left: OOD macro-F1 against the labels acquired, per strategy (mean ± sd over its runs at
    each round, x the runs' mean labels), with the runs' ceiling (dashed) and floor (dotted).
    Right: the same rounds as a share of the gain from floor to ceiling, each run against its
    own split's floor and ceiling (0 = floor, 1 = ceiling)."""
    frame = learning.copy()
    gain = frame["ceiling_ood_macro_f1"] - frame["floor_ood_macro_f1"]
    frame["share_of_ceiling_gain"] = (frame["ood_macro_f1"] - frame["floor_ood_macro_f1"]) / gain.where(gain > 0)
    colours = strategy_colours(list(frame["strategy"]))
    ood_range = metric_range(list(frame["ood_macro_f1"]) + list(frame["ceiling_ood_macro_f1"]))
    share_range = metric_range(list(frame["share_of_ceiling_gain"]) + [0.0, 1.0], floor=None, ceiling=None)
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    for strategy, group in frame.groupby("strategy", sort=True):
        runs = group["run_id"].nunique()
        per_round = group.groupby("round_index").agg(
            labels=("n_labels_acquired", "mean"), ood=("ood_macro_f1", "mean"), ood_sd=("ood_macro_f1", "std"),
            share=("share_of_ceiling_gain", "mean"), share_sd=("share_of_ceiling_gain", "std")).fillna({"ood_sd": 0.0, "share_sd": 0.0})
        colour = colours[str(strategy)]
        for axis, mean, sd in ((axes[0], "ood", "ood_sd"), (axes[1], "share", "share_sd")):
            axis.plot(per_round["labels"], per_round[mean], marker="o", markersize=3, color=colour,
                      label=f"{strategy} (mean ± sd of {runs} runs)" if axis is axes[1] else None)
            axis.fill_between(per_round["labels"], per_round[mean] - per_round[sd], per_round[mean] + per_round[sd],
                              color=colour, alpha=0.15, linewidth=0)
    ceilings = frame.drop_duplicates("run_id")
    ceiling, ceiling_sd = float(ceilings["ceiling_ood_macro_f1"].mean()), float(ceilings["ceiling_ood_macro_f1"].std() or 0.0)
    axes[0].axhline(ceiling, color="#333333", linestyle="--", linewidth=1.2,
                    label=f"ceiling (trained on the pool's labels) {ceiling:.3f} ± {0 if ceiling_sd != ceiling_sd else ceiling_sd:.3f}")
    axes[0].axhline(float(ceilings["floor_ood_macro_f1"].mean()), color="#999999", linestyle=":", linewidth=1.2,
                    label="floor (round 0)")
    for level, style in ((1.0, "--"), (0.8, ":"), (0.5, ":"), (0.0, ":")):
        axes[1].axhline(level, color="#333333" if level == 1.0 else "#999999", linestyle=style, linewidth=1.0)
    axes[0].set_ylim(ood_range.low, ood_range.high)
    axes[0].set_title(f"OOD macro-F1; y {ood_range.text()}", fontsize=10)
    axes[0].set_ylabel("macro-F1")
    axes[1].set_ylim(share_range.low, share_range.high)
    axes[1].set_title(f"share of the ceiling's gain (0 floor, 1 ceiling); y {share_range.text()}", fontsize=10)
    axes[1].set_ylabel("share of the gain")
    for axis in axes:
        axis.set_xlabel("labels acquired")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="best")
    return png(figure)
