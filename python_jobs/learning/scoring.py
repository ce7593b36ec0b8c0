"""Score a candidate pool with every member of the bagged ensemble, streaming, in chunks.

The members are multinomial logistic regressions on pair features
``[|a-b|, a*b, cos(a,b), a+b]`` (python_jobs/pair_features.py). Stacked, the ensemble is one
linear map ``W (F, M*C)``, ``b (M*C)``. A linear map over those blocks splits:

    logits = [|a-b|, a*b] @ W_ab  +  cos * w_cos  +  (a @ W_sum)  +  (b @ W_sum)  +  b

The last two terms are per item, so they are computed once per item (``V @ W_sum``) and
gathered; only ``[|a-b|, a*b]`` (n, 2D) is built per chunk, and never for the whole pool.
Candidates come from DuckDB as arrow record batches with integer item positions, so memory stays
flat whatever the pool size: at most ``workers`` chunks of pair features exist at any time.
"""

from __future__ import annotations

import functools
import heapq
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from python_jobs.learning.blas import single_threaded

# Order of the blocks in the pair-feature vector (python_jobs/pair_features.py).
FEATURE_BLOCKS: tuple[str, ...] = ("absdiff", "prod", "cos", "sum")


@dataclass(frozen=True)
class ScoringConfig:
    chunk_rows: int = 65_536       # pairs per chunk read from DuckDB and scored by one worker
    workers: int = 2               # chunks computed in parallel (numpy releases the GIL)
    # float32 (default): ~2x the float64 rate; probabilities within FLOAT32_TOLERANCE of
    # BaggedEnsemble.predict_member_proba (tested). float64 reproduces it to < 1e-6.
    dtype: str = "float32"


# Largest difference from predict_member_proba (float64) that the float32 scorer may show in a
# probability; the error grows with the size of the (standardisation-folded) weights.
FLOAT32_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ItemVectors:
    """Item vectors by position; ``ids[i]`` is the item of row ``i`` of ``matrix``."""

    ids: np.ndarray               # (n_items,) object/str
    matrix: np.ndarray            # (n_items, D)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    # Computed once per set of vectors, not once per scan (a run scans every round).
    @functools.cached_property
    def norms(self) -> np.ndarray:
        """(n_items,) float64 L2 norms."""
        return np.sqrt(np.einsum("ij,ij->i", self.matrix, self.matrix, dtype=np.float64))

    @functools.cached_property
    def positions(self) -> pa.Table:
        """(item_id, item_pos) for DuckDB to map candidate item ids to rows of ``matrix``."""
        return pa.table({"item_id": pa.array(self.ids.tolist(), pa.string()),
                         "item_pos": pa.array(np.arange(len(self.ids), dtype=np.int32))})


@dataclass(frozen=True)
class StackedLinearScorer:
    """The ensemble's stacked weights split by feature block, with per-item terms precomputed.

    Columns are class-major (c*M + m) so the softmax works on contiguous (n, M) slices, and
    relative to class 0: a softmax does not change when one logit is subtracted from all, so
    each member's class-0 logit is fixed at 0 and only (C-1)*M columns are computed (a third
    fewer multiply-adds for 3 classes). The output is the (M, n, C) view that
    `BaggedEnsemble.predict_member_proba` returns.
    """

    w_pair: np.ndarray            # (2D, (C-1)*M): rows for [min(a,b), a*b] (+ cos folded in when unit norm)
    w_cos: np.ndarray | None      # ((C-1)*M,) or None when folded into w_pair
    item_term: np.ndarray         # (n_items, (C-1)*M) = V @ (W_sum + W_abs)
    bias: np.ndarray              # ((C-1)*M,)
    vectors: np.ndarray           # (n_items, D)
    inv_norms: np.ndarray         # (n_items,)
    n_members: int
    n_classes: int
    tile_rows: int = 256          # rows per GEMM tile: its (tile, 2D) features stay in L2

    @classmethod
    def from_weights(
        cls,
        weights: np.ndarray,
        bias: np.ndarray,
        item_vectors: ItemVectors,
        n_members: int,
        dtype: str = "float64",
    ) -> "StackedLinearScorer":
        d = item_vectors.dim
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape[0] != 3 * d + 1:
            raise ValueError(f"stacked weights have {weights.shape[0]} rows; pair features of D={d} have {3 * d + 1}")
        if weights.shape[1] % n_members:
            raise ValueError(f"{weights.shape[1]} stacked columns do not split into {n_members} members")
        n_classes = weights.shape[1] // n_members
        # member-major (F, M, C) -> class-major relative to class 0: (F, C-1, M) flattened
        per_member = weights.reshape(-1, n_members, n_classes)
        relative = (per_member[:, :, 1:] - per_member[:, :, :1]).transpose(0, 2, 1)
        weights = relative.reshape(weights.shape[0], -1)
        bias_member = np.asarray(bias, dtype=np.float64).reshape(n_members, n_classes)
        bias = (bias_member[:, 1:] - bias_member[:, :1]).T.ravel()
        # In the scoring dtype (no float64 copy of a float32 catalogue); norms accumulate in float64.
        matrix = np.ascontiguousarray(item_vectors.matrix, dtype=dtype)
        norms = item_vectors.norms
        # |a-b| = a + b - 2 min(a, b): the a + b part joins the per-item term, so a chunk needs
        # one pass (min) instead of two (subtract, abs).
        w_abs = weights[:d]
        w_pair = weights[: 2 * d].copy()
        w_pair[:d] = -2.0 * w_abs
        w_cos: np.ndarray | None = weights[2 * d]
        if len(norms) and np.all(np.abs(norms - 1.0) < 1e-6):
            # Unit vectors: cos(a, b) = sum(a*b), so the cos weight joins every a*b row.
            w_pair[d:] += w_cos
            w_cos = None
        with single_threaded():
            item_term = matrix @ (weights[2 * d + 1 :] + w_abs).astype(dtype)
        inv_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return cls(
            w_pair=np.ascontiguousarray(w_pair, dtype=dtype),
            w_cos=None if w_cos is None else w_cos.astype(dtype),
            item_term=np.ascontiguousarray(item_term, dtype=dtype),
            bias=bias.astype(dtype),
            vectors=matrix,
            inv_norms=inv_norms.astype(dtype),
            n_members=n_members,
            n_classes=n_classes,
        )

    def member_proba(self, a_pos: np.ndarray, b_pos: np.ndarray) -> np.ndarray:
        """(M, n, C) probabilities of every member for the pairs at item positions (a_pos, b_pos)
        (a view of `class_major_proba`)."""
        return self.class_major_proba(a_pos, b_pos).transpose(2, 0, 1)

    def class_major_proba(self, a_pos: np.ndarray, b_pos: np.ndarray) -> np.ndarray:
        """(n, C, M) contiguous probabilities: row i, class c, member m."""
        a_pos = np.asarray(a_pos, dtype=np.intp)
        b_pos = np.asarray(b_pos, dtype=np.intp)
        n = len(a_pos)
        d = self.vectors.shape[1]
        dtype = self.vectors.dtype
        if n and (min(a_pos.min(), b_pos.min()) < 0 or max(a_pos.max(), b_pos.max()) >= len(self.vectors)):
            raise IndexError("item position out of range")
        logits = np.empty((n, self.w_pair.shape[1]), dtype=dtype)
        # Only the GEMM and the features it reads are tiled; the per-pair terms and the softmax
        # run once over the chunk (fewer numpy calls per pair).
        tile = min(self.tile_rows, max(n, 1))
        a = np.empty((tile, d), dtype=dtype)
        b = np.empty((tile, d), dtype=dtype)
        x = np.empty((tile, 2 * d), dtype=dtype)
        for start in range(0, n, tile):
            stop = min(start + tile, n)
            k = stop - start
            # Positions are checked above: mode="clip" lets take write straight into `out`
            # (mode="raise" goes through a temporary buffer, ~1.6x slower).
            np.take(self.vectors, a_pos[start:stop], axis=0, out=a[:k], mode="clip")
            np.take(self.vectors, b_pos[start:stop], axis=0, out=b[:k], mode="clip")
            np.minimum(a[:k], b[:k], out=x[:k, :d])
            np.multiply(a[:k], b[:k], out=x[:k, d:])
            np.matmul(x[:k], self.w_pair, out=logits[start:stop])
            if self.w_cos is not None:
                cos = x[:k, d:].sum(axis=1) * self.inv_norms[a_pos[start:stop]] * self.inv_norms[b_pos[start:stop]]
                logits[start:stop] += np.outer(cos, self.w_cos)
        logits += np.take(self.item_term, a_pos, axis=0, mode="clip")
        logits += np.take(self.item_term, b_pos, axis=0, mode="clip")
        logits += self.bias
        return _softmax_relative(logits, self.n_classes, self.n_members)


def _softmax_relative(logits: np.ndarray, n_classes: int, n_members: int) -> np.ndarray:
    """(n, C, M) softmax over classes from (n, (C-1)*M) class-major logits relative to class 0
    (whose logit is 0): p_0 = 1 / (1 + sum_c e^l_c), p_c = e^l_c p_0.

    No max shift on the common path (a third fewer passes): logits are capped at LOGIT_CAP so
    e^l cannot overflow (float32 holds e^88); the few (pair, member) cells where a logit reached
    the cap are recomputed exactly with the usual max shift. Binary ufuncs per class, not
    reductions over the short class axis (half the time)."""
    n = logits.shape[0]
    relative = logits.reshape(n, n_classes - 1, n_members)
    out = np.empty((n, n_classes, n_members), dtype=logits.dtype)
    np.minimum(relative, LOGIT_CAP, out=out[:, 1:])
    np.exp(out[:, 1:], out=out[:, 1:])
    total = out[:, 0]
    np.add(out[:, 1], 1.0, out=total)
    for c in range(2, n_classes):
        total += out[:, c]
    capped = total >= np.exp(logits.dtype.type(LOGIT_CAP))
    np.reciprocal(total, out=total)
    out[:, 1:] *= total[:, None, :]
    if capped.any():
        rows, members = np.nonzero(capped)
        exact = np.zeros((len(rows), n_classes))
        exact[:, 1:] = relative[rows, :, members]
        exact = np.exp(exact - exact.max(axis=1, keepdims=True))
        out[rows, :, members] = exact / exact.sum(axis=1, keepdims=True)
    return out


LOGIT_CAP = 80.0


@dataclass
class ScoredChunk:
    """One chunk of scored candidates: the arrow batch as read (pair_key, fine_category, a_pos,
    b_pos; strings stay in arrow until a row is kept), the members' probabilities and, when
    asked for, the uncertainty per row. Item ids come from the positions (``item_ids``)."""

    batch: pa.RecordBatch
    member_proba: np.ndarray                 # (M, n, C)
    uncertainty: np.ndarray | None = None    # (n,)
    item_ids: np.ndarray | None = None       # item id by vector position
    contenders: list | None = None           # category_contenders(), when the scan was asked for them

    def column(self, name: str) -> np.ndarray:
        if name in ("item_a_id", "item_b_id") and name not in self.batch.schema.names:
            return self.item_ids[self.batch.column("a_pos" if name == "item_a_id" else "b_pos").to_numpy()]
        return self.batch.column(name).to_numpy(zero_copy_only=False)

    @property
    def pair_key(self) -> np.ndarray:
        return self.column("pair_key")

    @property
    def item_a_id(self) -> np.ndarray:
        return self.column("item_a_id")

    @property
    def item_b_id(self) -> np.ndarray:
        return self.column("item_b_id")

    @property
    def fine_category(self) -> np.ndarray:
        return self.column("fine_category")

    def fine_codes(self) -> tuple[np.ndarray, list]:
        """(int code per row, category per code): grouping without Python strings per row."""
        column = self.batch.column("fine_category")
        if column.null_count:
            column = pc.fill_null(column, "")
        encoded = pc.dictionary_encode(column)
        return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()


def arrow_table(result) -> pa.Table:  # noqa: ANN001 - a duckdb result (connection after execute)
    """The whole result as an arrow table on duckdb 1.x (fetch_arrow_table) and 2.x (to_arrow_table)."""
    fetch = getattr(result, "to_arrow_table", None) or getattr(result, "fetch_arrow_table")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fetch()


def arrow_batches(con, sql: str, params: list | None, rows: int) -> pa.RecordBatchReader:  # noqa: ANN001
    """Stream a query as record batches of `rows` rows, on duckdb 1.x and 2.x.

    Through a relation (con.sql), not a DB-API result: on duckdb 2.x the latter copies every row
    before the first batch, which would make memory grow with the pool."""
    relation = con.sql(sql, params=params or None)
    reader = getattr(relation, "to_arrow_reader", None)
    if reader is not None:
        return reader(rows)
    return relation.fetch_record_batch(rows)


def load_item_vectors(con, feature_set: str) -> ItemVectors:  # noqa: ANN001 - duckdb connection
    """All vectors of one feature set, ordered by item id (position = row)."""
    table = arrow_table(con.execute(
        "select item_id, vector from raw.item_vectors where feature_set = ? order by item_id", [feature_set]
    ))
    if table.num_rows == 0:
        raise ValueError(f"no item vectors for feature set {feature_set!r}")
    ids = np.asarray(table.column("item_id").to_pylist(), dtype=object)
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return ItemVectors(ids=ids, matrix=flat.reshape(table.num_rows, -1).astype(np.float32))


def _register_positions(con, vectors: ItemVectors, name: str) -> None:  # noqa: ANN001
    con.register(name, vectors.positions)


def candidate_batches(
    con,  # noqa: ANN001 - duckdb connection
    candidates_sql: str,
    vectors: ItemVectors,
    chunk_rows: int,
    params: list | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream (pair_key, fine_category, a_pos, b_pos) record batches (the item ids are
    ``vectors.ids[a_pos]``, ``vectors.ids[b_pos]``: fewer strings to move).

    ``candidates_sql`` is any query with pair_key, item_a_id, item_b_id, fine_category; pairs whose
    items have no vector are dropped (they cannot be scored).
    """
    view = "karl_scoring_item_positions"
    _register_positions(con, vectors, view)
    sql = f"""
        with candidates as ({candidates_sql})
        select c.pair_key, c.fine_category, pa.item_pos as a_pos, pb.item_pos as b_pos
        from candidates as c
        inner join {view} as pa on c.item_a_id = pa.item_id
        inner join {view} as pb on c.item_b_id = pb.item_id
    """
    reader = arrow_batches(con, sql, params, chunk_rows)
    try:
        yield from reader
    finally:
        con.unregister(view)


def iter_scored_chunks(
    con,  # noqa: ANN001 - duckdb connection
    candidates_sql: str,
    scorer: StackedLinearScorer,
    vectors: ItemVectors,
    config: ScoringConfig = ScoringConfig(),
    params: list | None = None,
    uncertainty: "Uncertainty | None" = None,
    per_category: int | None = None,
) -> Iterator[ScoredChunk]:
    """Member probabilities (and uncertainty, when given) for every candidate, one chunk at a
    time, in the query's order. Chunks are computed by `config.workers` threads (numpy releases
    the GIL), at most ``2 * workers`` chunks in flight: while the caller reduces one chunk the
    workers already have the next ones, so no core waits on the caller. With `per_category`
    (and an uncertainty), each chunk also carries its `category_contenders` for TopPerCategory."""

    def work(batch: pa.RecordBatch) -> ScoredChunk:
        proba = scorer.member_proba(batch.column("a_pos").to_numpy(), batch.column("b_pos").to_numpy())
        scores = None
        if uncertainty is not None:
            scores = np.asarray(uncertainty(proba, batch.column("pair_key")), dtype=np.float64)
        chunk = ScoredChunk(batch=batch, member_proba=proba, uncertainty=scores, item_ids=vectors.ids)
        if scores is not None and per_category is not None and len(scores):
            chunk.contenders = category_contenders(chunk, scores, per_category)
        return chunk

    batches = candidate_batches(con, candidates_sql, vectors, config.chunk_rows, params)
    # BLAS limits are process-wide, so they are set once around all the chunks' work (the
    # chunks themselves are the parallelism), not per chunk by each worker thread.
    with single_threaded():
        yield from _scored_in_order(batches, work, config.workers)


def _scored_in_order(batches: Iterator[pa.RecordBatch], work: Callable[[pa.RecordBatch], ScoredChunk],
                     workers: int) -> Iterator[ScoredChunk]:
    if workers <= 1:
        for batch in batches:
            yield work(batch)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list = []
        for batch in batches:
            pending.append(pool.submit(work, batch))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


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


Uncertainty = Callable[[np.ndarray, np.ndarray], np.ndarray]


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
    """acquisition.qbc_variance on the scorer's layout: variance over members (contiguous last
    axis), mean over classes; in the probabilities' dtype (float32: ~2e-8 off)."""
    probs = _class_major(member_probs)
    n, n_classes, n_members = probs.shape
    mean = _member_sum(probs, probs.dtype)
    mean *= 1.0 / n_members
    deviations = np.subtract(probs, mean[:, :, None])
    np.square(deviations, out=deviations)
    return deviations.reshape(n, -1).sum(axis=1).astype(np.float64) / (n_classes * n_members)


def margin(member_probs: np.ndarray) -> np.ndarray:
    """acquisition.margin of the members' mean: 1 - (p1 - p2)."""
    from python_jobs.learning import acquisition
    return acquisition.margin(mean_member_proba(member_probs))


def strategy_uncertainty(strategy: str, seed: int = 0, qbc_measure: str = "variance") -> Uncertainty:
    """Uncertainty of one acquisition strategy as (member_probs (M, n, C), pair_keys) -> (n,).

    The same scores as `acquisition.uncertainty(strategy, member_probs, seed, qbc_measure)`
    (random: a hash of the pair key, so independent of chunking), computed on the scorer's
    class-major layout without copies."""
    from python_jobs.learning import acquisition
    if strategy == "random":
        return lambda member_probs, pair_keys: hashed_unit_scores(pair_keys, seed)
    if strategy == "qbc" and qbc_measure == "variance":
        return lambda member_probs, pair_keys: qbc_variance(member_probs)
    if strategy == "margin":
        return lambda member_probs, pair_keys: margin(member_probs)
    if strategy == "qbc":
        return lambda member_probs, pair_keys: acquisition.uncertainty(
            strategy, member_probs, seed=seed, qbc_measure=qbc_measure)
    return lambda member_probs, pair_keys: acquisition.acquisition_scores(strategy, member_probs, seed)


def score_candidates(
    con,  # noqa: ANN001 - duckdb connection
    candidates_sql: str,
    weights: np.ndarray,
    bias: np.ndarray,
    n_members: int,
    vectors: ItemVectors,
    uncertainty: Uncertainty,
    per_category: int = 1,
    config: ScoringConfig = ScoringConfig(),
    params: list | None = None,
) -> tuple[list[dict], int]:
    """Score every candidate and keep the `per_category` most uncertain pairs per fine category.

    ``candidates_sql``: a query with pair_key, item_a_id, item_b_id, fine_category (e.g.
    `candidate_pairs_sql(...)`). ``weights, bias``: `BaggedEnsemble.stacked_weights()`.
    ``uncertainty``: e.g. `strategy_uncertainty('margin')`. Returns the kept rows (pair_key, item
    ids, fine_category, mean_proba, uncertainty_score), most uncertain first, and the number of
    pairs scored. The caller applies the round's budget to this list.
    """
    scorer = StackedLinearScorer.from_weights(weights, bias, vectors, n_members, config.dtype)
    reducer = TopPerCategory(per_category=per_category)
    for chunk in iter_scored_chunks(con, candidates_sql, scorer, vectors, config, params, uncertainty, per_category):
        reducer.add(chunk)
    return reducer.result(), reducer.n_scored


def candidate_pairs_sql(run_id: str | None = None, relation: str = "marts.fct_candidate_pairs") -> tuple[str, list]:
    """The candidate query of a round: the candidate mart minus pairs this run already sent to the
    annotator (its raw.selections), so a pair without consensus is not picked again."""
    sql = f"select pair_key, item_a_id, item_b_id, fine_category from {relation}"
    if run_id is None:
        return sql, []
    return (
        sql + " where pair_key not in (select pair_key from raw.selections where run_id = ?)",
        [run_id],
    )


def score_candidate_frame(ensemble, vectors, candidates, config: ScoringConfig = ScoringConfig()) -> np.ndarray:  # noqa: ANN001
    """(M, n, C) member probabilities for an in-memory candidate frame (item_a_id, item_b_id).

    ``ensemble``: a fitted BaggedEnsemble; ``vectors``: loop_data.ItemVectors (``rows``, ``matrix``).
    Same math as `score_candidates`, in chunks; for pools too large for memory use that instead.
    """
    weights, bias = ensemble.stacked_weights()
    n_members = int(np.asarray(ensemble.coef_).shape[0])
    ids = np.empty(len(vectors.index), dtype=object)
    for item_id, row in vectors.index.items():
        ids[row] = item_id
    scorer = StackedLinearScorer.from_weights(weights, bias, ItemVectors(ids, vectors.matrix), n_members, config.dtype)
    a_pos = vectors.rows(candidates["item_a_id"].to_numpy(dtype=object))
    b_pos = vectors.rows(candidates["item_b_id"].to_numpy(dtype=object))
    n_classes = scorer.n_classes
    out = np.empty((n_members, len(a_pos), n_classes), dtype=np.float64)
    with single_threaded():
        for start in range(0, len(a_pos), config.chunk_rows):
            stop = start + config.chunk_rows
            out[:, start:stop] = scorer.member_proba(a_pos[start:stop], b_pos[start:stop])
    return out
