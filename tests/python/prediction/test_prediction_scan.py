"""`karl predict`'s parts on a small synthetic warehouse (no dbt): a recorded model version
scores the candidate pool to the ensemble's own probabilities, per catalogue, once per model
version; the model store round-trips the weights; refusals are one sentence each."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pytest

from python_jobs.features.pairs import pair_features
from python_jobs.features.vectors import store_item_vectors
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.learning.scoring import DENSE_LAYOUT
from python_jobs.prediction.model_store import load_model_version, record_model_version
from python_jobs.prediction.predict import predict
from python_jobs.prediction.resolve import PredictionRefused
from python_jobs.warehouse.raw_schema import create_raw_tables

STAMP = datetime(2026, 1, 1)
CLASSES = ["substitute", "complement", "other"]


@pytest.fixture()
def synthetic(tmp_path):  # noqa: ANN001, ANN201
    rng = np.random.default_rng(0)
    con = duckdb.connect(str(tmp_path / "p.duckdb"))
    create_raw_tables(con)
    ids = [f"shop:{i:03d}" for i in range(30)] + [f"other:{i:03d}" for i in range(10)]
    matrix = rng.standard_normal((len(ids), 8)).astype(np.float32)
    store_item_vectors(con, "dense", ids, matrix)
    a, b = rng.integers(0, len(ids), 300), rng.integers(0, len(ids), 300)
    x = pair_features(matrix[a], matrix[b])
    ensemble = BaggedEnsemble(n_members=4, seed=0).fit(x, rng.integers(0, 3, 300))
    con.execute("create schema marts")
    con.execute("create table marts.fct_training_labels as select 'human:FBL2023:x' as training_label_id, "
                "'human' as label_source, null::varchar as run_id, null::integer as round_index")
    con.execute("create table marts.dim_items as select unnest(?) as item_id, "
                "case when unnest(?) like 'shop:%' then 'shop' else 'other' end as catalog", [ids, ids])
    con.execute("insert into raw.runs values ('r', 'margin', 'replay', 0, 1, 10, '{}', ?)", [STAMP])
    weights, bias = ensemble.stacked_weights()
    version = record_model_version(con, "r", 1, weights, bias, 4, CLASSES, "svd", {"svd": "dense"},
                                   DENSE_LAYOUT, STAMP)
    pairs = [(ids[i], ids[j]) for i in range(0, 40, 3) for j in range(1, 40, 7) if i < j]
    pairs.append(("shop:000", "shop:999"))  # an item without a vector: not scorable
    con.execute("create table marts.fct_candidate_pairs as select a || '~' || b as pair_key, a as item_a_id, "
                "b as item_b_id, 'fine' as fine_category from (select unnest(?) as a, unnest(?) as b)",
                [[p[0] for p in pairs], [p[1] for p in pairs]])
    yield con, ensemble, matrix, ids, version, len(pairs)
    con.close()


def test_no_completed_run_is_refused(synthetic) -> None:  # noqa: ANN001
    con = synthetic[0]
    with pytest.raises(PredictionRefused, match="No completed run"):
        predict(con)
    with pytest.raises(PredictionRefused, match="has not completed a round"):
        predict(con, run_id="r")
    with pytest.raises(PredictionRefused, match="No run 'nope'"):
        predict(con, run_id="nope")


def test_model_store_round_trips_the_weights(synthetic) -> None:  # noqa: ANN001
    con, ensemble, _, _, version, _ = synthetic
    model = load_model_version(con, version)
    weights, bias = ensemble.stacked_weights()
    assert version.startswith("r:r01:")
    np.testing.assert_array_equal(model.weights, weights.astype(np.float32))
    np.testing.assert_array_equal(model.bias, bias.astype(np.float32))
    again = record_model_version(con, "r", 1, weights, bias, 4, CLASSES, "svd", {"svd": "dense"}, DENSE_LAYOUT, STAMP)
    assert again == version
    assert con.execute("select count(*) from raw.model_versions").fetchone()[0] == 1
    assert con.execute("select training_label_id from raw.model_training_labels").fetchall() == [("human:FBL2023:x",)]


def test_predictions_are_the_ensembles_once_per_model_version(synthetic) -> None:  # noqa: ANN001
    con, ensemble, matrix, ids, version, n_pairs = synthetic
    con.execute("insert into raw.run_steps values ('r', 1, 'evaluate', 1.0, ?)", [STAMP])
    with pytest.raises(PredictionRefused, match="No catalogue 'nope'.*catalogues: other, shop"):
        predict(con, catalog="nope")
    shop = predict(con, catalog="shop")
    n_shop = con.execute("select count(*) from marts.fct_candidate_pairs "
                         "where item_a_id like 'shop:%' and item_b_id like 'shop:%'").fetchone()[0]
    assert (shop.model_version, shop.n_candidates, shop.n_written, shop.n_unscorable) == (version, n_shop, n_shop - 1, 1)
    whole = predict(con)
    assert (whole.n_candidates, whole.n_written, whole.n_unscorable) == (n_pairs, n_pairs - n_shop, 1)
    assert predict(con).n_written == 0
    rows = con.execute("select c.item_a_id, c.item_b_id, p.p_substitute, p.p_complement, p.p_other, "
                       "p.predicted_class, p.uncertainty from raw.pair_predictions as p "
                       "inner join marts.fct_candidate_pairs as c on p.pair_key = c.pair_key "
                       "order by p.pair_key").fetchall()
    assert len(rows) == n_pairs - 1
    index = {item: i for i, item in enumerate(ids)}
    a = matrix[[index[r[0]] for r in rows]]
    b = matrix[[index[r[1]] for r in rows]]
    expected = ensemble.predict_proba(pair_features(a, b))
    got = np.asarray([r[2:5] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert [r[5] for r in rows] == [CLASSES[i] for i in expected.argmax(axis=1)]
    top2 = np.sort(expected, axis=1)[:, -2:]
    np.testing.assert_allclose([r[6] for r in rows], 1 - (top2[:, 1] - top2[:, 0]), atol=1e-4)
