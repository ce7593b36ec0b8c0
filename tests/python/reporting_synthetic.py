"""Synthetic raw rows for the reporting tests: two runs (qbc, random) of three rounds on made-up
items, K = 3 calls per selected pair with unanimous, majority-only, split and invalid votes,
round metrics, pool predictions, run steps and a few human judgements.

No FBL rows: titles and ids are invented. Every figure is deterministic so tests can assert exact
counts.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb

from python_jobs.warehouse.keys import pair_key

START = datetime(2026, 1, 1, 12, 0, 0)
RUNS = [("run_qbc", "qbc", 0), ("run_random", "random", 0)]
ROUNDS = 3
CLASSES = ("substitute", "complement", "other")
FBL_OF = {"substitute": 1, "complement": 4, "other": 8}

# Vote patterns per selected pair (None = an invalid call). Indexed by (round, position).
VOTE_PATTERNS: list[tuple[str | None, str | None, str | None]] = [
    ("substitute", "substitute", "substitute"),  # unanimous
    ("complement", "complement", "complement"),  # unanimous
    ("substitute", "substitute", "complement"),  # majority only
    ("other", "complement", "substitute"),  # split
    ("other", "other", None),  # invalid vote
]


def item_id(n: int) -> str:
    return f"synth:{n:04d}"


def item_title(n: int) -> str:
    return f"Synthetic product number {n}"


def selected_pairs(run_index: int, round_index: int) -> list[tuple[str, str]]:
    base = 100 + run_index * 100 + round_index * 10
    return [(item_id(base + 2 * i), item_id(base + 2 * i + 1)) for i in range(len(VOTE_PATTERNS))]


def reference_label(votes: tuple[str | None, ...]) -> str:
    # the known label is the first vote: unanimous pairs are right, the majority pair's majority is right
    return votes[0] or "other"


def metrics_for(run_index: int, round_index: int) -> dict[str, object]:
    gain = 0.05 if run_index == 0 else 0.02
    ood = 0.40 + gain * min(round_index, 1)  # flat after round 1 -> a stopping signal
    id_ = 0.55 + gain * round_index
    annotated = 0 if round_index == ROUNDS - 1 else len(VOTE_PATTERNS)  # the last round annotates nothing
    figures: dict[str, object] = {
        "id_macro_f1": id_,
        "ood_macro_f1": ood,
        "id_accuracy": id_ + 0.1,
        "ood_accuracy": ood + 0.1,
        "diversity": 0.30 + 0.02 * round_index,
        "n_training_labels": 6 + 2 * round_index,
        "n_added_labels": 2 * round_index,
        "n_annotated_pairs": annotated,
        "n_calls": 3 * annotated,
        "n_accepted_pairs": 2 if annotated else 0,
        "yield": 2 / annotated if annotated else None,
        "accepted_substitute": 1 if annotated else 0,
        "accepted_complement": 1 if annotated else 0,
        "accepted_other": 0,
        "cost_usd": 0.001 * 3 * annotated,
    }
    for k, c in enumerate(CLASSES):
        figures[f"id_f1_{c}"] = id_ + 0.01 * k
        figures[f"ood_f1_{c}"] = ood + 0.01 * k
    return figures


def write_synthetic_raw(con: duckdb.DuckDBPyConnection) -> None:
    """Insert the synthetic rows into the raw tables (which must exist)."""
    _write_human_judgements(con)
    _write_catalog(con)
    for run_index, (run_id, strategy, seed) in enumerate(RUNS):
        con.execute(
            "insert into raw.runs values (?, ?, 'simulated', ?, ?, ?, ?, ?)",
            [run_id, strategy, seed, ROUNDS - 1, len(VOTE_PATTERNS), json.dumps({"strategy": strategy}), START],
        )
        for round_index in range(ROUNDS):
            at = START + timedelta(minutes=10 * round_index + run_index)
            for step, seconds in (("train", 1.5), ("select", 0.3), ("annotate", 2.0), ("build", 1.0), ("evaluate", 0.5)):
                con.execute("insert into raw.run_steps values (?, ?, ?, ?, ?)", [run_id, round_index, step, seconds, at])
            con.execute(
                "insert into raw.round_metrics values (?, ?, ?, ?)",
                [run_id, round_index, json.dumps(metrics_for(run_index, round_index)), at],
            )
            _write_pool_predictions(con, run_id, run_index, round_index, at)
            if round_index == ROUNDS - 1:
                continue  # the last round only evaluates; it annotates nothing
            for position, (a, b) in enumerate(selected_pairs(run_index, round_index)):
                votes = VOTE_PATTERNS[position]
                key = pair_key(a, b)
                con.execute(
                    "insert into raw.selections values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, round_index, key, a, b, f"cat{position}", strategy, 0.9 - 0.1 * position,
                     reference_label(votes), at],
                )
                for attempt, vote in enumerate(votes, start=1):
                    con.execute(
                        """insert into raw.llm_calls (call_id, run_id, round_index, pair_key, item_a_id, item_b_id,
                               attempt_index, annotator_kind, model, prompt_version, prompt_hash, request_params,
                               raw_response, fbl_label, relation_label, is_valid, error_class, retries, tokens_in,
                               tokens_out, cost_usd, latency_ms, created_at)
                           values (?, ?, ?, ?, ?, ?, ?, 'simulated', 'sim-model', 'v1', 'hash1', '{}', ?, ?, ?, ?, ?,
                                   ?, 100, 10, 0.001, ?, ?)""",
                        [f"{run_id}:{round_index}:{key}:{attempt}", run_id, round_index, key, a, b, attempt,
                         json.dumps({"label": vote}), FBL_OF.get(vote or ""), vote, vote is not None,
                         None if vote is not None else "parse_error", 1 if vote is None else 0,
                         100.0 * attempt + position, at],
                    )


def _write_pool_predictions(con: duckdb.DuckDBPyConnection, run_id: str, run_index: int,
                            round_index: int, at: datetime) -> None:
    # 20 pool pairs; share changed since the previous round: round 1 -> 5/20, round 2 -> 1/20
    for n in range(20):
        label = CLASSES[n % 3]
        if round_index >= 1 and n < 5:
            label = CLASSES[(n + 1) % 3]
        if round_index == 2 and n == 19:
            label = CLASSES[(n + 2) % 3]
        con.execute(
            "insert into raw.pool_predictions values (?, ?, ?, ?, ?)",
            [run_id, round_index, pair_key(item_id(900 + 2 * n), item_id(901 + 2 * n)), label, at],
        )


def _write_human_judgements(con: duckdb.DuckDBPyConnection) -> None:
    # 6 FBL2023-like pairs with three annotators each; codes picked so every class has a majority
    codes = [(1, 1, 1), (1, 1, 4), (4, 4, 2), (2, 5, 4), (8, 8, 9), (8, 9, 9)]
    con.execute(
        "insert into raw.ingest_batches values ('synthetic', 'fbl', 'synthetic.tsv', 'sha', 18, 0, ?)", [START]
    )
    for n, triple in enumerate(codes):
        a, b = item_id(2 * n), item_id(2 * n + 1)
        for slot, code in enumerate(triple, start=1):
            con.execute(
                "insert into raw.fbl_judgements values ('FBL2023', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'fbl9', 'synthetic', ?)",
                [n + 2, f"https://example.invalid/{a}", a, item_title(2 * n), f"https://example.invalid/{b}", b,
                 item_title(2 * n + 1), slot, f"annotator{slot}", code, START],
            )


def _write_catalog(con: duckdb.DuckDBPyConnection) -> None:
    # every selected and pool item is a (made-up) catalogue item
    con.execute(
        "insert into raw.ingest_batches values ('synthetic-catalog', 'catalog', 'synthetic.csv', 'sha2', 250, 0, ?)",
        [START],
    )
    for n in [*range(100, 300), *range(900, 950)]:
        con.execute(
            "insert into raw.catalog_items values ('synthetic', ?, ?, 'food', ?, ?, 'synthetic-catalog', ?)",
            [item_id(n), item_title(n), f"aisle{n % 5}", f"shelf{n % 10}", START],
        )
