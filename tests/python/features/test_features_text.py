"""Featurisers, pair features, and the item-vector store in a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from python_jobs import warehouse
from python_jobs.features.pairs import pair_feature_dim, pair_features
from python_jobs.features.text import CharTfidfSvd, Featuriser, balanced_fit_rows
from python_jobs.features.vectors import (
    ensure_item_vectors,
    load_item_vectors,
    store_item_vectors,
)

TITLES = [
    "ボールペン 黒 0.5mm 10本",
    "ボールペン 赤 0.7mm 10本",
    "ボールペン替芯 黒 0.5mm",
    "コピー用紙 A4 500枚",
    "コピー用紙 Ａ４ 2500枚",
    "ペーパータオル 200組",
    "けんだま 2個",
    "なわとび ブルー",
]


def test_char_tfidf_svd_is_seeded_unit_norm_and_versioned() -> None:
    featuriser = CharTfidfSvd(n_components=4, seed=3)
    assert isinstance(featuriser, Featuriser)
    vectors = featuriser.fit_transform(TITLES)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TITLES), 4)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, CharTfidfSvd(n_components=4, seed=3).fit_transform(TITLES))
    # similar titles are closer than unrelated ones (NFKC folds the full-width Ａ４)
    cos = vectors @ vectors.T
    assert cos[3, 4] > cos[3, 6]
    assert featuriser.feature_set != CharTfidfSvd(n_components=8, seed=3).feature_set


def test_a_large_catalogue_does_not_take_over_the_fit() -> None:
    small = [f"ボールペン {i}" for i in range(4)]
    large = [f"pencil {i % 30}" for i in range(300)]  # 30 distinct titles, repeated
    texts = small + large
    groups = ["fbl"] * 4 + ["shop"] * 300
    rows = balanced_fit_rows(texts, groups, floor=10, seed=0)
    # cap = max(smallest catalogue, floor) = 10: all 4 small rows, 10 distinct large titles
    assert list(rows[:4]) == [0, 1, 2, 3]
    assert len(rows) == 14 and len({texts[r] for r in rows[4:]}) == 10
    assert np.array_equal(rows, balanced_fit_rows(texts, groups, floor=10, seed=0))
    assert np.array_equal(balanced_fit_rows(texts, None, floor=10, seed=0), np.arange(len(texts)))
    assert np.array_equal(balanced_fit_rows(texts, ["fbl"] * len(texts), floor=10, seed=0), np.arange(len(texts)))

    featuriser = CharTfidfSvd(n_components=3, balance_floor=10)
    one_catalogue = featuriser.fit_transform(TITLES)
    # one catalogue: the version-1 vectors (fit_transform on everything)
    assert np.allclose(one_catalogue, featuriser.fit_transform(TITLES, ["fbl"] * len(TITLES)))
    vectors = featuriser.fit_transform(TITLES + large, ["fbl"] * len(TITLES) + ["shop"] * 300)
    assert vectors.shape == (len(TITLES) + 300, 3)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_pair_features_layout_and_symmetry() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 3)).astype(np.float32)
    B = rng.normal(size=(5, 3)).astype(np.float32)
    X = pair_features(A, B)
    assert X.shape == (5, pair_feature_dim(3)) == (5, 10)
    assert np.allclose(X[:, :3], np.abs(A - B))
    assert np.allclose(X[:, 3:6], A * B)
    cos = (A * B).sum(1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
    assert np.allclose(X[:, 6], cos, atol=1e-6)
    assert np.allclose(X[:, 7:], A + B)
    assert np.allclose(pair_features(B, A), X)
    # rows are independent: chunked computation equals the whole
    assert np.allclose(np.vstack([pair_features(A[:2], B[:2]), pair_features(A[2:], B[2:])]), X)


def test_item_vector_store_round_trip_and_idempotence(db_path: Path) -> None:
    con = warehouse.connect(db_path)
    ids = [f"shop:{i}" for i in range(5)]
    vectors = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    assert store_item_vectors(con, "fs:test", ids, vectors) == 5
    store_item_vectors(con, "fs:test", ids[:2], vectors[:2] * 2)  # replace two, keep the rest
    store_item_vectors(con, "fs:other", ids[:1], vectors[:1])
    loaded_vectors = load_item_vectors(con, "fs:test")
    loaded_ids, loaded = loaded_vectors.ids.tolist(), loaded_vectors.matrix
    assert loaded_ids == sorted(ids)
    expected = vectors.copy()
    expected[:2] *= 2
    assert np.array_equal(loaded, expected)
    assert con.execute("select count(*) from raw.item_vectors").fetchall()[0][0] == 6
    some_vectors = load_item_vectors(con, "fs:test", ["shop:3", "shop:0"])
    some_ids, some = some_vectors.ids.tolist(), some_vectors.matrix
    assert some_ids == ["shop:3", "shop:0"] and np.array_equal(some, expected[[3, 0]])
    with pytest.raises(KeyError):
        load_item_vectors(con, "fs:test", ["shop:404"])
    con.close()


def test_ensure_item_vectors_fits_once(db_path: Path) -> None:
    con = warehouse.connect(db_path)
    con.execute("create table items as select * from (values "
                + ", ".join(f"('shop:{i}', '{t}')" for i, t in enumerate(TITLES)) + ") as t(item_id, title)")
    sql = "select item_id, title from items order by item_id"
    featuriser = CharTfidfSvd(n_components=4)
    feature_set = ensure_item_vectors(con, featuriser, items_sql=sql)
    first = con.execute("select min(created_at) from raw.item_vectors").fetchall()[0][0]
    assert ensure_item_vectors(con, featuriser, items_sql=sql) == feature_set
    assert con.execute("select count(*), min(created_at) from raw.item_vectors").fetchall()[0] == (len(TITLES), first)
    con.close()
