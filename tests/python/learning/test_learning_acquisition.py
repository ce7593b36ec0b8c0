"""Uncertainty scores: hand-checked values, the strategy dispatch and the seeded random scores."""

from __future__ import annotations

import numpy as np
import pytest

from python_jobs.learning.acquisition import (
    hashed_unit_scores,
    margin,
    qbc_variance,
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
    keys = np.array([f"k:{i}" for i in range(7)], dtype=object)
    assert np.allclose(uncertainty("margin", member_probs, keys), margin(member_probs.mean(axis=0)))
    assert np.allclose(uncertainty("qbc", member_probs, keys), member_probs.var(axis=0).mean(axis=-1))
    assert np.allclose(uncertainty("qbc", member_probs, keys, qbc_measure="vote_entropy"), vote_entropy(member_probs))
    assert np.array_equal(uncertainty("random", member_probs, keys, seed=3), hashed_unit_scores(keys, 3))
    assert not np.array_equal(hashed_unit_scores(keys, 3), hashed_unit_scores(keys, 4))
    assert ((hashed_unit_scores(keys, 3) >= 0) & (hashed_unit_scores(keys, 3) < 1)).all()
    with pytest.raises(ValueError):
        uncertainty("nope", member_probs, keys)
