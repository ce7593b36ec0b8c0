"""Acquisition: how uncertain the ensemble is about each candidate, and which candidates to pick.

Pure, seeded functions on arrays. Higher score = more worth annotating.
- `qbc_variance(member_probs)`: variance over members of each class probability, averaged
  over classes (query by committee).
- `vote_entropy(member_probs)`: entropy (natural log) of the members' hard-vote distribution.
- `margin(mean_probs)`: 1 - (p1 - p2), p1 >= p2 the two largest mean probabilities.
- `random_scores(n, seed)`: uniform [0, 1) scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STRATEGIES = ("qbc", "vote_entropy", "margin", "random")


def qbc_variance(member_probs: np.ndarray) -> np.ndarray:
    """(M, n, C) -> (n,): population variance over members, mean over classes."""
    member_probs = np.asarray(member_probs, dtype=np.float64)
    return member_probs.var(axis=0).mean(axis=-1)


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


def random_scores(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n)


def acquisition_scores(strategy: str, member_probs: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scores of one strategy from (M, n, C) member probabilities."""
    if strategy == "qbc":
        return qbc_variance(member_probs)
    if strategy == "vote_entropy":
        return vote_entropy(member_probs)
    if strategy == "margin":
        return margin(np.asarray(member_probs).mean(axis=0))
    if strategy == "random":
        return random_scores(np.asarray(member_probs).shape[1], seed)
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")


def uncertainty(strategy: str, member_probs: np.ndarray, seed: int = 0, qbc_measure: str = "variance") -> np.ndarray:
    """Scores for a run strategy ('qbc' | 'margin' | 'random'); QBC measures disagreement by
    `qbc_measure` ('variance' | 'vote_entropy')."""
    if strategy == "qbc":
        if qbc_measure not in ("variance", "vote_entropy"):
            raise ValueError(f"unknown qbc_measure {qbc_measure!r}; choose variance or vote_entropy")
        return acquisition_scores("qbc" if qbc_measure == "variance" else "vote_entropy", member_probs, seed)
    return acquisition_scores(strategy, member_probs, seed)


def select_top_per_group(
    scores: np.ndarray,
    groups: Sequence | np.ndarray | None,
    budget: int | None,
    tie_keys: Sequence[str] | None = None,
) -> np.ndarray:
    """Indices of the selected candidates: the top-scoring candidate of every group (fine
    category), then the best `budget` of those winners (all of them when budget is None).
    With groups=None every candidate is its own group (plain top-`budget`).

    Deterministic: ties break by tie_keys ascending (e.g. pair_key), else by index. Returned
    in selection order (score descending)."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    keys = np.asarray(tie_keys if tie_keys is not None else np.arange(n))
    if len(keys) != n:
        raise ValueError("tie_keys must have one key per score")
    # lexsort: last key is primary -> score descending, then tie key ascending.
    order = np.lexsort((keys, -scores))
    if groups is None:
        winners = order
    else:
        group_values = np.asarray(groups)
        if len(group_values) != n:
            raise ValueError("groups must have one group per score")
        seen: set = set()
        winners_list = []
        for i in order:
            g = group_values[i]
            if g not in seen:
                seen.add(g)
                winners_list.append(i)
        winners = np.asarray(winners_list, dtype=np.int64)
    if budget is not None:
        winners = winners[: max(0, int(budget))]
    return np.asarray(winners, dtype=np.int64)
