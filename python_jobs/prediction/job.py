"""`karl predict`, whole: the predictions into raw.pair_predictions, then the prediction marts
(fct_model_versions, fct_model_training_labels, fct_pair_relations, rpt_item_relations) built."""

from __future__ import annotations

from pathlib import Path

import duckdb

from python_jobs import warehouse
from python_jobs.config import ScoringConfig
from python_jobs.prediction.predict import PredictionSummary, predict

# The prediction marts and the staging views under them; nothing upstream (the candidate pool
# keeps the vars of the run that built it).
PREDICTION_MODELS = ["stg_karl__model_versions", "stg_karl__model_training_labels", "stg_karl__pair_predictions",
                     "path:models/marts/prediction"]
PREDICTION_BUILD_ARGS = ["build", "--select", *PREDICTION_MODELS, "--exclude", "resource_type:unit_test"]


def predict_relations(con: duckdb.DuckDBPyConnection, run_id: str | None = None, catalog: str | None = None,
                      config: ScoringConfig = ScoringConfig(), build: bool = True,
                      db_path: Path | str | None = None) -> PredictionSummary:
    """Predict the catalogue's candidate pairs with the run's final model, then build the marts."""
    summary = predict(con, run_id=run_id, catalog=catalog, config=config)
    if build:
        warehouse.run_dbt(PREDICTION_BUILD_ARGS, db_path=db_path)
    return summary
