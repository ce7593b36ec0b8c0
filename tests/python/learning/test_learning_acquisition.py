"""Uncertainty scores (hand-checked values) and the per-group selection."""

from __future__ import annotations

import numpy as np
import pytest

from python_jobs.learning.acquisition import (
    margin,
    qbc_variance,
    random_scores,
    select_top_per_group,
    uncertainty,
    vote_entropy,
)


def test_qbc_variance_hand_checked() -> None:
    # two members, one pair: class probabilities (0.8, 0.1, 0.1) and (0.4, 0.5, 0.1)
    member_probs = np.array([[[0.8, 0.1, 0.1]], [[0.4, 0.5, 0.1]]])
    # per-class population variances: 0.04, 0.04, 0 -> mean 0.08 / 3
    assert qbc_variance(member_probs) == pytest.approx([0.08 / 3])


def test_qbc_variance_is_zero_when_members_agree() -> None:
    same = np.tile(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]), (5, 1, 1))
    assert qbc_variance(same) == pytest.approx([0.0, 0.0])


def test_vote_entropy_hand_checked() -> None:
    # 4 members vote substitute, substitute, complement, other -> fractions 1/2, 1/4, 1/4
    member_probs = np.array([
        [[0.9, 0.05, 0.05]], [[0.6, 0.3, 0.1]], [[0.2, 0.7, 0.1]], [[0.1, 0.2, 0.7]],
    ])
    expected = -(0.5 * np.log(0.5) + 2 * 0.25 * np.log(0.25))
    assert vote_entropy(member_probs) == pytest.approx([expected])
    unanimous = np.tile(np.array([[[0.1, 0.8, 0.1]]]), (4, 1, 1))
    assert vote_entropy(unanimous) == pytest.approx([0.0])


def test_margin_hand_checked() -> None:
    mean_probs = np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [1.0, 0.0, 0.0]])
    assert margin(mean_probs) == pytest.approx([0.8, 0.99, 0.0])


def test_uncertainty_dispatch_and_random_is_seeded() -> None:
    member_probs = np.random.default_rng(1).dirichlet(np.ones(3), size=(10, 7))
    assert np.allclose(uncertainty("margin", member_probs), margin(member_probs.mean(axis=0)))
    assert np.allclose(uncertainty("qbc", member_probs), qbc_variance(member_probs))
    assert np.allclose(uncertainty("qbc", member_probs, qbc_measure="vote_entropy"), vote_entropy(member_probs))
    assert np.array_equal(uncertainty("random", member_probs, seed=3), random_scores(7, 3))
    assert not np.array_equal(random_scores(7, 3), random_scores(7, 4))
    with pytest.raises(ValueError):
        uncertainty("nope", member_probs)


def test_select_top_per_group_takes_the_best_of_each_group_then_the_budget() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.7, 0.2])
    groups = np.array(["a", "a", "b", "b", "c", "c"], dtype=object)
    assert select_top_per_group(scores, groups, budget=None).tolist() == [1, 3, 4]
    assert select_top_per_group(scores, groups, budget=2).tolist() == [1, 3]
    assert select_top_per_group(scores, None, budget=3).tolist() == [1, 3, 4]


def test_select_top_per_group_breaks_ties_by_key() -> None:
    scores = np.array([0.5, 0.5, 0.5])
    keys = ["k:c", "k:a", "k:b"]
    assert select_top_per_group(scores, None, budget=3, tie_keys=keys).tolist() == [1, 2, 0]
    assert select_top_per_group(scores, ["g", "g", "h"], budget=None, tie_keys=keys).tolist() == [1, 2]
