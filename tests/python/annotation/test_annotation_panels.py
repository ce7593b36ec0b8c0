"""Heterogeneous panels and aggregation rules (issue 12)."""

import numpy as np
import pytest

from python_jobs.annotation import panels


def test_profiles_have_their_stated_error_rates_and_votes_are_seeded():
    keys = [f"p{i}" for i in range(4000)]
    truths = ["substitute"] * 4000
    votes = panels.panel_votes(truths, keys, ("near_human", "overcalls_other", "overcalls_substitute"))
    assert (votes[:, 0] == "substitute").mean() == pytest.approx(0.85, abs=0.02)
    assert (votes[:, 1] == "other").mean() == pytest.approx(0.35, abs=0.02)
    assert (votes[:, 2] == "substitute").mean() == pytest.approx(0.95, abs=0.01)
    again = panels.panel_votes(truths, keys, ("near_human", "overcalls_other", "overcalls_substitute"))
    assert (again == votes).all()


def test_unanimity_and_majority():
    votes = np.array([["other", "other", "other"], ["other", "other", "substitute"],
                      ["other", "complement", "substitute"], ["other", None, "other"]], dtype=object)
    assert list(panels.unanimity(votes)) == ["other", None, None, None]
    assert list(panels.majority(votes)) == ["other", "other", None, "other"]


def test_dawid_skene_learns_that_a_voter_overcalls_other_and_outvotes_it():
    rng = np.random.default_rng(0)
    n = 3000
    truths = rng.choice(panels.CLASSES, size=n, p=[0.3, 0.3, 0.4])
    keys = [f"k{i}" for i in range(n)]
    votes = panels.panel_votes(truths, keys)
    _, confusion = panels.dawid_skene_posteriors(votes)
    other = panels.CLASSES.index("other")
    sub = panels.CLASSES.index("substitute")
    assert confusion[1, sub, other] == pytest.approx(0.35, abs=0.05)  # voter 1 over-calls other
    accepted = panels.dawid_skene(votes)
    y_ds, p_ds = panels.yield_and_precision(accepted, truths)
    y_un, p_un = panels.yield_and_precision(panels.unanimity(votes), truths)
    assert y_ds > y_un and p_ds > 0.85


def test_unknown_aggregation_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown aggregation"):
        panels.aggregate("plurality", np.zeros((0, 3), dtype=object))
