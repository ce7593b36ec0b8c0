"""What `karl --engine spark predict` adds to `karl predict`: the relations table on Spark.

As for a run, the DuckDB file is the journal and the scoring runs in the driver: the streaming
scorer (prediction/predict.py) writes raw.pair_predictions in DuckDB, chunk by chunk. Then every
raw row Spark lacks is published (spark/raw_sync.py: the model version, its training labels, the
predictions, and the categories the candidate pool reads), and Spark builds the candidate pool
with the predicting run's dbt vars and the prediction marts (fct_pair_relations,
rpt_item_relations). The pool rebuilt there is DuckDB's: it leaves out human, review and seed
labels and the evaluation halves, which a run does not change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from python_jobs.config import EngineSettings
from python_jobs.loop.builds import CANDIDATE_MODELS, run_dbt_vars
from python_jobs.loop.run_store import RunStore, load_run_config
from python_jobs.prediction.job import PREDICTION_MODELS
from python_jobs.spark.raw_sync import publish
from python_jobs.warehouse.engine import open_warehouse

# The candidate pool and the prediction marts, with the tests whose parents are all selected.
SPARK_PREDICTION_BUILD_ARGS = ["build", "--select", *CANDIDATE_MODELS, *PREDICTION_MODELS,
                               "--exclude", "resource_type:unit_test", "--indirect-selection", "cautious"]
# What those models read outside the selection: built by `karl --engine spark build` (the labels)
# and by a `--engine spark` run's close (the run's labels).
SPARK_PREDICTION_BASE_RELATIONS = ("marts.fct_human_labels", "marts.fct_training_labels", "marts.fct_eval_sets",
                                   "seeds.fbl_classes")


@dataclass(frozen=True)
class SparkPrediction:
    """What reached Spark: rows published, whether the marts were built, and the seconds."""

    rows_published: int
    missing: tuple[str, ...]
    seconds: float

    def line(self) -> str:
        if self.missing:
            return (f"Spark: {self.rows_published:,} rows published, but the relations table was not built there: "
                    f"the Spark warehouse lacks {', '.join(self.missing)}. Build it once (`karl --engine spark "
                    "build`), then `karl --engine spark predict` again builds it (nothing is scored twice).")
        return (f"Spark: {self.rows_published:,} rows published; marts.fct_pair_relations and "
                f"marts.rpt_item_relations built there in {self.seconds:.0f} s")


def predictions_to_spark(con: duckdb.DuckDBPyConnection, run_id: str, settings: EngineSettings) -> SparkPrediction:
    """Publish what Spark lacks, then build the candidate pool and the prediction marts there with
    the run's vars; or say which base marts Spark lacks for that."""
    started = time.perf_counter()
    variables = run_dbt_vars(load_run_config(con, run_id), RunStore(con, run_id))
    with open_warehouse(settings) as spark:
        report = publish(con, spark)
        missing = tuple(relation for relation in SPARK_PREDICTION_BASE_RELATIONS if not spark.has_relation(relation))
        if not missing:
            spark.run_dbt(SPARK_PREDICTION_BUILD_ARGS, dbt_vars=variables)
    return SparkPrediction(report.total, missing, time.perf_counter() - started)
