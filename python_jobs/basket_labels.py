"""Behaviour-based reference labels from baskets: co-purchase lift between catalogue items.

For a catalogue with baskets (raw.basket_lines; completejourney items are product types):

    lift(a, b) = n_ab * n_baskets / (n_a * n_b)

n_x = baskets holding x, n_ab = baskets holding both. A pair bought together clearly more often
than chance (lift >= `complement_lift`, on at least `min_co_baskets` baskets) is labelled
`complement`, every other pair `other`. This is the behaviour-based label that Sugahara et al.
(RecSys 2024, "Is It Really Complementary? Revisiting Behavior-based Labels for Complementary
Recommendation") examine: co-purchase is a proxy, often not a functional complement. karl uses it
as the simulated annotator's reference at catalogue scale and reports how often the FBL-trained
classifier agrees with it.

All counting runs in DuckDB SQL; only the requested pairs' rows come back to Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd


@dataclass(frozen=True)
class LiftRule:
    complement_lift: float = 2.0      # lift at or above which co-purchase counts as complement
    min_co_baskets: int = 10          # ...but only on this many shared baskets (noise floor)

    def label_sql(self, lift: str, n_ab: str) -> str:
        return (
            f"case when {lift} >= {float(self.complement_lift)} and {n_ab} >= {int(self.min_co_baskets)} "
            "then 'complement' else 'other' end"
        )


def pair_lift_sql(pairs_sql: str, rule: LiftRule = LiftRule()) -> str:
    """SQL: one row per distinct pair of `pairs_sql` (pair_key, item_a_id, item_b_id) with n_ab,
    n_a, n_b, n_baskets, lift (null when an item was never bought) and relation_label.

    Takes one parameter, the catalogue name. Co-counts are computed only among the items the
    pairs mention (a self-join of their basket lines within each basket), so a few hundred pairs
    cost little and a full candidate pool costs one pass over the baskets.
    """
    return f"""
        with
        pairs as (
            select distinct pair_key, item_a_id, item_b_id from ({pairs_sql}) as requested
        ),
        lines as (
            select distinct basket_id, item_id from raw.basket_lines where catalog = $1
        ),
        basket_count as (
            select count(distinct basket_id) as n_baskets from lines
        ),
        item_baskets as (
            select item_id, count(*) as n_item from lines group by item_id
        ),
        wanted_items as (
            select item_a_id as item_id from pairs union select item_b_id from pairs
        ),
        wanted_lines as (
            select lines.basket_id, lines.item_id
            from lines inner join wanted_items on lines.item_id = wanted_items.item_id
        ),
        co_counts as (
            select low.item_id as low_id, high.item_id as high_id, count(*) as n_ab
            from wanted_lines as low
            inner join wanted_lines as high
                on low.basket_id = high.basket_id and low.item_id < high.item_id
            group by low.item_id, high.item_id
        ),
        counted as (
            select
                pairs.pair_key,
                pairs.item_a_id,
                pairs.item_b_id,
                coalesce(co_counts.n_ab, 0) as n_ab,
                coalesce(a.n_item, 0) as n_a,
                coalesce(b.n_item, 0) as n_b,
                basket_count.n_baskets
            from pairs
            cross join basket_count
            left join co_counts
                on co_counts.low_id = least(pairs.item_a_id, pairs.item_b_id)
                and co_counts.high_id = greatest(pairs.item_a_id, pairs.item_b_id)
            left join item_baskets as a on a.item_id = pairs.item_a_id
            left join item_baskets as b on b.item_id = pairs.item_b_id
        ),
        lifted as (
            select
                *,
                case when n_a > 0 and n_b > 0
                    then cast(n_ab as double) * n_baskets / (cast(n_a as double) * n_b)
                end as lift
            from counted
        )
        select *, {rule.label_sql('coalesce(lift, 0)', 'n_ab')} as relation_label
        from lifted
    """


def pair_lifts(
    con: duckdb.DuckDBPyConnection,
    pairs_sql: str,
    catalog: str = "completejourney",
    rule: LiftRule = LiftRule(),
) -> pd.DataFrame:
    """Lift and behaviour-based label for every pair of `pairs_sql`, ordered by pair_key."""
    return con.execute(f"select * from ({pair_lift_sql(pairs_sql, rule)}) order by pair_key", [catalog]).df()


def reference_labels(
    con: duckdb.DuckDBPyConnection,
    pairs_sql: str,
    catalog: str = "completejourney",
    rule: LiftRule = LiftRule(),
) -> dict[str, str]:
    """pair_key -> 'complement' | 'other': the simulated annotator's truth on a basket catalogue."""
    rows = con.execute(
        f"select pair_key, relation_label from ({pair_lift_sql(pairs_sql, rule)})", [catalog]
    ).fetchall()
    return {pair_key: label for pair_key, label in rows}


def agreement(labels: pd.Series, predicted: pd.Series) -> dict[str, float]:
    """How often predictions agree with behaviour-based labels: overall, and per behaviour label
    (the share of 'complement'-by-lift pairs the classifier also calls complement, etc.)."""
    frame = pd.DataFrame({"label": labels.to_numpy(), "predicted": predicted.to_numpy()})
    result: dict[str, float] = {"n_pairs": float(len(frame)), "agreement": float((frame.label == frame.predicted).mean())}
    for label, group in frame.groupby("label"):
        result[f"n_{label}"] = float(len(group))
        result[f"agreement_{label}"] = float((group.predicted == label).mean())
    for label, group in frame.groupby("predicted"):
        result[f"predicted_{label}_share"] = float(len(group) / max(len(frame), 1))
    return result


def classifier_agreement(
    con: duckdb.DuckDBPyConnection,
    candidates_sql: str,
    weights,  # noqa: ANN001 - BaggedEnsemble.stacked_weights()[0]
    bias,  # noqa: ANN001
    n_members: int,
    vectors,  # noqa: ANN001 - scoring.ItemVectors
    catalog: str = "completejourney",
    rule: LiftRule = LiftRule(),
    classes: tuple[str, ...] = ("substitute", "complement", "other"),
) -> tuple[dict[str, float], pd.DataFrame]:
    """How often the classifier's predicted class equals the behaviour-based label, over every
    pair of `candidates_sql` (pair_key, item_a_id, item_b_id, fine_category).

    Predictions stream chunk by chunk (python_jobs/scoring.py); only (pair_key, predicted class)
    is kept, then joined to the lift labels in DuckDB. Returns (agreement figures, confusion
    table of behaviour label x predicted class)."""
    import numpy as np

    from python_jobs.scoring import ScoringConfig, StackedLinearScorer, iter_scored_chunks, mean_member_proba

    scorer = StackedLinearScorer.from_weights(weights, bias, vectors, n_members, ScoringConfig().dtype)
    keys, predicted = [], []
    for chunk in iter_scored_chunks(con, candidates_sql, scorer, vectors, ScoringConfig()):
        keys.append(chunk.batch.column("pair_key"))
        predicted.append(np.asarray(classes, dtype=object)[mean_member_proba(chunk.member_proba).argmax(axis=1)])
    import pyarrow as pa

    frame = pa.table({
        "pair_key": pa.concat_arrays([k.combine_chunks() if hasattr(k, "combine_chunks") else k for k in keys])
        if keys else pa.array([], pa.string()),
        "predicted_class": pa.array(np.concatenate(predicted) if predicted else [], pa.string()),
    })
    con.register("_karl_predictions", frame)
    try:
        joined = con.execute(
            f"""
            select lifts.pair_key, lifts.relation_label, predictions.predicted_class, lifts.lift, lifts.n_ab
            from ({pair_lift_sql(candidates_sql, rule)}) as lifts
            inner join _karl_predictions as predictions on lifts.pair_key = predictions.pair_key
            """,
            [catalog],
        ).df()
    finally:
        con.unregister("_karl_predictions")
    figures = agreement(joined["relation_label"], joined["predicted_class"])
    confusion = pd.crosstab(joined["relation_label"], joined["predicted_class"])
    return figures, confusion
