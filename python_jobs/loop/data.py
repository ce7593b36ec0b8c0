"""What the loop reads from the warehouse: labelled pairs, evaluation pairs, pool samples and the
pairs to annotate, as arrays ready for the model. Reads marts (and the run's selections); never writes."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from python_jobs.annotation.base import PairToAnnotate


@dataclass(frozen=True)
class LabelledPairs:
    pair_keys: np.ndarray
    item_a_ids: np.ndarray
    item_b_ids: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "LabelledPairs":
        return cls(
            pair_keys=frame["pair_key"].to_numpy(dtype=object),
            item_a_ids=frame["item_a_id"].to_numpy(dtype=object),
            item_b_ids=frame["item_b_id"].to_numpy(dtype=object),
            labels=frame["relation_label"].to_numpy(dtype=object),
        )

    def __len__(self) -> int:
        return len(self.pair_keys)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _in(column: str, datasets: tuple[str, ...] | None) -> tuple[str, list]:
    """A SQL filter on `column` to `datasets` (None: no filter; (): nothing) and its parameters."""
    if datasets is None:
        return "true", []
    if not datasets:
        return "false", []
    return f"{column} in ({', '.join('?' for _ in datasets)})", list(datasets)


def id_human_labels(con: duckdb.DuckDBPyConnection, datasets: tuple[str, ...] | None = None) -> LabelledPairs:
    """The in-distribution human labels (the train datasets' pairs with a majority; FBL2023 by
    default): ID CV folds come from these. `datasets`: the run's train datasets (() for a cold
    start: no labels); None: whatever fct_training_labels was built with."""
    where, params = _in("dataset", datasets)
    return LabelledPairs.from_frame(_frame(con, f"""
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_training_labels
        where label_source = 'human' and {where}
        order by pair_key
    """, params))


def added_labels(con: duckdb.DuckDBPyConnection, run_id: str, round_index: int) -> LabelledPairs:
    """Labels added to training beyond the human ID set: this run's accepted LLM labels from
    rounds before `round_index`, and human review decisions. Not its cold-start labels (round -1):
    they are the run's base set (loop/cold_start.py)."""
    return LabelledPairs.from_frame(_frame(con, """
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_training_labels
        where (label_source = 'llm' and run_id = ? and round_index between 0 and ? - 1)
            or label_source = 'review'
        order by pair_key
    """, [run_id, round_index]))


def ood_test_labels(con: duckdb.DuckDBPyConnection, datasets: tuple[str, ...] | None = None) -> LabelledPairs:
    """The held-out OOD pairs with a majority label: every eval dataset's 'test' rows (FBL2024's
    test half by default), or those of `datasets`."""
    where, params = _in("dataset", datasets)
    return LabelledPairs.from_frame(_frame(con, f"""
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_eval_sets
        where eval_set = 'test' and relation_label is not null and {where}
        order by pair_key, dataset
    """, params))


def pool_half_labels(con: duckdb.DuckDBPyConnection) -> LabelledPairs:
    """The pool half's pairs with a majority label (FBL2024's pool half by default): what a run
    could at most learn from the pool, and so the training set of its ceiling (loop/ceiling.py)."""
    return LabelledPairs.from_frame(_frame(con, """
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_eval_sets
        where eval_set = 'pool' and relation_label is not null
        order by pair_key, dataset
    """))


def ood_datasets(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The eval datasets that have held-out pairs with a majority label, by name."""
    return [row[0] for row in con.execute("""
        select distinct dataset from marts.fct_eval_sets
        where eval_set = 'test' and relation_label is not null order by dataset
    """).fetchall()]


def reference_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Known labels for the pool (FBL2024 majority labels): the simulated annotator's truth and
    the reference of replay runs."""
    rows = con.execute("""
        select pair_key, relation_label from marts.fct_human_labels
        where relation_label is not null
    """).fetchall()
    return {pair_key: label for pair_key, label in rows}


def pool_sample(con: duckdb.DuckDBPyConnection, seed: int, limit: int) -> pd.DataFrame:
    """A fixed hash sample of the candidate pool (all of it when small): pair_key, item ids."""
    return con.execute(f"""
        select pair_key, item_a_id, item_b_id from marts.fct_candidate_pairs
        order by hash(pair_key || ':{int(seed)}') limit {int(limit)}
    """).df()


def pairs_to_annotate(con: duckdb.DuckDBPyConnection, run_id: str, round_index: int) -> list[PairToAnnotate]:
    """The round's selected pairs with their titles and category paths, most uncertain first."""
    rows = con.execute("""
        select s.pair_key, s.item_a_id, a.title, s.item_b_id, b.title,
            concat_ws(' > ', a.category_l1, a.category_l2, a.category_l3),
            concat_ws(' > ', b.category_l1, b.category_l2, b.category_l3)
        from raw.selections as s
        inner join marts.dim_items as a on a.item_id = s.item_a_id
        inner join marts.dim_items as b on b.item_id = s.item_b_id
        where s.run_id = ? and s.round_index = ?
        order by s.uncertainty_score desc, s.pair_key
    """, [run_id, round_index]).fetchall()
    return [PairToAnnotate(r[0], r[1], r[2], r[3], r[4], r[5] or None, r[6] or None) for r in rows]
