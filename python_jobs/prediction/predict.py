"""`karl predict`: score a catalogue's candidate pairs with a recorded model version and append
the predictions to raw.pair_predictions, streaming (memory flat in the pool's size).

The scan is the loop's (learning/scoring.iter_scored_chunks: arrow batches from DuckDB, the
stacked scorer, worker threads); each scored chunk is appended and committed as it comes, through
a second cursor, so nothing grows with the pool. Idempotent: the candidate query leaves out
pairs the model version has predicted already, so predicting twice writes nothing new, and a
predict that was interrupted fills in only the pairs it had not written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from python_jobs.config import ScoringConfig
from python_jobs.features.sparse import load_sparse_vectors
from python_jobs.features.vectors import ItemVectors, load_item_vectors
from python_jobs.learning.chunks import ScoredChunk
from python_jobs.learning.scoring import PairScorer, iter_scored_chunks, make_scorer
from python_jobs.loop.run_store import now
from python_jobs.prediction.model_store import ModelVersion, load_model_version
from python_jobs.prediction.resolve import (
    PredictionRefused,
    candidate_sql,
    catalog_namespaces,
    model_version_of_run,
    table_exists,
)

PREDICTION_CLASSES = ("substitute", "complement", "other")


@dataclass(frozen=True)
class PredictionSummary:
    """What one `karl predict` did."""

    model_version: str
    run_id: str
    round_index: int
    catalog: str | None
    n_candidates: int     # candidate pairs in scope (the catalogue's), predicted before or not
    n_written: int        # new rows in raw.pair_predictions
    n_unscorable: int     # pairs in scope whose items have no vector in the model's feature set
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def model_vectors(con: duckdb.DuckDBPyConnection, model: ModelVersion) -> ItemVectors:
    """The item vectors the model's weights index: exactly the stored feature set it trained on."""
    component, stored = next(iter(model.feature_sets.items())) if len(model.feature_sets) == 1 else (None, None)
    if component in ("svd", "embeddings"):
        return load_item_vectors(con, stored)
    if component == "char13":
        ids, matrix = load_sparse_vectors(con, stored)
        return ItemVectors(ids, matrix)
    raise PredictionRefused(
        f"Model {model.model_version} uses features {model.features!r}; `karl predict` scores linear members "
        "on one item-vector set (svd, embeddings or char13).")


class MeanScorer:
    """A member scorer whose chunks carry the members' mean (1, n, C) instead of every member's
    probabilities: the mean is taken in the scan's worker threads, not by the writer."""

    def __init__(self, scorer: PairScorer):
        self.scorer = scorer
        self.w_extra = scorer.w_extra
        self.n_classes = scorer.n_classes

    def member_proba(self, a_pos: np.ndarray, b_pos: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        return self.scorer.member_proba(a_pos, b_pos, extra).mean(axis=0, dtype=np.float32, keepdims=True)


def _prediction_table(chunk: ScoredChunk, classes: tuple[str, ...]) -> pa.Table:
    """A scored chunk (members' mean) as raw.pair_predictions columns (without model_version and
    predicted_at)."""
    mean = chunk.member_proba[0]                                  # (n, C)
    top_two = np.partition(mean, -2, axis=1)[:, -2:]
    batch = chunk.batch
    return pa.table({
        "pair_key": batch.column("pair_key"),
        "p_substitute": mean[:, classes.index("substitute")],
        "p_complement": mean[:, classes.index("complement")],
        "p_other": mean[:, classes.index("other")],
        "predicted_class": pa.array(classes).take(pa.array(mean.argmax(axis=1))),
        "uncertainty": 1.0 - (top_two[:, 1] - top_two[:, 0]),
    })


def _counts(con: duckdb.DuckDBPyConnection, scope_sql: str, params: list, model_version: str) -> tuple[int, int]:
    """(candidate pairs in scope, of which the model version has predicted already)."""
    n_scope, n_done = con.execute(f"""
        select count(*), count(p.pair_key)
        from ({scope_sql}) as c
        left join (select pair_key from raw.pair_predictions where model_version = ?) as p
            on c.pair_key = p.pair_key
    """, params + [model_version]).fetchall()[0]
    return int(n_scope), int(n_done)


def predict(con: duckdb.DuckDBPyConnection, run_id: str | None = None, catalog: str | None = None,
            config: ScoringConfig = ScoringConfig()) -> PredictionSummary:
    """Score every candidate pair (of ``catalog``'s namespaces when given) the run's final model
    version has not predicted yet, appending to raw.pair_predictions. Needs marts.fct_candidate_pairs."""
    started = time.perf_counter()
    version = model_version_of_run(con, run_id)
    namespaces = catalog_namespaces(con, catalog) if catalog else None
    if not table_exists(con, "marts", "fct_candidate_pairs"):
        raise PredictionRefused("No candidate pool (marts.fct_candidate_pairs): run `karl build` or a run first.")
    model = load_model_version(con, version)
    if set(model.classes) != set(PREDICTION_CLASSES):
        raise PredictionRefused(f"Model {version} predicts {model.classes}, not {PREDICTION_CLASSES}.")
    vectors = model_vectors(con, model)
    scorer = MeanScorer(make_scorer(model.weights, model.bias, vectors, model.n_members, config.dtype, model.layout))
    n_candidates, n_done = _counts(con, *candidate_sql(namespaces), version)
    sql, params = candidate_sql(namespaces, version)
    stamp = now()
    written = 0
    # A commit per chunk: one transaction over the whole pool would hold ~70 MB per million pairs
    # until its commit (measured); an interrupted predict's rerun writes only the pairs it lacks.
    writer = con.cursor()
    try:
        for chunk in iter_scored_chunks(con, sql, scorer, vectors, config, params):
            if not chunk.batch.num_rows:
                continue
            table = _prediction_table(chunk, model.classes)
            writer.register("_karl_predicted_chunk", table)
            writer.execute(
                "insert into raw.pair_predictions select ?, pair_key, p_substitute, p_complement, p_other, "
                "predicted_class, uncertainty, ? from _karl_predicted_chunk", [version, stamp])
            writer.unregister("_karl_predicted_chunk")
            written += table.num_rows
    finally:
        writer.close()
    return PredictionSummary(model_version=version, run_id=model.run_id, round_index=model.round_index,
                             catalog=catalog, n_candidates=n_candidates, n_written=written,
                             n_unscorable=n_candidates - n_done - written, seconds=time.perf_counter() - started)
