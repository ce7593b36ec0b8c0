"""Behaviour-based reference labels from baskets: co-purchase lift between basket keys.

Each catalogue item has a basket key: the item itself, or, for a catalogue in `BASKET_KEY_LEVELS`,
its category path down to that level (completejourney: level 3, so items are products and the key
is the product type, department > product category > product type). Over `raw.basket_lines`:

    lift(a, b) = n_ab * n_baskets / (n_a * n_b)

n_x = baskets holding an item with key x, n_ab = baskets holding both keys. The lift of a pair of
items is the lift of their two keys (of two products: of their two product types). A pair bought
together clearly more often than chance (lift >= `complement_lift`, on at least `min_co_baskets`
baskets) is labelled `complement`, every other pair `other`. This is the behaviour-based label
that Sugahara et al. (RecSys 2024, "Is It Really Complementary? Revisiting Behavior-based Labels
for Complementary Recommendation") examine: co-purchase is a proxy, often not a functional
complement. karl uses it as the simulated annotator's reference at catalogue scale and reports how
often the FBL-trained classifier agrees with it.

Two items with the same key (two products of one product type) have no lift of their own (a type
co-occurs with itself in every basket that holds it): they get `LiftRule.same_key_label`,
'substitute' by default (same type, another brand or size: interchangeable in a basket), with
n_ab = n_a = n_b and lift null.

All counting runs in DuckDB SQL; only the requested pairs' rows come back to Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

# Catalogue -> category level whose path is an item's basket key (absent: the item itself).
# completejourney items are products; its reference labels are lifts between product types.
BASKET_KEY_LEVELS: dict[str, int] = {"completejourney": 3}
from python_jobs.labels import RELATION_CLASSES as LABELS
from python_jobs.learning.acquisition import mean_member_proba
from python_jobs.learning.scoring import (
    ScoringConfig,
    iter_scored_chunks,
    make_scorer,
)
from python_jobs.warehouse.live_rows import LIVE_BASKET_LINES, LIVE_CATALOG_ITEMS


@dataclass(frozen=True)
class LiftRule:
    complement_lift: float = 2.0      # lift at or above which co-purchase counts as complement
    min_co_baskets: int = 10          # ...but only on this many shared baskets (noise floor)
    same_key_label: str = "substitute"  # two items of one basket key (completejourney: one product type)

    def __post_init__(self) -> None:
        if self.same_key_label not in LABELS:
            raise ValueError(f"same_key_label must be one of {', '.join(LABELS)}")

    def label_sql(self, lift: str, n_ab: str, same_key: str = "false") -> str:
        return (
            f"case when {same_key} then '{self.same_key_label}' "
            f"when {lift} >= {float(self.complement_lift)} and {n_ab} >= {int(self.min_co_baskets)} "
            "then 'complement' else 'other' end"
        )


def basket_key_sql(level: int | None) -> str:
    """SQL over raw.catalog_items: an item's basket key (null when its path stops above `level`)."""
    if level is None:
        return "item_id"
    if not 1 <= level <= 3:
        raise ValueError("a basket key level is 1, 2 or 3")
    path = ", ".join(f"category_l{i}" for i in range(1, level + 1))
    return f"case when category_l{level} is not null then concat_ws(' > ', {path}) end"


def pair_lift_sql(pairs_sql: str, rule: LiftRule = LiftRule(), key_level: int | None = None) -> str:
    """SQL: one row per distinct pair of `pairs_sql` (pair_key, item_a_id, item_b_id) with their
    basket keys (key_a, key_b), n_ab, n_a, n_b, n_baskets, lift (null when a key was never bought,
    or both items share a key) and relation_label.

    Takes one parameter, the catalogue name. `key_level`: see BASKET_KEY_LEVELS (None: items are
    their own keys; so is any item without a catalogue row or a path that deep). Co-counts are
    computed only among the keys the pairs mention (a self-join of their basket lines within each
    basket), so a few hundred pairs cost little and a full candidate pool costs one pass over the
    baskets.
    """
    return f"""
        with
        pairs as (
            select distinct pair_key, item_a_id, item_b_id from ({pairs_sql}) as requested
        ),
        item_keys as (
            select item_id, {basket_key_sql(key_level)} as basket_key
            from {LIVE_CATALOG_ITEMS} as catalog_items where catalog = $1
        ),
        keyed_pairs as (
            select
                pairs.pair_key,
                pairs.item_a_id,
                pairs.item_b_id,
                coalesce(ka.basket_key, pairs.item_a_id) as key_a,
                coalesce(kb.basket_key, pairs.item_b_id) as key_b
            from pairs
            left join item_keys as ka on ka.item_id = pairs.item_a_id
            left join item_keys as kb on kb.item_id = pairs.item_b_id
        ),
        lines as (
            select distinct basket_lines.basket_id, coalesce(item_keys.basket_key, basket_lines.item_id) as basket_key
            from {LIVE_BASKET_LINES} as basket_lines
            left join item_keys on item_keys.item_id = basket_lines.item_id
            where basket_lines.catalog = $1
        ),
        basket_count as (
            select count(distinct basket_id) as n_baskets from lines
        ),
        key_baskets as (
            select basket_key, count(*) as n_key from lines group by basket_key
        ),
        wanted_keys as (
            select key_a as basket_key from keyed_pairs union select key_b from keyed_pairs
        ),
        wanted_lines as (
            select lines.basket_id, lines.basket_key
            from lines inner join wanted_keys on lines.basket_key = wanted_keys.basket_key
        ),
        co_counts as (
            select low.basket_key as low_key, high.basket_key as high_key, count(*) as n_ab
            from wanted_lines as low
            inner join wanted_lines as high
                on low.basket_id = high.basket_id and low.basket_key < high.basket_key
            group by low.basket_key, high.basket_key
        ),
        counted as (
            select
                keyed_pairs.*,
                keyed_pairs.key_a = keyed_pairs.key_b as same_key,
                case when keyed_pairs.key_a = keyed_pairs.key_b then coalesce(a.n_key, 0)
                    else coalesce(co_counts.n_ab, 0) end as n_ab,
                coalesce(a.n_key, 0) as n_a,
                coalesce(b.n_key, 0) as n_b,
                basket_count.n_baskets
            from keyed_pairs
            cross join basket_count
            left join co_counts
                on co_counts.low_key = least(keyed_pairs.key_a, keyed_pairs.key_b)
                and co_counts.high_key = greatest(keyed_pairs.key_a, keyed_pairs.key_b)
            left join key_baskets as a on a.basket_key = keyed_pairs.key_a
            left join key_baskets as b on b.basket_key = keyed_pairs.key_b
        ),
        lifted as (
            select
                *,
                case when n_a > 0 and n_b > 0 and not same_key
                    then cast(n_ab as double) * n_baskets / (cast(n_a as double) * n_b)
                end as lift
            from counted
        )
        select * exclude (same_key), {rule.label_sql('coalesce(lift, 0)', 'n_ab', 'same_key')} as relation_label
        from lifted
    """


def pair_lifts(
    con: duckdb.DuckDBPyConnection,
    pairs_sql: str,
    catalog: str = "completejourney",
    rule: LiftRule = LiftRule(),
) -> pd.DataFrame:
    """Lift and behaviour-based label for every pair of `pairs_sql`, ordered by pair_key (basket
    keys of the catalogue's level, BASKET_KEY_LEVELS)."""
    sql = pair_lift_sql(pairs_sql, rule, BASKET_KEY_LEVELS.get(catalog))
    return con.execute(f"select * from ({sql}) order by pair_key", [catalog]).df()


def reference_labels(
    con: duckdb.DuckDBPyConnection,
    pairs_sql: str,
    catalog: str = "completejourney",
    rule: LiftRule = LiftRule(),
) -> dict[str, str]:
    """pair_key -> 'complement' | 'other' (| rule.same_key_label for two items of one basket key):
    the simulated annotator's truth on a basket catalogue."""
    sql = pair_lift_sql(pairs_sql, rule, BASKET_KEY_LEVELS.get(catalog))
    rows = con.execute(f"select pair_key, relation_label from ({sql})", [catalog]).fetchall()
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
    classes: tuple[str, ...] = LABELS,
) -> tuple[dict[str, float], pd.DataFrame]:
    """How often the classifier's predicted class equals the behaviour-based label, over every
    pair of `candidates_sql` (pair_key, item_a_id, item_b_id, fine_category).

    Predictions stream chunk by chunk (python_jobs/learning/scoring.py); only (pair_key, predicted class)
    is kept, then joined to the lift labels in DuckDB. Returns (agreement figures, confusion
    table of behaviour label x predicted class)."""
    scorer = make_scorer(weights, bias, vectors, n_members, ScoringConfig().dtype)
    keys, predicted = [], []
    for chunk in iter_scored_chunks(con, candidates_sql, scorer, vectors, ScoringConfig()):
        keys.append(chunk.batch.column("pair_key"))
        predicted.append(np.asarray(classes, dtype=object)[mean_member_proba(chunk.member_proba).argmax(axis=1)])

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
            from ({pair_lift_sql(candidates_sql, rule, BASKET_KEY_LEVELS.get(catalog))}) as lifts
            inner join _karl_predictions as predictions on lifts.pair_key = predictions.pair_key
            """,
            [catalog],
        ).df()
    finally:
        con.unregister("_karl_predictions")
    figures = agreement(joined["relation_label"], joined["predicted_class"])
    confusion = pd.crosstab(joined["relation_label"], joined["predicted_class"])
    return figures, confusion
