"""Stopping rules that need no held-out labels (issue 12), pure functions over a run's per-round
signals, plus the label-using OOD plateau as the reference they are judged against.

A run's signals by round t = 0..T:
- `pool_predictions[t]`: the ensemble's class for a fixed hash sample of the candidate pool
  (raw.pool_predictions, recorded when round t selects);
- `pool_uncertainty[t]`: the sample's mean margin uncertainty 1 - (p1 - p2) (run artifact);
- `ood_f1[t]`: OOD macro-F1 (needs labels: only the reference rule reads it).

Each rule returns the round at which the loop would stop (its model is the one kept), or None
when it never fires within the run.

- stabilizing_predictions (Bloodgood & Vijay-Shanker 2009, small-text's KappaAverage): Cohen's
  kappa between consecutive rounds' pool predictions, averaged over the last `window` rounds;
  stop when the average reaches `threshold` (0.99 in the paper).
- overall_uncertainty (after Zhu et al. 2008): stop when the pool's mean uncertainty fell by less
  than `min_relative_drop` over the last `window` rounds (the absolute threshold of the original
  depends on the pool; the relative plateau does not).
- pool_change: karl's existing rule, share of changed predictions below `max_changed_share`.
- ood_plateau (labels): OOD macro-F1 gained < `min_gain` over the last `patience` rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LABEL_FREE_RULES = ("stabilizing_predictions", "overall_uncertainty", "pool_change")
STOP_RULES = LABEL_FREE_RULES + ("ood_plateau",)


def cohen_kappa(a: Sequence, b: Sequence) -> float:
    """Cohen's kappa of two aligned label arrays; 1.0 when both are one identical constant."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    if len(a) != len(b):
        raise ValueError("kappa needs aligned arrays")
    if len(a) == 0:
        return float("nan")
    observed = float((a == b).mean())
    labels = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    expected = sum(float((a == c).mean()) * float((b == c).mean()) for c in labels)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class RunSignals:
    pool_predictions: Sequence[np.ndarray | None]   # per round; None when not recorded
    pool_uncertainty: Sequence[float | None]
    ood_f1: Sequence[float | None]

    @property
    def n_rounds(self) -> int:
        return len(self.ood_f1)

    def kappas(self) -> list[float | None]:
        """kappa[t] between rounds t-1 and t (None for t = 0 or a missing round)."""
        out: list[float | None] = [None]
        for t in range(1, len(self.pool_predictions)):
            prev, cur = self.pool_predictions[t - 1], self.pool_predictions[t]
            out.append(None if prev is None or cur is None else cohen_kappa(prev, cur))
        return out

    def changed_shares(self) -> list[float | None]:
        out: list[float | None] = [None]
        for t in range(1, len(self.pool_predictions)):
            prev, cur = self.pool_predictions[t - 1], self.pool_predictions[t]
            out.append(None if prev is None or cur is None else float((np.asarray(prev) != np.asarray(cur)).mean()))
        return out


def stabilizing_predictions(signals: RunSignals, window: int = 3, threshold: float = 0.99) -> int | None:
    kappas = signals.kappas()
    for t in range(window, len(kappas)):
        recent = kappas[t - window + 1: t + 1]
        if all(k is not None for k in recent) and float(np.mean(recent)) >= threshold:
            return t
    return None


def overall_uncertainty(signals: RunSignals, window: int = 3, min_relative_drop: float = 0.01) -> int | None:
    u = signals.pool_uncertainty
    for t in range(window, len(u)):
        before, now = u[t - window], u[t]
        if before is None or now is None or before <= 0:
            continue
        if (before - now) / before < min_relative_drop:
            return t
    return None


def pool_change(signals: RunSignals, max_changed_share: float = 0.02) -> int | None:
    for t, share in enumerate(signals.changed_shares()):
        if share is not None and share < max_changed_share:
            return t
    return None


def ood_plateau(signals: RunSignals, patience: int = 2, min_gain: float = 0.005) -> int | None:
    f1 = signals.ood_f1
    for t in range(patience + 1, len(f1)):
        before = [v for v in f1[: t - patience + 1] if v is not None]
        window = [v for v in f1[t - patience + 1: t + 1] if v is not None]
        if before and window and max(window) - max(before) < min_gain:
            return t
    return None


RULES: dict[str, Callable[[RunSignals], int | None]] = {
    "stabilizing_predictions": stabilizing_predictions,
    "overall_uncertainty": overall_uncertainty,
    "pool_change": pool_change,
    "ood_plateau": ood_plateau,
}


def stop_round(rule: str, signals: RunSignals) -> int | None:
    if rule not in RULES:
        raise ValueError(f"unknown stop rule {rule!r}; choose one of {STOP_RULES}")
    return RULES[rule](signals)
