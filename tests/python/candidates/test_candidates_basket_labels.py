"""Co-purchase lift and behaviour-based labels on a tiny hand-made basket set."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pytest

from python_jobs.candidates.basket_labels import (
    LiftRule,
    agreement,
    pair_lifts,
    reference_labels,
)
from python_jobs.warehouse.raw_schema import create_raw_tables

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

    from python_jobs.candidates.basket_labels import classifier_agreement
    from python_jobs.features.pairs import pair_features
    from python_jobs.learning.ensemble import BaggedEnsemble
    from python_jobs.learning.scoring import ItemVectors

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


# Products as items (catalogue 'completejourney': basket key = the product type, path level 3).
# p1, p2 are BAGELS, p3 CREAM CHEESE (same department and category), p4 SOAP; p5 has no catalogue row.
PRODUCTS = {
    "p1": ("GROCERY", "BREAD", "BAGELS"), "p2": ("GROCERY", "BREAD", "BAGELS"),
    "p3": ("GROCERY", "BREAD", "CREAM CHEESE"), "p4": ("DRUG GM", "SOAP", "SOAP"),
}
PRODUCT_BASKETS = {"b1": "p1 p3", "b2": "p2 p3", "b3": "p1 p2 p3", "b4": "p4", "b5": "p3 p4", "b6": "p1", "b7": "p5"}
PRODUCT_PAIRS = [("p1", "p3"), ("p2", "p3"), ("p1", "p2"), ("p3", "p4"), ("p1", "p4"), ("p4", "p5")]


def _type_of(product: str) -> str:
    return " > ".join(PRODUCTS[product]) if product in PRODUCTS else product


@pytest.fixture()
def product_con(tmp_path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "products.duckdb"))
    create_raw_tables(connection)
    now = datetime(2026, 1, 1)
    connection.executemany(
        "insert into raw.catalog_items values ('completejourney', ?, ?, ?, ?, ?, 'test', ?)",
        [(item, f"{path[2]} ({path[1]})", *path, now) for item, path in PRODUCTS.items()],
    )
    lines = [(basket, item) for basket, items in PRODUCT_BASKETS.items() for item in items.split()]
    # The same baskets with product types as items, in a catalogue without a key level: the
    # type-level lift computed the old way, to compare with.
    rows = [("completejourney", basket, item) for basket, item in lines]
    rows += sorted({("types", basket, _type_of(item)) for basket, item in lines})
    connection.executemany(
        "insert into raw.basket_lines (catalog, basket_id, item_id, n_lines, batch_id, ingested_at) "
        "values (?, ?, ?, 1, 'test', ?)",
        [row + (now,) for row in rows],
    )
    frame = pd.DataFrame(PRODUCT_PAIRS, columns=["item_a_id", "item_b_id"])
    frame["pair_key"] = [a + "~" + b for a, b in PRODUCT_PAIRS]
    connection.register("product_pairs_frame", frame)
    connection.execute("create table product_pairs as select * from product_pairs_frame")
    types = pd.DataFrame({"item_a_id": [_type_of(a) for a, _ in PRODUCT_PAIRS],
                          "item_b_id": [_type_of(b) for _, b in PRODUCT_PAIRS]})
    types["pair_key"] = [a + "~" + b for a, b in PRODUCT_PAIRS]
    connection.register("type_pairs_frame", types)
    connection.execute("create table type_pairs as select * from type_pairs_frame")
    yield connection
    connection.close()


def test_lift_of_a_product_pair_is_the_lift_of_its_product_types(product_con) -> None:
    rule = LiftRule(1.1, 3)
    frame = pair_lifts(product_con, "select * from product_pairs", catalog="completejourney", rule=rule).set_index("pair_key")
    assert frame.loc["p1~p3", ["key_a", "key_b"]].tolist() == ["GROCERY > BREAD > BAGELS", "GROCERY > BREAD > CREAM CHEESE"]
    # 7 baskets; BAGELS in b1 b2 b3 b6 (b3 holds two bagel products: counted once), CREAM CHEESE in
    # b1 b2 b3 b5, SOAP in b4 b5, p5 (no catalogue row, its own key) in b7.
    assert frame.loc["p1~p3", ["n_ab", "n_a", "n_b", "n_baskets"]].tolist() == [3, 4, 4, 7]
    assert frame.loc["p1~p3", "lift"] == pytest.approx(3 * 7 / (4 * 4))
    # p2 itself is in 2 baskets, both with p3 (product lift 2 * 7 / (2 * 4) = 1.75); as a
    # BAGELS product its pair with p3 has the types' lift.
    assert frame.loc["p2~p3", ["n_ab", "n_a", "n_b", "lift"]].tolist() == frame.loc["p1~p3", ["n_ab", "n_a", "n_b", "lift"]].tolist()
    assert frame.loc["p3~p4", "lift"] == pytest.approx(1 * 7 / (4 * 2))
    assert frame.loc["p1~p4", "n_ab"] == 0 and frame.loc["p1~p4", "lift"] == 0
    assert frame.loc["p4~p5", "key_b"] == "p5" and frame.loc["p4~p5", "n_b"] == 1
    # Two products of one type: no lift, the rule's same-type label.
    assert frame.loc["p1~p2", ["n_ab", "n_a", "n_b"]].tolist() == [4, 4, 4] and pd.isna(frame.loc["p1~p2", "lift"])
    assert frame.relation_label.to_dict() == {
        "p1~p2": "substitute", "p1~p3": "complement", "p2~p3": "complement",
        "p1~p4": "other", "p3~p4": "other", "p4~p5": "other",
    }
    # Same figures as lifts between the product types computed on type-level baskets (the old way).
    types = pair_lifts(product_con, "select * from type_pairs", catalog="types", rule=rule).set_index("pair_key")
    different = [key for key in frame.index if key != "p1~p2"]
    columns = ["n_ab", "n_a", "n_b", "n_baskets", "lift", "relation_label"]
    pd.testing.assert_frame_equal(frame.loc[different, columns], types.loc[different, columns])


def test_same_type_label_is_a_rule_setting(product_con) -> None:
    labels = reference_labels(product_con, "select * from product_pairs", catalog="completejourney",
                              rule=LiftRule(1.1, 3, same_key_label="other"))
    assert labels["p1~p2"] == "other" and labels["p1~p3"] == "complement"
    with pytest.raises(ValueError, match="same_key_label"):
        LiftRule(same_key_label="identical")
