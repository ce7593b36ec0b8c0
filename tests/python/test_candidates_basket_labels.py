"""Co-purchase lift and behaviour-based labels on a tiny hand-made basket set."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from python_jobs.basket_labels import LiftRule, agreement, pair_lifts, reference_labels
from python_jobs.raw_schema import create_raw_tables

# 10 baskets over items a..e (catalogue 'shop'); one basket of another catalogue must be ignored.
BASKETS = {
    "b1": "a b", "b2": "a b", "b3": "a b c", "b4": "a c", "b5": "c d",
    "b6": "d", "b7": "d e", "b8": "e", "b9": "c", "b10": "b",
}
PAIRS = [("a", "b"), ("a", "c"), ("d", "e"), ("a", "d"), ("b", "e"), ("a", "z")]


@pytest.fixture()
def con(tmp_path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "baskets.duckdb"))
    create_raw_tables(connection)
    rows = [("shop", basket, item) for basket, items in BASKETS.items() for item in items.split()]
    rows += [("other", "b1", "e"), ("other", "x1", "a")]
    connection.executemany(
        "insert into raw.basket_lines (catalog, basket_id, item_id, n_lines, batch_id, ingested_at) "
        "values (?, ?, ?, 1, 'test', ?)",
        [row + (datetime(2026, 1, 1),) for row in rows],
    )
    pairs = pd.DataFrame(PAIRS, columns=["item_a_id", "item_b_id"])
    pairs["pair_key"] = [min(a, b) + "~" + max(a, b) for a, b in PAIRS]
    connection.register("pairs", pairs)
    connection.execute("create table candidate_pairs as select * from pairs")
    yield connection
    connection.close()


def test_lift_by_hand(con) -> None:
    frame = pair_lifts(con, "select * from candidate_pairs", catalog="shop", rule=LiftRule(1.5, 2)).set_index("pair_key")
    # n = 10 baskets; a in 4, b in 4, c in 4, d in 3, e in 2.
    assert frame.loc["a~b", ["n_ab", "n_a", "n_b", "n_baskets"]].tolist() == [3, 4, 4, 10]
    assert frame.loc["a~b", "lift"] == pytest.approx(3 * 10 / (4 * 4))      # 1.875
    assert frame.loc["a~c", "lift"] == pytest.approx(2 * 10 / (4 * 4))      # 1.25
    assert frame.loc["d~e", "lift"] == pytest.approx(1 * 10 / (3 * 2))      # 1.67, but 1 shared basket
    assert frame.loc["a~d", "lift"] == 0 and frame.loc["a~d", "n_ab"] == 0
    assert frame.loc["b~e", "n_ab"] == 0  # the 'other' catalogue's basket b1 does not count
    assert pd.isna(frame.loc["a~z", "lift"])  # z was never bought
    # complement = lift >= 1.5 on >= 2 shared baskets
    assert frame.relation_label.to_dict() == {
        "a~b": "complement", "a~c": "other", "a~d": "other", "a~z": "other", "b~e": "other", "d~e": "other",
    }


def test_thresholds_move_labels(con) -> None:
    loose = reference_labels(con, "select * from candidate_pairs", catalog="shop", rule=LiftRule(1.2, 1))
    assert {k for k, v in loose.items() if v == "complement"} == {"a~b", "a~c", "d~e"}
    strict = reference_labels(con, "select * from candidate_pairs", catalog="shop", rule=LiftRule(2.0, 1))
    assert set(strict.values()) == {"other"}


def test_agreement_counts_per_label() -> None:
    labels = pd.Series(["complement", "complement", "other", "other"])
    predicted = pd.Series(["complement", "substitute", "other", "complement"])
    result = agreement(labels, predicted)
    assert result["agreement"] == 0.5
    assert result["agreement_complement"] == 0.5 and result["agreement_other"] == 0.5
    assert result["predicted_complement_share"] == 0.5


def test_classifier_agreement_joins_streamed_predictions(con) -> None:
    import numpy as np

    from python_jobs.basket_labels import classifier_agreement
    from python_jobs.model import BaggedEnsemble
    from python_jobs.pair_features import pair_features
    from python_jobs.scoring import ItemVectors

    rng = np.random.default_rng(0)
    ids = np.array(sorted("abcdez"), dtype=object)
    matrix = rng.standard_normal((len(ids), 4)).astype(np.float32)
    a, b = rng.integers(0, len(ids), 200), rng.integers(0, len(ids), 200)
    X = pair_features(matrix[a], matrix[b])
    ensemble = BaggedEnsemble(n_members=3).fit(X, np.arange(200) % 3)
    W, bias = ensemble.stacked_weights()
    con.execute("alter table candidate_pairs add column fine_category varchar default 'f'")
    figures, confusion = classifier_agreement(
        con, "select * from candidate_pairs", W, bias, 3, ItemVectors(ids, matrix), catalog="shop", rule=LiftRule(1.5, 2)
    )
    index = {item: i for i, item in enumerate(ids)}
    pairs = con.execute("select pair_key, item_a_id, item_b_id from candidate_pairs order by pair_key").fetchall()
    mean = ensemble.predict_proba(
        pair_features(matrix[[index[p[1]] for p in pairs]], matrix[[index[p[2]] for p in pairs]])
    )
    predicted = np.array(["substitute", "complement", "other"])[mean.argmax(axis=1)]
    labels = np.array(["complement" if p[0] == "a~b" else "other" for p in pairs])
    assert figures["n_pairs"] == len(PAIRS)
    assert figures["agreement"] == pytest.approx(float((predicted == labels).mean()))
    assert int(confusion.to_numpy().sum()) == len(PAIRS)
