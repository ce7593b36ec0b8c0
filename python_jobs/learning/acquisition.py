"""Acquisition: how uncertain the ensemble is about each candidate (the one implementation the
scorer, the benchmarks and the tests share).

Pure, seeded functions on arrays of member probabilities (M, n, C). Higher score = more worth
annotating.
- `qbc_variance`: variance over members of each class probability, averaged over classes
  (query by committee).
- `vote_entropy`: entropy (natural log) of the members' hard-vote distribution.
- `margin`: 1 - (p1 - p2), p1 >= p2 the two largest mean probabilities.
- random: a uniform [0, 1) hash of the pair key and seed, the same whatever the chunking.

`strategy_uncertainty(strategy, seed, qbc_measure)` turns a run's strategy into a function
(member_probs, pair_keys) -> scores, computed on the scorer's layout without copies.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

Uncertainty = Callable[[np.ndarray, np.ndarray], np.ndarray]


def vote_entropy(member_probs: np.ndarray) -> np.ndarray:
    """(M, n, C) -> (n,): entropy of the fraction of members voting for each class."""
    member_probs = np.asarray(member_probs, dtype=np.float64)
    n_members, _, n_classes = member_probs.shape
    votes = member_probs.argmax(axis=-1)  # (M, n)
    fractions = np.stack([(votes == c).mean(axis=0) for c in range(n_classes)], axis=-1)  # (n, C)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(fractions > 0, fractions * np.log(fractions), 0.0)
    return -terms.sum(axis=-1)


def margin(mean_probs: np.ndarray) -> np.ndarray:
    """(n, C) -> (n,): 1 - (largest - second largest probability)."""
    mean_probs = np.asarray(mean_probs, dtype=np.float64)
    top2 = np.sort(mean_probs, axis=-1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def hashed_unit_scores(pair_keys: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) score per pair key, the same whatever the chunking (the Random strategy)."""
    if isinstance(pair_keys, (pa.Array, pa.ChunkedArray)):
        pair_keys = pair_keys.to_numpy(zero_copy_only=False)
    hashed = pd.util.hash_array(np.asarray(pair_keys, dtype=object), hash_key=f"karl{seed:012d}"[:16])
    return (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _class_major(member_probs: np.ndarray) -> np.ndarray:
    """(n, C, M) view of (M, n, C) member probabilities: contiguous when they come from the scorer."""
    return np.asarray(member_probs).transpose(1, 2, 0)


def _member_sum(probs: np.ndarray, dtype: type) -> np.ndarray:
    """(n, C) sum over the last (member) axis of (n, C, M) by one binary add per member: numpy's
    reductions over a short contiguous axis are ~2x slower."""
    total = probs[:, :, 0].astype(dtype)
    for member in range(1, probs.shape[2]):
        total += probs[:, :, member]
    return total


def mean_member_proba(member_probs: np.ndarray) -> np.ndarray:
    """(n, C) float64 mean over members of (M, n, C) probabilities."""
    probs = _class_major(member_probs)
    return _member_sum(probs, np.float64) / probs.shape[2]


def qbc_variance(member_probs: np.ndarray) -> np.ndarray:
    """Query by committee on the scorer's layout: variance over members (contiguous last
    axis), mean over classes; in the probabilities' dtype (float32: ~2e-8 off)."""
    probs = _class_major(member_probs)
    n, n_classes, n_members = probs.shape
    mean = _member_sum(probs, probs.dtype)
    mean *= 1.0 / n_members
    deviations = np.subtract(probs, mean[:, :, None])
    np.square(deviations, out=deviations)
    return deviations.reshape(n, -1).sum(axis=1).astype(np.float64) / (n_classes * n_members)


def predictive_entropy(member_probs: np.ndarray) -> np.ndarray:
    """(M, n, C) -> (n,): -sum_c p_c log p_c (natural log) of the members' mean distribution."""
    mean = mean_member_proba(member_probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(mean > 0, mean * np.log(mean), 0.0)
    return -terms.sum(axis=-1)


def breaking_ties(member_probs: np.ndarray) -> np.ndarray:
    """(M, n, C) -> (n,): mean over members of each member's 1 - (p1 - p2).

    `margin` already is breaking ties (Luo et al. 2005) on the members' *mean* distribution; this
    scores each member's own top-2 gap, so a pair whose members are each sure but disagree (mean:
    a small gap) ranks below a pair every member finds ambiguous. Equal to margin with one member."""
    probs = np.asarray(member_probs, dtype=np.float64)
    top2 = np.sort(probs, axis=-1)[..., -2:]
    return (1.0 - (top2[..., 1] - top2[..., 0])).mean(axis=0)


def strategy_uncertainty(strategy: str, seed: int = 0, qbc_measure: str = "variance") -> Uncertainty:
    """Uncertainty of one acquisition strategy as (member_probs (M, n, C), pair_keys) -> (n,).
    The batch strategies (kcenter, context: learning/batch_selection.py) shortlist by margin."""
    if strategy == "random":
        return lambda member_probs, pair_keys: hashed_unit_scores(pair_keys, seed)
    if strategy == "entropy":
        return lambda member_probs, pair_keys: predictive_entropy(member_probs)
    if strategy == "breaking_ties":
        return lambda member_probs, pair_keys: breaking_ties(member_probs)
    if strategy in ("margin", "kcenter", "context"):
        return lambda member_probs, pair_keys: margin(mean_member_proba(member_probs))
    if strategy == "qbc" and qbc_measure == "variance":
        return lambda member_probs, pair_keys: qbc_variance(member_probs)
    if strategy == "qbc" and qbc_measure == "vote_entropy":
        return lambda member_probs, pair_keys: vote_entropy(member_probs)
    raise ValueError(f"unknown strategy {strategy!r} or qbc_measure {qbc_measure!r}")


def uncertainty(strategy: str, member_probs: np.ndarray, pair_keys: np.ndarray, seed: int = 0,
                qbc_measure: str = "variance") -> np.ndarray:
    """The scores of `strategy_uncertainty(strategy, seed, qbc_measure)` for one array."""
    return strategy_uncertainty(strategy, seed, qbc_measure)(member_probs, pair_keys)
