"""Score the candidate pool through any fitted ensemble by building its pair rows per chunk.

The stacked linear kernels (learning/scoring.py, and the sparse kernel of issue 11 item 2) are
the fast way for linear members on item-vector blocks. This path is the general one: any
feature set (`features/sets.PairFeatures`, sparse rows, title-overlap columns) and any member
family (hgb), at the price of materialising one chunk's pair rows. Same streaming, same
reducer (TopPerCategory), so the picks do not depend on which path scored them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from python_jobs.config import ScoringConfig
from python_jobs.features.vectors import ItemVectors
from python_jobs.learning.acquisition import Uncertainty
from python_jobs.learning.blas import single_threaded
from python_jobs.learning.chunks import ScoredChunk
from python_jobs.learning.scoring import candidate_batches
from python_jobs.learning.top_per_category import TopPerCategory, category_contenders

PairRows = Callable[[np.ndarray, np.ndarray], object]   # (item_a_ids, item_b_ids) -> (n, F) rows
MemberProba = Callable[[object], np.ndarray]          # rows -> (M, n, C)


def score_candidates_by_rows(
    con,  # noqa: ANN001 - duckdb connection
    candidates_sql: str,
    pair_rows: PairRows,
    member_proba: MemberProba,
    positions: ItemVectors,
    uncertainty: Uncertainty,
    per_category: int = 1,
    config: ScoringConfig = ScoringConfig(),
    params: list | None = None,
) -> tuple[list[dict], int]:
    """Like scoring.score_candidates: the `per_category` most uncertain pairs per fine category
    (most uncertain first) and the number scored. ``positions``: any ItemVectors of all items
    (used for the id <-> position mapping of the scan only)."""
    reducer = TopPerCategory(per_category=per_category)
    with single_threaded():
        for batch in candidate_batches(con, candidates_sql, positions, config.chunk_rows, params):
            a_ids = positions.ids[batch.column("a_pos").to_numpy()]
            b_ids = positions.ids[batch.column("b_pos").to_numpy()]
            proba = member_proba(pair_rows(a_ids, b_ids))
            scores = np.asarray(uncertainty(proba, batch.column("pair_key")), dtype=np.float64)
            chunk = ScoredChunk(batch=batch, member_proba=proba, uncertainty=scores, item_ids=positions.ids)
            if len(scores):
                chunk.contenders = category_contenders(chunk, scores, per_category)
            reducer.add(chunk)
    return reducer.result(), reducer.n_scored


def score_frame_by_rows(pair_rows: PairRows, member_proba: MemberProba, candidates: pd.DataFrame,
                        chunk_rows: int = 65_536) -> np.ndarray:
    """(M, n, C) member probabilities of an in-memory candidate frame (item_a_id, item_b_id)."""
    a_ids = candidates["item_a_id"].to_numpy(dtype=object)
    b_ids = candidates["item_b_id"].to_numpy(dtype=object)
    parts = []
    with single_threaded():
        for start in range(0, len(a_ids), chunk_rows):
            parts.append(member_proba(pair_rows(a_ids[start:start + chunk_rows], b_ids[start:start + chunk_rows])))
    return np.concatenate(parts, axis=1)
