"""Candidate scoring as a Spark job: the same scores and picks as learning/scoring.py.

The driver builds the scorer the DuckDB path builds (`learning.scoring.make_scorer`: the members'
stacked weights split by pair block, the per-item terms precomputed, the item vectors) and
broadcasts it once; the candidates get their item positions from a broadcast join with the
vectors' (item_id, item_pos) table; `mapInArrow` hands each task arrow batches of
`chunk_rows` pairs, which the kernel scores exactly as the DuckDB scan scores its chunks (same
code: the sparse kernel gives a pair the same bits however the pool is chunked). Each batch is
reduced in the task to its `category_contenders` (the rows that can still be among their
category's top `per_category`, ties included), so only a few rows per category and batch leave
the task; the top per fine category is then a window (`row_number` over the category, ordered by
uncertainty descending and pair key ascending: `learning/top_per_category.TopPerCategory`'s tie
rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from python_jobs.config import ScoringConfig
from python_jobs.features.vectors import ItemVectors
from python_jobs.learning.acquisition import Uncertainty
from python_jobs.learning.chunks import ScoredChunk
from python_jobs.learning.scoring import _check_extra_columns, extra_matrix, make_scorer
from python_jobs.learning.scoring_sparse import PairLayout
from python_jobs.learning.top_per_category import category_contenders

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame

ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"

# What a scoring task emits per contender row.
CONTENDER_SCHEMA = ("pair_key string, fine_category string, a_pos int, b_pos int, "
                    "uncertainty_score double, mean_proba array<double>")


def with_positions(candidates: DataFrame, vectors: ItemVectors, extra_columns: Sequence[str] = ()) -> DataFrame:
    """(pair_key, fine_category, a_pos, b_pos, *extra_columns): candidates joined to the vectors'
    item positions, broadcast (92k items ~ 3 MB). Pairs whose items have no vector are dropped,
    as in `learning.scoring.candidate_batches`."""
    from pyspark.sql import functions as F

    positions = candidates.sparkSession.createDataFrame(vectors.positions)
    a = F.broadcast(positions.select(F.col("item_id").alias("_a_id"), F.col("item_pos").alias("a_pos")))
    b = F.broadcast(positions.select(F.col("item_id").alias("_b_id"), F.col("item_pos").alias("b_pos")))
    return (candidates
            .join(a, candidates["item_a_id"] == a["_a_id"])
            .join(b, candidates["item_b_id"] == b["_b_id"])
            .select("pair_key", "fine_category", "a_pos", "b_pos", *extra_columns))


def top_per_category(frame: DataFrame, per_category: int, score: str = "uncertainty_score") -> DataFrame:
    """The `per_category` rows of highest `score` per fine category, ties by the smaller pair key
    (TopPerCategory's rule): a window, not a collect."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("fine_category").orderBy(F.col(score).desc(), F.col("pair_key").asc())
    return (frame.withColumn("_rank", F.row_number().over(order))
            .where(F.col("_rank") <= per_category).drop("_rank"))


def score_candidates_spark(
    candidates: DataFrame,
    weights: np.ndarray,
    bias: np.ndarray,
    n_members: int,
    vectors: ItemVectors,
    uncertainty: Uncertainty,
    per_category: int = 1,
    config: ScoringConfig = ScoringConfig(),
    layout: PairLayout | None = None,
    extra_columns: Sequence[str] = (),
) -> tuple[list[dict], int]:
    """`learning.scoring.score_candidates` on Spark: the kept rows (pair_key, item ids,
    fine_category, mean_proba, uncertainty_score), most uncertain first, and the pairs scored.

    ``candidates``: a DataFrame with pair_key, item_a_id, item_b_id, fine_category (and the
    ``extra_columns``), e.g. `spark.table("marts.fct_candidate_pairs")`. ``config.chunk_rows`` is
    the arrow batch of a task; ``config.workers`` does not apply (Spark's cores are the parallelism).
    """
    spark = candidates.sparkSession
    scorer = make_scorer(weights, bias, vectors, n_members, config.dtype, layout)
    _check_extra_columns(scorer, extra_columns)
    n_extra = None if scorer.w_extra is None else scorer.w_extra.shape[0]
    shared = spark.sparkContext.broadcast(scorer)
    scored = spark.sparkContext.accumulator(0)

    def contenders(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from python_jobs.learning.blas import single_threaded

        kernel = shared.value
        with single_threaded():  # one task per core: BLAS threads would only compete
            for batch in batches:
                if batch.num_rows:
                    scored.add(batch.num_rows)
                    yield _batch_contenders(batch, kernel, uncertainty, per_category, extra_columns, n_extra)

    previous = spark.conf.get(ARROW_BATCH_CONF, None)
    spark.conf.set(ARROW_BATCH_CONF, str(config.chunk_rows))
    try:
        frame = with_positions(candidates, vectors, extra_columns).mapInArrow(contenders, CONTENDER_SCHEMA)
        kept = top_per_category(frame, per_category).toArrow()
    finally:
        if previous is None:
            spark.conf.unset(ARROW_BATCH_CONF)
        else:
            spark.conf.set(ARROW_BATCH_CONF, previous)
        shared.unpersist()
    return _kept_rows(kept, vectors), int(scored.value)


def _batch_contenders(batch: pa.RecordBatch, scorer, uncertainty: Uncertainty, per_category: int,
                      extra_columns: Sequence[str], n_extra: int | None) -> pa.RecordBatch:
    """One arrow batch scored and reduced to its category contenders (with their mean probabilities)."""
    extra = extra_matrix(batch, extra_columns, n_extra) if extra_columns else None
    a_pos = batch.column("a_pos").to_numpy()
    b_pos = batch.column("b_pos").to_numpy()
    proba = scorer.member_proba(a_pos, b_pos, extra)
    scores = np.asarray(uncertainty(proba, batch.column("pair_key")), dtype=np.float64)
    chunk = ScoredChunk(batch=batch, member_proba=proba, uncertainty=scores)
    rows = [rows for _, rows in category_contenders(chunk, scores, per_category)]
    rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    # Per row, as TopPerCategory's payload computes it (the same float64 sums).
    means = [np.asarray(proba[:, row, :], dtype=np.float64).mean(axis=0).tolist() for row in rows.tolist()]
    take = pa.array(rows, pa.int64())
    return pa.RecordBatch.from_arrays(
        [batch.column("pair_key").take(take).cast(pa.string()),
         batch.column("fine_category").take(take).cast(pa.string()),
         batch.column("a_pos").take(take).cast(pa.int32()),
         batch.column("b_pos").take(take).cast(pa.int32()),
         pa.array(scores[rows], pa.float64()),
         pa.array(means, pa.list_(pa.float64()))],
        names=["pair_key", "fine_category", "a_pos", "b_pos", "uncertainty_score", "mean_proba"])


def _kept_rows(kept: pa.Table, vectors: ItemVectors) -> list[dict]:
    """The window's rows as the DuckDB scan returns them: item ids from positions, most uncertain first."""
    rows = []
    for row in kept.to_pylist():
        rows.append({"pair_key": row["pair_key"], "fine_category": row["fine_category"],
                     "item_a_id": vectors.ids[row["a_pos"]], "item_b_id": vectors.ids[row["b_pos"]],
                     "mean_proba": row["mean_proba"], "uncertainty_score": row["uncertainty_score"]})
    return sorted(rows, key=lambda r: (-r["uncertainty_score"], r["pair_key"]))


def score_duckdb_candidates_on_spark(con, candidates_sql: str, params: list | None,
                                     *args, **kwargs) -> tuple[list[dict], int]:
    """`score_candidates_spark` on a candidate query of the DuckDB warehouse (`karl run --engine
    spark` while the run's bookkeeping stays in DuckDB): the pool goes to the process's Spark
    session (spark/session.py) as Arrow, ~1 s per 300k pairs; on a warehouse that lives
    in Spark, pass `spark.table("marts.fct_candidate_pairs")` to `score_candidates_spark` instead."""
    from python_jobs.warehouse.arrow import arrow_table
    from python_jobs.spark.session import spark_session

    pool = arrow_table(con.execute(candidates_sql, params or []))
    return score_candidates_spark(spark_session().createDataFrame(pool), *args, **kwargs)
