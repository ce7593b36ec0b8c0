"""`karl predict`: the relations table of a catalogue's candidate pairs (python_jobs/prediction/)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from python_jobs import warehouse
from python_jobs.cli.app import DbOption, _out, app, engine_settings


@app.command()
def predict(
    ctx: typer.Context,
    run_id: Optional[str] = typer.Option(None, "--run", help="The run whose final model predicts (default: the latest completed run)."),
    catalog: Optional[str] = typer.Option(None, "--catalog", help="Only candidate pairs of this catalogue's items (its name or item namespace)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Score every candidate pair with a run's final model into raw.pair_predictions (once per model
    version), then build fct_pair_relations and rpt_item_relations (labels win over predictions);
    with --engine spark, also on Spark."""
    from python_jobs.prediction.job import predict_relations

    settings = engine_settings(ctx)
    with warehouse.connection(db) as con:
        summary = predict_relations(con, run_id=run_id, catalog=catalog, db_path=db)
        if settings.engine == "spark":
            from python_jobs.spark.prediction_publishing import predictions_to_spark

            on_spark = predictions_to_spark(con, summary.run_id, settings)
            _out().info(on_spark.line(), event="spark_predicted", rows_published=on_spark.rows_published,
                        missing=list(on_spark.missing))
    message = (f"model {summary.model_version}: {summary.n_written} new predictions of {summary.n_candidates} "
               f"candidate pairs{' of ' + catalog if catalog else ''}"
               + (f" ({summary.n_unscorable} pairs have items without vectors in the model's feature set)"
                  if summary.n_unscorable else "")
               + f", in {summary.seconds:.1f} s; marts.fct_pair_relations and marts.rpt_item_relations built")
    _out().result(message, event="predicted", **summary.as_dict())
