"""Loads the few-shot example pool from the warehouse: the train datasets' pairs (FBL2023 by
default) with a 9-class human majority, titles and categories from `marts.dim_items`, evaluation pairs left out (and the pool
refuses them anyway: see few_shot.ExamplePool)."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from python_jobs.annotation.base import PairToAnnotate
from python_jobs.annotation.evaluation_pairs import evaluation_pair_keys
from python_jobs.annotation.few_shot import ExamplePool, FewShotExample
from python_jobs.config import DEFAULT_TRAIN_LABELS
from python_jobs.warehouse.connection import require_marts


def load_pool(con: duckdb.DuckDBPyConnection, also_excluded: Iterable[str] = (),
              example_datasets: tuple[str, ...] = DEFAULT_TRAIN_LABELS) -> ExamplePool:
    """The example pool from `example_datasets` (the run's train datasets); `also_excluded`: pair
    keys the caller evaluates on besides the standard evaluation sets (e.g. the pairs of the
    round being annotated)."""
    require_marts(con, "fct_human_labels", "dim_items", "fct_eval_sets")
    excluded = evaluation_pair_keys(con, example_datasets) | set(also_excluded)
    rows = con.execute(
        """
        select h.pair_key, h.item_a_id, coalesce(a.title, ''), h.item_b_id, coalesce(b.title, ''),
               nullif(concat_ws(' > ', a.category_l1, a.category_l2, a.category_l3), ''),
               nullif(concat_ws(' > ', b.category_l1, b.category_l2, b.category_l3), ''),
               h.fbl_label
        from marts.fct_human_labels as h
        left join marts.dim_items as a on a.item_id = h.item_a_id
        left join marts.dim_items as b on b.item_id = h.item_b_id
        where list_contains(?, h.dataset) and h.fbl_label is not null
        order by h.pair_key
        """, [list(example_datasets)]
    ).fetchall()
    examples = [
        FewShotExample(PairToAnnotate(key, a, title_a, b, title_b, cat_a, cat_b), int(label))
        for key, a, title_a, b, title_b, cat_a, cat_b, label in rows
        if key not in excluded
    ]
    return ExamplePool(examples, excluded)
