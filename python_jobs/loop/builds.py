"""The dbt builds a run runs: after each annotation step, when it starts (the candidate pool),
and when it closes."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from python_jobs import warehouse
from python_jobs.config import RunConfig
from python_jobs.loop.run_store import RunStore

# Rebuilt after each annotation step: only what the new calls change on the way to the next
# round's training set, a snapshot of the training labels (the label set as of each round), and
# the invariant tests the next round depends on (tag karl_round_invariant: unanimity, K calls,
# no test pair in training, balanced members, one label per pair and round, canonical pair keys).
# Indirect selection is off, so the other tests on these models (not_null, accepted_values,
# relationships; contracts already enforce types and not-null) run once, in the run's closing
# build (RUN_BUILD_ARGS); a round build then runs ~15 nodes instead of ~40. Unit tests check SQL
# logic, not data: `make test` runs them.
ROUND_BUILD_ARGS = [
    "build",
    "--select", "source:karl.llm_calls+,+fct_training_labels", "stg_karl__bag_members",
    # dim_pairs gains this round's selections (sampler pairs are in no FBL file).
    "dim_pairs",
    # The label set as of each round (snapshots.snap_training_labels; docs/labels_as_of_round.sql).
    "snap_training_labels",
    "tag:karl_round_invariant",
    "--indirect-selection", "empty",
    "--exclude", "resource_type:unit_test",
]
# Before a run's first round build: (re)create every model the round build reads but does not
# rebuild (staging views such as stg_karl__runs), so a warehouse built by an earlier karl, whose
# views lack a column the new models read, does not fail round 0's build. Models only (views
# and a few small tables): a few seconds, once per candidate-pool build.
REFRESH_ARGS = ["run", "--select", "+fct_consensus_labels", "+fct_training_labels", "dim_pairs"]
# The candidate pool: its categories, the sampler's intermediate models and the mart.
CANDIDATE_MODELS = ["stg_karl__item_categories", "path:models/intermediate/loop", "fct_candidate_pairs"]
CANDIDATE_BUILD_ARGS = ["build", "--select", *CANDIDATE_MODELS, "--exclude", "resource_type:unit_test"]
# At the end of a run (and before reading the stopping signal): every mart downstream of the
# job-written tables (run bookkeeping, LLM journals and judges, validation results), except the
# round-independent candidate pool.
RUN_BUILD_ARGS = [
    "build",
    "--select", "source:karl+", "source:karl_llm+", "source:karl_validation+",
    "--exclude", "fct_candidate_pairs", "resource_type:seed", "resource_type:unit_test",
]
FULL_BUILD_ARGS = ["build", "--exclude", "resource_type:unit_test"]


def role_vars(config: RunConfig) -> dict[str, object]:
    """The dbt vars of the labelled datasets' roles (loop/roles.py; dbt_project.yml declares them
    with the FBL defaults)."""
    return {"karl_train_labels": list(config.train_labels), "karl_pool_labels": list(config.pool_labels),
            "karl_eval_labels": list(config.eval_labels)}


def run_dbt_vars(config: RunConfig, store: RunStore) -> dict[str, object]:
    """The dbt vars every build of a run passes (and a build of its marts outside the run must pass)."""
    variables: dict[str, object] = {"karl_k_calls": config.k_calls,
                                    "karl_candidate_source": config.candidate_source,
                                    "karl_sampler_seed": config.seed,
                                    **role_vars(config)}
    if config.split_seed is not None:
        variables["karl_split_seed"] = config.split_seed
    category_set = (store.artifact("categories") or {}).get("category_set")
    if category_set:
        variables["karl_category_set"] = category_set
    return variables


def run_build(args: list[str], dbt_vars: dict[str, object], log: Callable[[str], None],
              db_path: Path | None = None) -> float:
    """One dbt build of a run (on `db_path`, default the configured warehouse); its warnings go to
    the run's log. Returns the seconds it took.

    Every build of a run reuses the process's parsed project (run_dbt's ``repeated``): a run
    parses once, and the runs of one process (an experiment's cells) share that parse."""
    result = warehouse.run_dbt(args, db_path=db_path, dbt_vars=dbt_vars, repeated=True)
    for warning in result.warnings:
        if "max_class_share" in warning:
            log("note: one class is more than karl_max_class_share of the LLM labels accepted in a "
                "round (dbt warning; see marts.rpt_class_balance)")
        else:
            log(f"dbt warning: {warning}")
    return result.seconds
