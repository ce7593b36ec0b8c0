"""The reducer of a scan: the most uncertain candidates per fine category, merged chunk by
chunk; ties break by pair key, so the result does not depend on the chunking."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from python_jobs.learning.chunks import ScoredChunk


def category_contenders(chunk: ScoredChunk, scores: np.ndarray, per_category: int) -> list[tuple[str, np.ndarray]]:
    """Per fine category of the chunk, the rows that can enter its top `per_category`: those at
    or above the category's per_category-th best score (rows tied with it all compete, so ties
    break by pair key whatever the chunking). Numpy and arrow only: the scoring workers run it,
    so the caller's reducer only merges a few rows per category."""
    n = len(scores)
    codes, categories = chunk.fine_codes()
    # A stable sort of small integer codes is a radix sort: linear, unlike sorting by score.
    codes = codes.astype(np.int16 if len(categories) < 2**15 else np.int64)
    by_code = np.argsort(codes, kind="stable")
    sorted_codes = codes[by_code]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sorted_scores = scores[by_code]
    if per_category == 1:
        cutoffs = np.maximum.reduceat(sorted_scores, starts)
    else:
        ends = np.r_[starts[1:], n]
        cutoffs = np.array([
            np.partition(sorted_scores[a:b], b - a - per_category)[b - a - per_category] if b - a > per_category
            else sorted_scores[a:b].min()
            for a, b in zip(starts, ends)])
    keep = sorted_scores >= np.repeat(cutoffs, np.diff(np.r_[starts, n]))
    group_of_kept = np.searchsorted(starts, np.flatnonzero(keep), side="right") - 1
    kept_rows = by_code[keep]
    bounds = np.flatnonzero(np.r_[True, group_of_kept[1:] != group_of_kept[:-1], True])
    return [(categories[sorted_codes[starts[group_of_kept[a]]]], kept_rows[a:b])
            for a, b in zip(bounds[:-1], bounds[1:])]


@dataclass
class TopPerCategory:
    """Streaming reducer: the `per_category` most uncertain pairs of each fine category.

    Ties break by pair key (smallest first), so the result does not depend on chunk boundaries.
    """

    per_category: int = 1
    n_scored: int = 0
    _heaps: dict = field(default_factory=dict)

    def add(self, chunk: ScoredChunk, uncertainty: np.ndarray | None = None) -> None:
        scores = chunk.uncertainty if uncertainty is None else np.asarray(uncertainty, dtype=np.float64)
        n = len(scores)
        self.n_scored += n
        if not n:
            return
        contenders = chunk.contenders if uncertainty is None and chunk.contenders is not None \
            else category_contenders(chunk, scores, self.per_category)
        keys = chunk.batch.column("pair_key")
        for category, rows in contenders:
            heap = self._heaps.setdefault(category, [])
            if len(heap) >= self.per_category and scores[rows].max() < heap[0][0]:
                continue
            for row in rows[np.argsort(-scores[rows], kind="stable")]:
                row = int(row)
                entry = (float(scores[row]), _ReversedKey(keys[row].as_py()))
                if len(heap) >= self.per_category and not entry > heap[0][:2]:
                    continue
                item = entry + (_row_payload(chunk, row),)
                if len(heap) < self.per_category:
                    heapq.heappush(heap, item)
                else:
                    heapq.heapreplace(heap, item)

    def result(self) -> list[dict]:
        rows = [entry[2] | {"uncertainty_score": entry[0]} for heap in self._heaps.values() for entry in heap]
        return sorted(rows, key=lambda r: (-r["uncertainty_score"], r["pair_key"]))


class _ReversedKey(str):
    """A string that compares in reverse, so a min-heap of (score, key) evicts the larger key first."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)

    def __le__(self, other: str) -> bool:  # type: ignore[override]
        return str.__ge__(self, other)

    def __ge__(self, other: str) -> bool:  # type: ignore[override]
        return str.__le__(self, other)


def _row_payload(chunk: ScoredChunk, row: int) -> dict:
    values = {name: chunk.batch.column(name)[row].as_py() for name in ("pair_key", "fine_category")}
    a_pos, b_pos = (int(chunk.batch.column(name)[row].as_py()) for name in ("a_pos", "b_pos"))
    mean = np.asarray(chunk.member_proba[:, row, :], dtype=np.float64).mean(axis=0)
    return values | {"item_a_id": chunk.item_ids[a_pos], "item_b_id": chunk.item_ids[b_pos],
                     "mean_proba": mean.tolist()}
