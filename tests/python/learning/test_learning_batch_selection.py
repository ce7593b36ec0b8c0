"""Issue 12 strategies: entropy and breaking ties (learning/acquisition.py), k-center and
context-aware batches (learning/batch_selection.py)."""

import numpy as np
import pytest

from python_jobs.learning import acquisition
from python_jobs.learning import batch_selection as strategies


def _probs(seed: int = 0, members: int = 5, n: int = 40, classes: int = 3) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(members, n, classes))
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def test_entropy_is_highest_for_a_uniform_mean_and_zero_for_a_certain_one():
    uniform = np.full((2, 1, 3), 1 / 3)
    certain = np.array([[[1.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]]])
    assert acquisition.predictive_entropy(uniform)[0] == pytest.approx(np.log(3))
    assert acquisition.predictive_entropy(certain)[0] == pytest.approx(0.0)


def test_breaking_ties_equals_margin_with_one_member_and_differs_when_members_disagree():
    probs = _probs(members=1)
    np.testing.assert_allclose(acquisition.breaking_ties(probs), acquisition.margin(probs[0]))
    # members individually sure, but disagreeing: margin of the mean says ambiguous, breaking ties does not
    disagree = np.array([[[0.98, 0.01, 0.01]], [[0.01, 0.98, 0.01]]])
    assert acquisition.margin(disagree.mean(axis=0))[0] > 0.99
    assert acquisition.breaking_ties(disagree)[0] < 0.05


def test_kcenter_picks_far_candidates_one_per_category_and_is_deterministic():
    emb = np.array([[0.0, 0.0], [0.1, 0.0], [5.1, 5.0], [5.0, 5.0], [-5.0, 5.0]])
    unc = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    keys = ["a", "b", "c", "d", "e"]
    cats = ["x", "y", "z", "z", "w"]
    labelled = np.array([[0.0, 0.0]])
    picks = strategies.kcenter_batch(emb, unc, keys, cats, labelled, budget=3, shortlist_factor=5)
    assert list(picks) == [2, 4, 1]  # far from the labelled origin first; "d" shares category z
    again = strategies.kcenter_batch(emb, unc, keys, cats, labelled, budget=3, shortlist_factor=5)
    assert list(again) == list(picks)


def test_kcenter_only_considers_the_most_uncertain_shortlist():
    emb = np.array([[0.0, 0.0], [9.0, 9.0]])
    picks = strategies.kcenter_batch(emb, np.array([0.9, 0.1]), ["a", "b"], ["x", "y"],
                                     np.zeros((1, 2)), budget=1, shortlist_factor=1)
    assert list(picks) == [0]


def test_novelty_weight_moves_from_uncertainty_to_novelty_as_the_pool_settles():
    rule = strategies.NoveltyRule()
    assert strategies.novelty_weight(None, rule) == rule.w_start
    assert strategies.novelty_weight(0.0, rule) == pytest.approx(rule.w_max)
    assert strategies.novelty_weight(1.0, rule) == pytest.approx(rule.w_min)
    assert strategies.novelty_weight(0.01, rule) > strategies.novelty_weight(0.03, rule)


def test_context_batch_weight_zero_is_uncertainty_and_weight_one_is_novelty():
    emb = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    unc = np.array([0.9, 0.5, 0.1])
    keys, cats, labelled = ["a", "b", "c"], ["x", "y", "z"], np.zeros((1, 2))
    by_uncertainty, _ = strategies.context_batch(emb, unc, keys, cats, labelled, 1, weight=0.0, shortlist_factor=3)
    by_novelty, _ = strategies.context_batch(emb, unc, keys, cats, labelled, 1, weight=1.0, shortlist_factor=3)
    assert list(by_uncertainty) == [0] and list(by_novelty) == [2]


def test_percentile_ranks_share_ties_and_span_zero_to_one():
    np.testing.assert_allclose(strategies.percentile_ranks(np.array([3.0, 1.0, 1.0, 2.0])), [1.0, 1 / 6, 1 / 6, 2 / 3])


def test_pair_embedding_is_symmetric_and_unit_length():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    np.testing.assert_allclose(strategies.pair_embedding(a, b), strategies.pair_embedding(b, a))
    np.testing.assert_allclose(np.linalg.norm(strategies.pair_embedding(a, b), axis=1), 1.0)


def test_the_batch_strategies_shortlist_by_margin_and_entropy_and_breaking_ties_are_selectable():
    probs = _probs()
    keys = np.asarray([f"k{i}" for i in range(probs.shape[1])], dtype=object)
    margin = acquisition.strategy_uncertainty("margin")(probs, keys)
    for name in ("kcenter", "context"):
        np.testing.assert_allclose(acquisition.strategy_uncertainty(name)(probs, keys), margin)
    np.testing.assert_allclose(acquisition.strategy_uncertainty("entropy")(probs, keys), acquisition.predictive_entropy(probs))
    np.testing.assert_allclose(acquisition.strategy_uncertainty("breaking_ties")(probs, keys), acquisition.breaking_ties(probs))


def test_wide_or_sparse_item_vectors_are_projected_to_a_fixed_width_the_same_way_every_call():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(3)
    wide = scipy_sparse.random(6, 5000, density=0.01, random_state=4, format="csr")
    first = strategies.project_items(wide)
    assert first.shape == (6, strategies.MAX_EMBEDDING_DIM)
    np.testing.assert_allclose(strategies.project_items(wide), first)
    narrow = rng.normal(size=(3, 8))
    np.testing.assert_allclose(strategies.project_items(narrow), narrow)
