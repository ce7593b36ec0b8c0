"""Which human-labelled pairs are evaluation data, so no prompt ever shows one as an example.

- the OOD test half (`marts.fct_eval_sets`, eval_set 'test'): never annotated by `karl judge`,
  never an example;
- the judge reserve: a fixed half of the FBL2023 pairs (a hash of the pair key with a fixed salt,
  so it never moves between runs or machines), from which `karl judge` samples; never an example;
- FBL2024's pool half: the pairs the loop selects and annotates; never an example either.

So few-shot examples come only from the FBL2023 pairs outside the judge reserve.
"""

from __future__ import annotations

import hashlib

import duckdb

JUDGE_RESERVE_SALT = "karl-judge-reserve-v1"


def is_judge_reserved(pair_key: str) -> bool:
    return hashlib.sha256(f"{JUDGE_RESERVE_SALT}:{pair_key}".encode()).digest()[0] < 128


def evaluation_pair_keys(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every pair a few-shot example must never be: FBL2024 (both halves) and the judge reserve."""
    rows = con.execute("select pair_key, dataset from marts.fct_human_labels").fetchall()
    return {key for key, dataset in rows if dataset != "FBL2023" or is_judge_reserved(key)}
