"""The rules that turn a panel's votes into an accepted label, offline (`karl panels`).

- `unanimity` (karl's default): accept when all K votes are valid and equal.
- `majority`: accept the label with more than K/2 of the votes.
- `dawid_skene`: per-voter confusion matrices and class priors fitted by EM on all the votes
  (Dawid & Skene 1979; initialised from the majority vote), accept the posterior's argmax when
  its probability is at least `min_posterior` (0.9). Offline only: a run's `--aggregation
  one_step_dawid_skene` is another algorithm (one-coin, one M-step, in fct_consensus_labels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from python_jobs.annotation.panels.profiles import CLASSES

AGGREGATIONS = ("unanimity", "majority", "dawid_skene")


def _codes(votes: np.ndarray) -> np.ndarray:
    """(n, K) int codes, -1 for a missing / invalid vote."""
    lookup = {c: i for i, c in enumerate(CLASSES)}
    return np.vectorize(lambda v: lookup.get(v, -1), otypes=[np.int64])(np.asarray(votes, dtype=object))


def unanimity(votes: np.ndarray) -> np.ndarray:
    """(n,) accepted label or None."""
    codes = _codes(votes)
    ok = (codes >= 0).all(axis=1) & (codes == codes[:, :1]).all(axis=1)
    return np.asarray([CLASSES[c] if k else None for c, k in zip(codes[:, 0], ok)], dtype=object)


def majority(votes: np.ndarray) -> np.ndarray:
    codes = _codes(votes)
    k = codes.shape[1]
    counts = np.stack([(codes == c).sum(axis=1) for c in range(len(CLASSES))], axis=1)
    best = counts.argmax(axis=1)
    ok = counts.max(axis=1) * 2 > k
    return np.asarray([CLASSES[b] if o else None for b, o in zip(best, ok)], dtype=object)


def dawid_skene_posteriors(votes: np.ndarray, iterations: int = 50, smoothing: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """((n, C) class posteriors, (K, C, C) voter confusion estimates) by EM; missing votes skipped.
    `smoothing` is a Dirichlet pseudo-count on every confusion cell (no zero probabilities)."""
    codes = _codes(votes)
    n, k = codes.shape
    c = len(CLASSES)
    onehot = np.zeros((n, k, c))
    rows, voters = np.nonzero(codes >= 0)
    onehot[rows, voters, codes[rows, voters]] = 1.0
    t = onehot.sum(axis=1) + 1e-9
    t /= t.sum(axis=1, keepdims=True)
    confusion = np.zeros((k, c, c))
    for _ in range(iterations):
        prior = (t.sum(axis=0) + smoothing) / (n + c * smoothing)
        # confusion[voter, true, answered]
        confusion = np.einsum("nt,nka->kta", t, onehot) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_post = np.log(prior)[None, :] + np.einsum("nka,kta->nt", onehot, np.log(confusion))
        log_post -= log_post.max(axis=1, keepdims=True)
        new_t = np.exp(log_post)
        new_t /= new_t.sum(axis=1, keepdims=True)
        if np.abs(new_t - t).max() < 1e-8:
            t = new_t
            break
        t = new_t
    return t, confusion


def dawid_skene(votes: np.ndarray, min_posterior: float = 0.9) -> np.ndarray:
    codes = _codes(votes)
    if len(codes) == 0:
        return np.zeros(0, dtype=object)
    posteriors, _ = dawid_skene_posteriors(votes)
    best = posteriors.argmax(axis=1)
    ok = (posteriors.max(axis=1) >= min_posterior) & (codes >= 0).any(axis=1)
    return np.asarray([CLASSES[b] if o else None for b, o in zip(best, ok)], dtype=object)


def aggregate(rule: str, votes: np.ndarray) -> np.ndarray:
    if rule == "unanimity":
        return unanimity(votes)
    if rule == "majority":
        return majority(votes)
    if rule == "dawid_skene":
        return dawid_skene(votes)
    raise ValueError(f"unknown aggregation {rule!r}; choose one of {AGGREGATIONS}")


def yield_and_precision(accepted: np.ndarray, reference: Sequence[str]) -> tuple[float, float]:
    """(share of pairs accepted, share of accepted labels equal to the reference label)."""
    accepted = np.asarray(accepted, dtype=object)
    reference = np.asarray(reference, dtype=object)
    mask = np.asarray([a is not None for a in accepted])
    if len(accepted) == 0:
        return float("nan"), float("nan")
    precision = float((accepted[mask] == reference[mask]).mean()) if mask.any() else float("nan")
    return float(mask.mean()), precision
