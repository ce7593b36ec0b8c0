"""One bag member's fit time on the default pair rows (char13), by solver and start (issue 11).

Times (median of 5, one BLAS thread) an undersampled member of the human labels: sklearn's
lbfgs / saga / newton-cg on all columns, then karl's own fit (`logreg.fit_sparse_logreg`:
newton-cg, float32, columns present in >= 2 rows) from zeros and, after 500 pool labels are
added, from zeros against a start at the round-0 member (what `warm_starts_help` decides).

Usage (a built warehouse in KARL_DUCKDB_PATH): python benchmarks/feature_research/member_fit.py [C]
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from python_jobs.features.sets import prepare_pair_features
from python_jobs.learning.blas import single_threaded
from python_jobs.learning.ensemble import undersample_indices
from python_jobs.learning.logreg import LogRegParams, encode_labels
from python_jobs.loop import data as loop_data
from research_warehouse import open_built_warehouse


def median_seconds(fit: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fit()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def warm_newton_cg(X, y: np.ndarray, C: float, start: tuple[np.ndarray, np.ndarray]) -> None:  # noqa: ANN001
    """newton-cg from `start` on the columns present in >= 2 rows (what karl's fit did before)."""
    keep = np.flatnonzero(np.bincount(X.indices, minlength=X.shape[1]) >= 2)
    model = LogisticRegression(C=C, solver="newton-cg", tol=1e-3, max_iter=100, warm_start=True)
    model.coef_, model.intercept_ = start[0][:, keep].copy(), start[1].copy()
    model.fit(X[:, keep], y)


def main(C: float) -> None:
    from python_jobs.learning.logreg import fit_sparse_logreg

    warnings.simplefilter("ignore")
    con = open_built_warehouse()
    human = loop_data.id_human_labels(con)
    pool = loop_data.LabelledPairs.from_frame(con.execute(
        "select pair_key, item_a_id, item_b_id, relation_label from marts.fct_eval_sets "
        "where eval_set = 'pool' and relation_label is not null order by pair_key limit 500").df())
    rows = prepare_pair_features(con, "char13")
    X_human = sp.csr_matrix(rows.pair_matrix(human.item_a_ids, human.item_b_ids), dtype=np.float32)
    X_pool = sp.csr_matrix(rows.pair_matrix(pool.item_a_ids, pool.item_b_ids), dtype=np.float32)
    y_human, y_pool = encode_labels(human.labels), encode_labels(pool.labels)
    member = undersample_indices(y_human, np.random.default_rng(0))
    X, y = X_human[member], y_human[member]
    print(f"member: {X.shape[0]} rows x {X.shape[1]} columns, {X.nnz / X.shape[0]:.0f} non-zeros a row, C = {C}")
    params = LogRegParams(C=C)
    with single_threaded():
        for solver in ("lbfgs", "saga", "newton-cg"):
            seconds = median_seconds(lambda: LogisticRegression(C=C, solver=solver, tol=1e-3, max_iter=100).fit(X, y), 3)
            print(f"  sklearn {solver:9s} all columns, from zeros  {seconds:.3f} s")
        print(f"  karl fit_sparse_logreg, from zeros      {median_seconds(lambda: fit_sparse_logreg(X, y, params)):.3f} s")
        start = fit_sparse_logreg(X, y, params)
        X_more = sp.vstack([X_human, X_pool]).tocsr()
        y_more = np.concatenate([y_human, y_pool])
        grown = undersample_indices(y_more, np.random.default_rng(0))
        X2, y2 = X_more[grown], y_more[grown]
        print(f"after 500 pool labels ({X2.shape[0]} rows):")
        print(f"  from zeros                              {median_seconds(lambda: fit_sparse_logreg(X2, y2, params)):.3f} s")
        print(f"  from the round-0 member (warm start)    {median_seconds(lambda: warm_newton_cg(X2, y2, C, start)):.3f} s")


if __name__ == "__main__":
    try:
        C = float(sys.argv[1]) if len(sys.argv) > 1 else 200.0
    except ValueError:
        sys.exit(f"C must be a number, got {sys.argv[1]!r}")
    main(C)
