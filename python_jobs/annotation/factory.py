"""Builds the annotator a run asks for, from what the warehouse holds."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, Mapping

import duckdb

from python_jobs.annotation.base import Annotator
from python_jobs.annotation.few_shot_pool import load_pool
from python_jobs.annotation.openai.batch import BatchAnnotator
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.openai.preflight import preflight
from python_jobs.annotation.replay import RecordedJudgement, ReplayAnnotator
from python_jobs.annotation.simulated import NoiseModel, SimulatedAnnotator
from python_jobs.config import DEFAULT_TRAIN_LABELS, RunConfig, llm_settings_from_env
from python_jobs.judge.marts import require_judge
from python_jobs.loop.reference import reference_labels_for


def recorded_judgements(con: duckdb.DuckDBPyConnection) -> dict[str, list[RecordedJudgement]]:
    """Every pair's human judgements in annotator-slot order (FBL2024 pool pairs are the ones
    the offline loop selects)."""
    rows = con.execute("""
        select pair_key, annotator_id, relation_label, fbl_label
        from staging.stg_karl__labelled_judgements
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
        from python_jobs.annotation.panels.annotator import PanelAnnotator

        return PanelAnnotator(reference_labels if reference_labels is not None
                              else reference_labels_for(con, config), config.panel, config.seed)
    live = openai_annotator(con, {"max_cost_usd": config.max_cost_usd}, example_datasets=config.train_labels)
    if config.llm_batch or live.config.batch:
        return BatchAnnotator(live, con)
    return live


def openai_annotator(con: duckdb.DuckDBPyConnection, overrides: dict[str, Any] | None = None,
                     env: Mapping[str, str] | None = None,
                     example_datasets: tuple[str, ...] = DEFAULT_TRAIN_LABELS) -> OpenAIAnnotator:
    """The openai annotator from the environment (os.environ unless `env`) and `overrides`
    (LLMSettings fields), with the few-shot example pool from the warehouse (the pairs of
    `example_datasets`, the run's train datasets, outside the judge reserve) when its settings
    ask for examples."""
    env = os.environ if env is None else env
    settings = llm_settings_from_env(env, overrides)
    pool = load_pool(con, example_datasets=example_datasets) if settings.few_shot != "none" else None
    return OpenAIAnnotator.from_env(overrides, env=env, example_pool=pool)


def check_openai_run(con: duckdb.DuckDBPyConnection, config: RunConfig) -> list[str]:
    """Before round 0, in seconds: the endpoint serves the model (preflight) and, with
    --require-judge, a complete `karl judge` measured this model, prompt and few-shot setting.
    Raises a KarlError (PreflightError, JudgeMissing) with what to fix; returns what it found."""
    live = openai_annotator(con, {"max_cost_usd": config.max_cost_usd}, example_datasets=config.train_labels)
    found = preflight(live)
    lines = [(f"preflight: {found.endpoint} serves {', '.join(found.models)} (response_format "
              f"{found.response_format}, logprobs {'yes' if found.logprobs else 'no'}, confidence {found.confidence}) "
              f"in {found.seconds:.2f} s")]
    if config.require_judge:
        judged = require_judge(con, live)
        lines.append(f"judge {judged['judge_id']}: 3-class accuracy {judged['accuracy']:.3f}, "
                     f"Cohen's kappa {judged['cohens_kappa']:.3f} on {judged['n_pairs']} pairs")
    return lines
