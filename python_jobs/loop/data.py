"""What the loop reads from the warehouse: labelled pairs, evaluation pairs, candidates and item
vectors, as arrays ready for the model. Reads dbt marts only; never writes."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from python_jobs.features.pairs import pair_features


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


class ItemVectors:
    """Item vectors of one feature set, addressable by item id."""

    def __init__(self, item_ids: list[str], matrix: np.ndarray):
        self.ids = np.asarray(item_ids, dtype=object)
        self.index = {item_id: row for row, item_id in enumerate(item_ids)}
        self.matrix = matrix

    def rows(self, item_ids: np.ndarray) -> np.ndarray:
        try:
            return np.fromiter((self.index[item_id] for item_id in item_ids), dtype=np.int64, count=len(item_ids))
        except KeyError as error:
            raise KeyError(f"item {error.args[0]} has no vector in this feature set: run the features step") from None

    def pair_matrix(self, item_a_ids: np.ndarray, item_b_ids: np.ndarray) -> np.ndarray:
        return pair_features(self.matrix[self.rows(item_a_ids)], self.matrix[self.rows(item_b_ids)])


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def id_human_labels(con: duckdb.DuckDBPyConnection) -> LabelledPairs:
    """The in-distribution human labels (FBL2023 pairs with a majority): ID CV folds come from these."""
    return LabelledPairs.from_frame(_frame(con, """
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_training_labels
        where label_source = 'human'
        order by pair_key
    """))


def added_labels(con: duckdb.DuckDBPyConnection, run_id: str, round_index: int) -> LabelledPairs:
    """Labels added to training beyond the human ID set: this run's accepted LLM labels from
    rounds before `round_index`, and human review decisions."""
    return LabelledPairs.from_frame(_frame(con, """
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_training_labels
        where (label_source = 'llm' and run_id = ? and round_index < ?)
            or label_source = 'review'
        order by pair_key
    """, [run_id, round_index]))


def ood_test_labels(con: duckdb.DuckDBPyConnection) -> LabelledPairs:
    """The held-out OOD test half (FBL2024 'test'), pairs with a majority label."""
    return LabelledPairs.from_frame(_frame(con, """
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_eval_sets
        where eval_set = 'test' and relation_label is not null
        order by pair_key
    """))


def reference_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Known labels for the pool (FBL2024 majority labels): the simulated annotator's truth and
    the reference of replay runs."""
    rows = con.execute("""
        select pair_key, relation_label from marts.fct_human_labels
        where relation_label is not null
    """).fetchall()
    return {pair_key: label for pair_key, label in rows}


def load_item_vectors(con: duckdb.DuckDBPyConnection, feature_set: str) -> ItemVectors:
    frame = _frame(con, "select item_id, vector from raw.item_vectors where feature_set = ? order by item_id",
                   [feature_set])
    if frame.empty:
        return ItemVectors([], np.zeros((0, 0), dtype=np.float32))
    matrix = np.vstack(frame["vector"].to_numpy()).astype(np.float32)
    return ItemVectors(frame["item_id"].tolist(), matrix)
