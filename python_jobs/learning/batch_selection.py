"""Batch acquisition strategies beyond the paper's (issue 12). Pure and deterministic (ties by
pair key); the per-candidate scores, entropy and breaking ties among them, are in
learning/acquisition.py.

Batch strategies, on the streamed scorer's shortlist (the top `per_category` most uncertain
pairs of every fine category, `scoring.TopPerCategory`) and the item vectors:
- `kcenter_batch`: greedy k-center (farthest-first, Sener & Savarese's core-set) over the most
  uncertain candidates, with the labelled pairs as the initial centres, at most one pair per fine
  category. Chosen over "uncertainty within k-means clusters of the pair features" because it
  needs no clustering of the pool each round (k-means is seeded, iterative and its clusters move
  between rounds), it is deterministic given the shortlist (ties by pair key), and it accounts for
  what is already labelled: a candidate near a labelled pair is never "diverse", whereas clusters
  of candidates ignore the labelled set. Cost: budget x shortlist x (labelled + budget) distances
  of 2D-dimensional embeddings, well under a second for 200 x 3,000.
- `context_batch`: the Q1 strategy. score = (1 - w_t) * uncertainty percentile + w_t * novelty
  percentile, novelty = distance of the candidate to the nearest labelled pair; w_t is set each
  round by `novelty_weight` from the pool's predicted-class drift (no OOD labels) and recorded.

Pair embedding for distances: [a + b, |a - b|] of the item vectors, L2-normalised: symmetric
in (a, b) like the pair key, and the blocks the classifier itself sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BATCH_STRATEGIES = ("kcenter", "context")

# How many candidates per fine category the scorer keeps for a batch strategy.
BATCH_PER_CATEGORY = 3
# A batch strategy looks at the SHORTLIST_FACTOR * budget most uncertain kept candidates.
SHORTLIST_FACTOR = 4


# Item vectors wider than this (e.g. sparse TF-IDF rows) are first projected to this many
# dimensions by a fixed seeded Gaussian map (Johnson-Lindenstrauss: distances kept within a few
# percent), so distances cost the same whatever the featuriser.
MAX_EMBEDDING_DIM = 256
PROJECTION_SEED = 12


def project_items(matrix) -> np.ndarray:  # noqa: ANN001 - dense array or scipy sparse matrix
    """Item rows as dense float64, projected to MAX_EMBEDDING_DIM when wider (same map every call)."""
    dim = matrix.shape[1]
    if dim <= MAX_EMBEDDING_DIM and not hasattr(matrix, "toarray"):
        return np.asarray(matrix, dtype=np.float64)
    if dim <= MAX_EMBEDDING_DIM:
        return np.asarray(matrix.toarray(), dtype=np.float64)
    rng = np.random.default_rng(PROJECTION_SEED)
    projection = rng.normal(size=(dim, MAX_EMBEDDING_DIM)) / np.sqrt(MAX_EMBEDDING_DIM)
    return np.asarray(matrix @ projection, dtype=np.float64)


def pair_embedding(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, D), (n, D) -> (n, 2D') unit rows [a + b, |a - b|] (zero rows stay zero); rows wider
    than MAX_EMBEDDING_DIM (or sparse) are projected first (`project_items`)."""
    a = project_items(a)
    b = project_items(b)
    e = np.hstack([a + b, np.abs(a - b)])
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    return np.divide(e, norms, out=np.zeros_like(e), where=norms > 0)


def min_distances(points: np.ndarray, centres: np.ndarray, block: int = 1024) -> np.ndarray:
    """(n,) Euclidean distance of each point to its nearest centre (inf with no centres)."""
    points = np.asarray(points, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    if len(centres) == 0:
        return np.full(len(points), np.inf)
    out = np.full(len(points), np.inf)
    p2 = (points**2).sum(axis=1)
    for start in range(0, len(centres), block):
        c = centres[start:start + block]
        d2 = p2[:, None] + (c**2).sum(axis=1)[None, :] - 2.0 * points @ c.T
        out = np.minimum(out, np.sqrt(np.maximum(d2, 0.0)).min(axis=1))
    return out


def _shortlist(uncertainty: np.ndarray, keys: Sequence[str], size: int) -> np.ndarray:
    order = np.lexsort((np.asarray(keys), -np.asarray(uncertainty, dtype=np.float64)))
    return order[: max(0, size)]


def kcenter_batch(
    embeddings: np.ndarray,
    uncertainty: np.ndarray,
    pair_keys: Sequence[str],
    categories: Sequence[str],
    labelled: np.ndarray,
    budget: int,
    shortlist_factor: int = SHORTLIST_FACTOR,
) -> np.ndarray:
    """Indices of `budget` candidates: farthest-first over the shortlist (the shortlist_factor *
    budget most uncertain), each pick the candidate farthest from the labelled pairs and the
    picks so far, skipping fine categories already picked. Ties: higher uncertainty, then
    smaller pair key. Returned in pick order."""
    n = len(uncertainty)
    if n == 0 or budget <= 0:
        return np.zeros(0, dtype=np.int64)
    pool = _shortlist(uncertainty, pair_keys, shortlist_factor * budget)
    points = np.asarray(embeddings, dtype=np.float64)[pool]
    nearest = min_distances(points, labelled)
    unc = np.asarray(uncertainty, dtype=np.float64)[pool]
    keys = np.asarray(pair_keys)[pool]
    cats = np.asarray(categories, dtype=object)[pool]
    # rank of (uncertainty desc, key asc) within the pool breaks distance ties
    tie_rank = np.empty(len(pool), dtype=np.int64)
    tie_rank[np.lexsort((keys, -unc))] = np.arange(len(pool))
    available = np.ones(len(pool), dtype=bool)
    used: set = set()
    picks: list[int] = []
    while len(picks) < budget and available.any():
        candidates = np.flatnonzero(available)
        best = candidates[np.lexsort((tie_rank[candidates], -nearest[candidates]))[0]]
        picks.append(int(pool[best]))
        used.add(cats[best])
        available &= cats != cats[best]
        nearest = np.minimum(nearest, np.linalg.norm(points - points[best], axis=1))
    return np.asarray(picks, dtype=np.int64)


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """(n,) in [0, 1]: the share of the other values strictly below each value (ties share the
    average rank), so two scores on different scales become commensurable."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n <= 1:
        return np.full(n, 0.5)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.arange(n, dtype=np.float64)
    # average the ranks of ties
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse] / (n - 1)


@dataclass(frozen=True)
class NoveltyRule:
    """w_t = w_max - (w_max - w_min) * min(1, drift_t / drift_ref); w_start with no drift yet.

    drift_t is the share of the fixed pool sample (raw.pool_predictions) whose predicted class
    changed between the previous round's model and this round's. Why this direction: while the
    pool's predictions still move, the model is still learning where its boundary is, and the
    uncertain pairs are where it moves: uncertainty gets the weight. Once predictions settle,
    more uncertain pairs keep sampling the same ambiguous region (the paper: prolonged uncertainty
    sampling degrades ID), while karl's experiment found the labelled set's diversity gain to
    correlate with the OOD gain (+0.54..+0.67): novelty gets the weight. Uses no OOD labels."""

    w_min: float = 0.2
    w_max: float = 0.8
    w_start: float = 0.5
    drift_ref: float = 0.05


def novelty_weight(drift: float | None, rule: NoveltyRule = NoveltyRule()) -> float:
    if drift is None or not np.isfinite(drift):
        return rule.w_start
    settled = 1.0 - min(1.0, max(0.0, drift) / rule.drift_ref)   # 1: no drift, 0: drift >= drift_ref
    return float(rule.w_min + (rule.w_max - rule.w_min) * settled)


def context_batch(
    embeddings: np.ndarray,
    uncertainty: np.ndarray,
    pair_keys: Sequence[str],
    categories: Sequence[str],
    labelled: np.ndarray,
    budget: int,
    weight: float,
    shortlist_factor: int = SHORTLIST_FACTOR,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices of `budget` candidates, their combined scores). Over the shortlist, combined =
    (1 - weight) * percentile(uncertainty) + weight * percentile(distance to nearest labelled
    pair); best per fine category, then the best `budget`. Ties by pair key."""
    n = len(uncertainty)
    if n == 0 or budget <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"novelty weight must be in [0, 1], not {weight}")
    pool = _shortlist(uncertainty, pair_keys, shortlist_factor * budget)
    novelty = min_distances(np.asarray(embeddings, dtype=np.float64)[pool], labelled)
    novelty = np.where(np.isfinite(novelty), novelty, np.nanmax(np.where(np.isfinite(novelty), novelty, 0.0)) + 1.0)
    combined = ((1.0 - weight) * percentile_ranks(np.asarray(uncertainty, dtype=np.float64)[pool])
                + weight * percentile_ranks(novelty))
    keys = np.asarray(pair_keys)[pool]
    cats = np.asarray(categories, dtype=object)[pool]
    seen: set = set()
    picks: list[int] = []
    for i in np.lexsort((keys, -combined)):
        if cats[i] in seen:
            continue
        seen.add(cats[i])
        picks.append(int(i))
        if len(picks) == budget:
            break
    chosen = np.asarray(picks, dtype=np.int64)
    return pool[chosen], combined[chosen]


def prediction_drift(previous: np.ndarray, current: np.ndarray) -> float:
    """Share of positions whose predicted class changed (aligned arrays)."""
    previous = np.asarray(previous)
    current = np.asarray(current)
    if len(previous) != len(current):
        raise ValueError("prediction arrays must be aligned")
    return float((previous != current).mean()) if len(current) else float("nan")
