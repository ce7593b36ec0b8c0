"""Which human-labelled pairs are evaluation data, so no prompt ever shows one as an example.

- the OOD test half (`marts.fct_eval_sets`, eval_set 'test'): never annotated by `karl judge`,
  never an example;
- the judge reserve: a fixed half of the train datasets' pairs (a hash of the pair key with a fixed
  salt, so it never moves between runs or machines), from which `karl judge` samples; never an
  example;
- every other dataset (the pool and evaluation datasets: FBL2024 by default), whose pool half the
  loop selects and annotates; never an example either.

So few-shot examples come only from the train datasets' pairs outside the judge reserve (the run's
`--train-labels`; FBL2023 by default).
"""

from __future__ import annotations

import hashlib

import duckdb

from python_jobs.config import DEFAULT_TRAIN_LABELS

JUDGE_RESERVE_SALT = "karl-judge-reserve-v1"


def is_judge_reserved(pair_key: str) -> bool:
    return hashlib.sha256(f"{JUDGE_RESERVE_SALT}:{pair_key}".encode()).digest()[0] < 128


def evaluation_pair_keys(con: duckdb.DuckDBPyConnection,
                         example_datasets: tuple[str, ...] = DEFAULT_TRAIN_LABELS) -> set[str]:
    """Every pair a few-shot example must never be: the pairs of every dataset but the train
    datasets (`example_datasets`), and the train datasets' judge reserve."""
    rows = con.execute("select pair_key, dataset from marts.fct_human_labels").fetchall()
    return {key for key, dataset in rows if dataset not in example_datasets or is_judge_reserved(key)}
