"""The roles a run gives labelled datasets (`--train-labels`, `--pool-labels`, `--eval-labels`),
checked before round 0 and handed to dbt as vars.

- train: the seed labels; ID = cross-validation over them (empty: a cold start).
- pool: the pairs the replay annotator may be asked about (candidate source fbl_pool).
- eval: held out; OOD is reported per eval dataset.
A dataset both pool and eval is split by anchor with the split seed (fct_eval_sets). Refused before
round 0: a dataset the warehouse does not hold, and leakage (a pair in a train and an eval dataset).
"""

from __future__ import annotations

from dataclasses import replace

import duckdb

from python_jobs.config import DEFAULT_EVAL_LABELS, DEFAULT_POOL_LABELS, DEFAULT_TRAIN_LABELS, RunConfig
from python_jobs.loop.steps import RunStopped
from python_jobs.warehouse.live_rows import LIVE_LABELLED_JUDGEMENTS

PAIR_KEY_SQL = ("case when item_a_id <= item_b_id then item_a_id || '~' || item_b_id "
                "else item_b_id || '~' || item_a_id end")


class RolesError(RunStopped):
    """The run's dataset roles cannot be used on this warehouse (the run stops before round 0)."""


def datasets_held(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Labelled datasets in the warehouse (their live version) -> judgements."""
    rows = con.execute(f"select dataset, count(*) from {LIVE_LABELLED_JUDGEMENTS} as j group by 1 order by 1").fetchall()
    return {name: int(count) for name, count in rows}


def n_judgements(con: duckdb.DuckDBPyConnection, datasets: tuple[str, ...]) -> int:
    """Judgements of `datasets` as loaded (whatever roles the last build had)."""
    held = datasets_held(con)
    return sum(held.get(name, 0) for name in datasets)


def overlapping_pairs(con: duckdb.DuckDBPyConnection, train: tuple[str, ...], evaluation: tuple[str, ...]) -> int:
    """Pairs (either direction) judged in a train dataset and in an eval dataset."""
    if not train or not evaluation:
        return 0
    marks = lambda names: ", ".join("?" for _ in names)  # noqa: E731
    (count,) = con.execute(f"""
        with pairs as (select distinct dataset, {PAIR_KEY_SQL} as pair_key from {LIVE_LABELLED_JUDGEMENTS} as j)
        select count(distinct train.pair_key)
        from pairs as train inner join pairs as evaluation on train.pair_key = evaluation.pair_key
        where train.dataset in ({marks(train)}) and evaluation.dataset in ({marks(evaluation)})
    """, [*train, *evaluation]).fetchone()
    return int(count)


def items_not_built(con: duckdb.DuckDBPyConnection, datasets: tuple[str, ...]) -> int:
    """Items of `datasets` that the last build did not put in marts.dim_items (0 before any build)."""
    built = con.execute("select count(*) from information_schema.tables "
                        "where table_schema = 'marts' and table_name = 'dim_items'").fetchone()[0]
    if not built or not datasets:
        return 0
    marks = ", ".join("?" for _ in datasets)
    (count,) = con.execute(f"""
        with items as (
            select item_a_id as item_id from {LIVE_LABELLED_JUDGEMENTS} as j where dataset in ({marks})
            union select item_b_id from {LIVE_LABELLED_JUDGEMENTS} as j where dataset in ({marks})
        )
        select count(*) from items where item_id not in (select item_id from marts.dim_items)
    """, [*datasets, *datasets]).fetchone()
    return int(count)


def without_absent_defaults(con: duckdb.DuckDBPyConnection, config: RunConfig) -> RunConfig:
    """A role left at its default (the FBL files) on a warehouse that holds none of its datasets (a
    team's catalogue, perhaps with its own labels) names no dataset, rather than refusing the run
    for datasets it never asked for; a role the user named is kept as named (and checked)."""
    held = datasets_held(con)
    roles = {}
    for role, default in (("train_labels", DEFAULT_TRAIN_LABELS), ("pool_labels", DEFAULT_POOL_LABELS),
                          ("eval_labels", DEFAULT_EVAL_LABELS)):
        if getattr(config, role) == default and not any(name in held for name in default):
            roles[role] = ()
    return replace(config, **roles) if roles else config


def check_roles(con: duckdb.DuckDBPyConnection, config: RunConfig) -> None:
    """Raise RolesError when a named dataset is missing or a train pair is also an eval pair."""
    held = datasets_held(con)
    named = dict.fromkeys((*config.train_labels, *config.pool_labels, *config.eval_labels))
    missing = [name for name in named if name not in held]
    if missing:
        have = ", ".join(f"{name} ({count} judgements)" for name, count in held.items()) or "none"
        raise RolesError(
            f"labelled dataset{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in this warehouse "
            f"(it holds: {have}). Load one with `karl ingest labels FILE --dataset NAME` (or `karl ingest fbl` "
            "for FBL2023 and FBL2024), or name another with --train-labels / --pool-labels / --eval-labels.")
    if config.candidate_source == "fbl_pool" and not config.pool_labels:
        raise RolesError("--candidate-source fbl_pool offers the pairs of the pool datasets, and --pool-labels "
                         "names none: name one, or use --candidate-source sampler.")
    leaked = overlapping_pairs(con, config.train_labels, config.eval_labels)
    if leaked:
        raise RolesError(
            f"leakage: {leaked} pair{'s' if leaked != 1 else ''} of the train datasets "
            f"({', '.join(config.train_labels)}) {'are' if leaked != 1 else 'is'} also in the eval datasets "
            f"({', '.join(config.eval_labels)}); an evaluation pair must never train. Remove them from one "
            "dataset (re-ingest it), or choose other roles.")
    unbuilt = items_not_built(con, tuple(named))
    if unbuilt:
        raise RolesError(
            f"{unbuilt} item{'s' if unbuilt != 1 else ''} of the run's labelled datasets "
            f"{'are' if unbuilt != 1 else 'is'} not in marts.dim_items yet (ingested after the last build): "
            "run `karl build` first.")


def describe(config: RunConfig) -> str:
    """One line naming the run's datasets, for the log and the report."""
    def names(values: tuple[str, ...]) -> str:
        return ",".join(values) or "none"

    split = [name for name in config.pool_labels if name in config.eval_labels]
    note = f" ({', '.join(split)} split into pool and test halves)" if split else ""
    return (f"labels: train {names(config.train_labels)}, pool {names(config.pool_labels)}, "
            f"eval {names(config.eval_labels)}{note}")
