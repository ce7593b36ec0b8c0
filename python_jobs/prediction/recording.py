"""What the loop calls to record a run's final ensemble as a model version (prediction/model_store.py)."""

from __future__ import annotations

from typing import Protocol

import duckdb

from python_jobs.features.sets import PairFeatures
from python_jobs.learning.ensemble import BaggedEnsemble
from python_jobs.loop.run_store import now
from python_jobs.prediction.model_store import record_model_version


class _Run(Protocol):
    con: duckdb.DuckDBPyConnection
    pair_features: PairFeatures


def record_final_model(run: _Run, run_id: str, round_index: int, ensemble: BaggedEnsemble,
                       model_family: str) -> str | None:
    """Record the ensemble when `karl predict` can score with it (linear members on one item-vector
    set: the scan kernel); None otherwise (overlap features, hgb members)."""
    kernel = run.pair_features.scan_kernel() if model_family == "logreg" else None
    if kernel is None or len(run.pair_features.stored) != 1:
        return None
    _, layout = kernel
    weights, bias = ensemble.stacked_weights()
    return record_model_version(
        run.con, run_id, round_index, weights, bias, int(ensemble.coef_.shape[0]),
        [str(c) for c in ensemble.classes_], run.pair_features.name, dict(run.pair_features.stored), layout, now())
