"""The candidate pool (marts.fct_candidate_pairs): one table shared by all runs, rebuilt for a
run's source, category set and seed when it starts or resumes (seconds, even for 300k pairs),
unless this process built it for the same vars and inputs and it is still what was built (the
cells of one seed in `karl experiment` share a pool)."""

from __future__ import annotations

import json
from typing import Callable

import duckdb

from python_jobs import warehouse
from python_jobs.loop.builds import CANDIDATE_BUILD_ARGS, REFRESH_ARGS


class CandidatePoolMemo:
    """Pools this process built: warehouse file -> (dbt vars, inputs, pool fingerprint). One per
    process that runs several runs (an experiment hands its memo to each cell)."""

    def __init__(self) -> None:
        self._built: dict[str, tuple] = {}

    def ensure(self, con: duckdb.DuckDBPyConnection, dbt_vars: dict[str, object],
               build: Callable[[list[str]], float]) -> None:
        """Refresh the models the round build reads, then build the pool, unless this memo built
        the same pool and it is unchanged."""
        key, state = _pool_key(con, dbt_vars)
        if self._built.get(key) != state + (pool_fingerprint(con),):
            build(REFRESH_ARGS)
            build(CANDIDATE_BUILD_ARGS)
            self._built[key] = state + (pool_fingerprint(con),)


def _pool_key(con: duckdb.DuckDBPyConnection, dbt_vars: dict[str, object]) -> tuple[str, tuple]:
    """(warehouse file, (dbt vars, fingerprint of what the pool excludes and samples from))."""
    inputs = con.execute("""
        select
            (select count(*) || ':' || coalesce(bit_xor(hash(pair_key, relation_label)), 0)
                from marts.fct_human_labels),
            (select count(*) || ':' || coalesce(bit_xor(hash(label_source, pair_key, relation_label)), 0)
                from marts.fct_training_labels where label_source <> 'llm'),
            (select count(*) || ':' || coalesce(bit_xor(hash(pair_key, eval_set)), 0) from marts.fct_eval_sets),
            (select count(*) from raw.item_categories)
    """).fetchall()[0]
    return str(warehouse.default_db_path().resolve()), (json.dumps(dbt_vars, sort_keys=True), inputs)


def pool_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'fct_candidate_pairs'").fetchall()[0][0]
    if not exists:
        return None
    return str(con.execute(
        "select count(*) || ':' || coalesce(bit_xor(hash(pair_key, fine_category, category_set)), 0) "
        "from marts.fct_candidate_pairs").fetchall()[0][0])
