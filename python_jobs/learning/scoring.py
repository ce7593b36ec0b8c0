"""Score a candidate pool with every member of the bagged ensemble, streaming, in chunks
(the kernel: learning/stacked_linear.py; the reducer: learning/top_per_category.py).

The members are multinomial logistic regressions on pair features
``[|a-b|, a*b, cos(a,b), a+b]`` (python_jobs/features/pairs.py). Stacked, the ensemble is one
linear map ``W (F, M*C)``, ``b (M*C)``. A linear map over those blocks splits:

    logits = [|a-b|, a*b] @ W_ab  +  cos * w_cos  +  (a @ W_sum)  +  (b @ W_sum)  +  b

The last two terms are per item, so they are computed once per item (``V @ W_sum``) and
gathered; only ``[|a-b|, a*b]`` (n, 2D) is built per chunk, and never for the whole pool.
Candidates come from DuckDB as arrow record batches with integer item positions, so memory stays
flat whatever the pool size: at most ``workers`` chunks of pair features exist at any time.

Item vectors may be dense (the kernel above) or sparse CSR (learning/scoring_sparse.py: per pair
only the two items' shared columns cost work); `make_scorer` picks the kernel from the vectors,
and the scan is the same for both. Dense per-pair columns (title overlap, ``layout.n_extra``)
are read from the candidate query by name (``extra_columns``) with each chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from python_jobs.config import ScoringConfig
from python_jobs.features.vectors import ItemVectors
from python_jobs.learning.acquisition import Uncertainty
from python_jobs.learning.blas import single_threaded
from python_jobs.learning.chunks import ScoredChunk
from python_jobs.learning.scoring_sparse import PairLayout, SparseStackedScorer
from python_jobs.learning.stacked_linear import FEATURE_BLOCKS, StackedLinearScorer
from python_jobs.learning.top_per_category import TopPerCategory, category_contenders
from python_jobs.warehouse.arrow import arrow_batches

PairScorer = StackedLinearScorer | SparseStackedScorer

# The dense feature sets' pair layout (features/pairs.py).
DENSE_LAYOUT = PairLayout(FEATURE_BLOCKS)


def make_scorer(
    weights: np.ndarray,
    bias: np.ndarray,
    vectors: ItemVectors,
    n_members: int,
    dtype: str = "float32",
    layout: PairLayout | None = None,
) -> PairScorer:
    """The stacked scorer for these item vectors: the sparse kernel for CSR vectors (default
    layout [|a-b|, a*b, cos]), the dense one otherwise (layout [|a-b|, a*b, cos, a+b] only).
    ``layout.n_extra`` dense per-pair columns follow the blocks in the weights' rows."""
    if vectors.is_sparse:
        return SparseStackedScorer.from_weights(weights, bias, vectors, n_members, layout or PairLayout(), dtype)
    layout = layout or DENSE_LAYOUT
    if layout.blocks != DENSE_LAYOUT.blocks:
        raise ValueError(f"dense item vectors are scored with pair blocks {DENSE_LAYOUT.blocks}, not {layout.blocks}")
    return StackedLinearScorer.from_weights(weights, bias, vectors, n_members, dtype, n_extra=layout.n_extra)


def _register_positions(con, vectors: ItemVectors, name: str) -> None:  # noqa: ANN001
    con.register(name, vectors.positions)


def extra_matrix(batch: pa.RecordBatch, columns: Sequence[str], n_extra: int | None = None) -> np.ndarray:
    """(n, n_extra) float32 dense pair columns of a chunk, nulls as 0: one numeric column each,
    or one list column (e.g. DuckDB ``float[K]``) holding all of them."""
    kind = batch.schema.field(columns[0]).type if len(columns) == 1 else None
    if kind is not None and (pa.types.is_list(kind) or pa.types.is_fixed_size_list(kind)):
        column = batch.column(columns[0])
        if column.null_count:
            raise ValueError(f"pair column {columns[0]!r} has null lists")
        flat = column.flatten().to_numpy(zero_copy_only=False)
        width = n_extra if n_extra is not None else (len(flat) // batch.num_rows if batch.num_rows else 0)
        if len(flat) != batch.num_rows * width:
            raise ValueError(f"pair column {columns[0]!r}: lists are not all {width} long")
        return np.nan_to_num(flat.astype(np.float32, copy=False)).reshape(batch.num_rows, width)
    out = np.empty((batch.num_rows, len(columns)), dtype=np.float32)
    for i, name in enumerate(columns):
        column = batch.column(name)
        values = column.to_numpy(zero_copy_only=False)
        out[:, i] = np.nan_to_num(values.astype(np.float32, copy=False)) if column.null_count else values
    return out


def candidate_batches(
    con,  # noqa: ANN001 - duckdb connection
    candidates_sql: str,
    vectors: ItemVectors,
    chunk_rows: int,
    params: list | None = None,
    extra_columns: Sequence[str] = (),
) -> Iterator[pa.RecordBatch]:
    """Stream (pair_key, fine_category, a_pos, b_pos, *extra_columns) record batches (the item
    ids are ``vectors.ids[a_pos]``, ``vectors.ids[b_pos]``: fewer strings to move).

    ``candidates_sql`` is any query with pair_key, item_a_id, item_b_id, fine_category (and the
    ``extra_columns``); pairs whose items have no vector are dropped (they cannot be scored).
    """
    view = "karl_scoring_item_positions"
    _register_positions(con, vectors, view)
    extra = "".join(f', c."{name}"' for name in extra_columns)
    sql = f"""
        with candidates as ({candidates_sql})
        select c.pair_key, c.fine_category, pa.item_pos as a_pos, pb.item_pos as b_pos{extra}
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
    scorer: PairScorer,
    vectors: ItemVectors,
    config: ScoringConfig = ScoringConfig(),
    params: list | None = None,
    uncertainty: Uncertainty | None = None,
    per_category: int | None = None,
    extra_columns: Sequence[str] = (),
) -> Iterator[ScoredChunk]:
    """Member probabilities (and uncertainty, when given) for every candidate, one chunk at a
    time, in the query's order. Chunks are computed by `config.workers` threads (numpy releases
    the GIL), at most ``2 * workers`` chunks in flight: while the caller reduces one chunk the
    workers already have the next ones, so no core waits on the caller. With `per_category`
    (and an uncertainty), each chunk also carries its `category_contenders` for TopPerCategory.
    ``extra_columns``: the candidate query's columns holding the scorer's dense pair columns."""

    n_extra = None if scorer.w_extra is None else scorer.w_extra.shape[0]

    def work(batch: pa.RecordBatch) -> ScoredChunk:
        extra = extra_matrix(batch, extra_columns, n_extra) if extra_columns else None
        proba = scorer.member_proba(batch.column("a_pos").to_numpy(), batch.column("b_pos").to_numpy(), extra)
        scores = None
        if uncertainty is not None:
            scores = np.asarray(uncertainty(proba, batch.column("pair_key")), dtype=np.float64)
        chunk = ScoredChunk(batch=batch, member_proba=proba, uncertainty=scores, item_ids=vectors.ids)
        if scores is not None and per_category is not None and len(scores):
            chunk.contenders = category_contenders(chunk, scores, per_category)
        return chunk

    batches = candidate_batches(con, candidates_sql, vectors, config.chunk_rows, params, extra_columns)
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
    layout: PairLayout | None = None,
    extra_columns: Sequence[str] = (),
) -> tuple[list[dict], int]:
    """Score every candidate and keep the `per_category` most uncertain pairs per fine category.

    ``candidates_sql``: a query with pair_key, item_a_id, item_b_id, fine_category (e.g.
    `candidate_pairs_sql(...)`). ``weights, bias``: `BaggedEnsemble.stacked_weights()`.
    ``uncertainty``: e.g. `acquisition.strategy_uncertainty('margin')`. Returns the kept rows (pair_key, item
    ids, fine_category, mean_proba, uncertainty_score), most uncertain first, and the number of
    pairs scored. The caller applies the round's budget to this list. ``vectors`` dense or sparse
    (`make_scorer`); ``layout``: the pair-feature order the ensemble was trained on (default: the
    vectors' kind's); ``extra_columns``: the candidate query's columns holding the layout's
    ``n_extra`` dense pair columns, in order.
    """
    scorer = make_scorer(weights, bias, vectors, n_members, config.dtype, layout)
    _check_extra_columns(scorer, extra_columns)
    reducer = TopPerCategory(per_category=per_category)
    for chunk in iter_scored_chunks(con, candidates_sql, scorer, vectors, config, params, uncertainty, per_category,
                                    extra_columns):
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


def _check_extra_columns(scorer: PairScorer, extra_columns: Sequence[str]) -> None:
    """One name per extra column, or one name (a list column holding them all)."""
    n_extra = 0 if scorer.w_extra is None else scorer.w_extra.shape[0]
    if len(extra_columns) != n_extra and not (n_extra and len(extra_columns) == 1):
        raise ValueError(f"the pair layout has {n_extra} extra columns but {len(extra_columns)} are named")


def score_candidate_frame(ensemble, vectors, candidates, config: ScoringConfig = ScoringConfig(),  # noqa: ANN001
                          layout: PairLayout | None = None, extra_columns: Sequence[str] = ()) -> np.ndarray:
    """(M, n, C) member probabilities for an in-memory candidate frame (item_a_id, item_b_id and
    the ``extra_columns``).

    ``ensemble``: a fitted BaggedEnsemble; ``vectors``: the run's ItemVectors (dense or sparse).
    Same math as `score_candidates`, in chunks; for pools too large for memory use that instead.
    """
    weights, bias = ensemble.stacked_weights()
    n_members = int(np.asarray(ensemble.coef_).shape[0])
    scorer = make_scorer(weights, bias, vectors, n_members, config.dtype, layout)
    _check_extra_columns(scorer, extra_columns)
    extra = None
    if extra_columns:
        n_extra = scorer.w_extra.shape[0]
        if len(extra_columns) == 1 and n_extra > 1:  # one column of lists
            extra = np.stack(candidates[extra_columns[0]].to_numpy()).astype(np.float32)
        else:
            extra = candidates[list(extra_columns)].to_numpy(dtype=np.float32)
    a_pos = vectors.rows(candidates["item_a_id"].to_numpy(dtype=object))
    b_pos = vectors.rows(candidates["item_b_id"].to_numpy(dtype=object))
    n_classes = scorer.n_classes
    out = np.empty((n_members, len(a_pos), n_classes), dtype=np.float64)
    with single_threaded():
        for start in range(0, len(a_pos), config.chunk_rows):
            stop = start + config.chunk_rows
            out[:, start:stop] = scorer.member_proba(a_pos[start:stop], b_pos[start:stop],
                                                     None if extra is None else extra[start:stop])
    return out
