"""Label-free stopping rules (issue 12)."""

import numpy as np
import pytest

from python_jobs.loop.stopping import rules as sr


def test_cohen_kappa_is_one_for_identical_and_zero_for_chance_agreement():
    a = np.array(["s", "c", "o", "o"])
    assert sr.cohen_kappa(a, a) == pytest.approx(1.0)
    assert sr.cohen_kappa(["s", "s", "c", "c"], ["s", "c", "s", "c"]) == pytest.approx(0.0)


def _signals(changes: list[int], n: int = 100, uncertainty=None, ood=None) -> sr.RunSignals:
    preds = [np.array(["other"] * n, dtype=object)]
    for k in changes:
        nxt = preds[-1].copy()
        flip = np.arange(k)
        nxt[flip] = np.where(nxt[flip] == "other", "substitute", "other")
        preds.append(nxt)
    rounds = len(preds)
    return sr.RunSignals(preds, uncertainty or [None] * rounds, ood or [0.4] * rounds)


def test_stabilizing_predictions_stops_once_the_window_average_kappa_reaches_the_threshold():
    signals = _signals([30, 20, 0, 0, 0, 0])
    assert sr.stabilizing_predictions(signals, window=3, threshold=0.99) == 5


def test_stabilizing_predictions_never_fires_while_predictions_keep_changing():
    assert sr.stabilizing_predictions(_signals([10] * 6)) is None


def test_overall_uncertainty_stops_when_the_pool_uncertainty_plateaus():
    unc = [0.50, 0.45, 0.40, 0.36, 0.358, 0.357, 0.357]
    signals = sr.RunSignals([None] * 7, unc, [0.4] * 7)
    assert sr.overall_uncertainty(signals, window=2, min_relative_drop=0.01) == 5


def test_pool_change_and_ood_plateau_use_their_own_signals():
    assert sr.pool_change(_signals([10, 5, 1]), max_changed_share=0.02) == 3
    ood = sr.RunSignals([None] * 6, [None] * 6, [0.40, 0.42, 0.44, 0.441, 0.442, 0.5])
    assert sr.ood_plateau(ood, patience=2, min_gain=0.005) == 4


def test_unknown_rule_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown stop rule"):
        sr.stop_round("nope", _signals([1]))
