"""Builds the annotator a run asks for, from what the warehouse holds."""

from __future__ import annotations

from collections import defaultdict

import duckdb

from python_jobs.annotation.base import Annotator
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.replay import RecordedJudgement, ReplayAnnotator
from python_jobs.annotation.simulated import NoiseModel, SimulatedAnnotator
from python_jobs.config import RunConfig
from python_jobs.loop.reference import reference_labels_for


def recorded_judgements(con: duckdb.DuckDBPyConnection) -> dict[str, list[RecordedJudgement]]:
    """Every pair's human judgements in annotator-slot order (FBL2024 pool pairs are the ones
    the offline loop selects)."""
    rows = con.execute("""
        select pair_key, annotator_id, relation_label, fbl_label
        from staging.stg_fbl__judgements
        order by dataset desc, pair_key, annotator_slot
    """).fetchall()
    judgements: dict[str, list[RecordedJudgement]] = defaultdict(list)
    for pair_key, annotator_id, relation_label, fbl_label in rows:
        judgements[pair_key].append(RecordedJudgement(str(annotator_id), relation_label, fbl_label))
    return dict(judgements)


def make_annotator(con: duckdb.DuckDBPyConnection, config: RunConfig,
                   reference_labels: dict[str, str] | None = None) -> Annotator:
    """The run's annotator; `reference_labels` (the simulated annotator's truth) when the caller has them."""
    if config.annotator == "replay":
        return ReplayAnnotator(recorded_judgements(con))
    if config.annotator == "simulated":
        noise = NoiseModel(config.simulated_accuracy, config.simulated_self_consistency, config.seed)
        return SimulatedAnnotator(reference_labels if reference_labels is not None
                                  else reference_labels_for(con, config), noise)
    if config.annotator == "panel":
        from python_jobs.annotation.panel import PanelAnnotator

        return PanelAnnotator(reference_labels if reference_labels is not None
                              else reference_labels_for(con, config), config.panel, config.seed)
    return OpenAIAnnotator.from_env({"max_cost_usd": config.max_cost_usd})
