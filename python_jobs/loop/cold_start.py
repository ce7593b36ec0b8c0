"""Cold start (issue 22): a team with a catalogue and no labels at all starts a run.

`karl run --cold-start N` on a warehouse without human training labels: before round 0 trains,
the annotator is asked about N candidate pairs chosen for coverage, and round 0's ensemble (and
every later one) trains on the accepted answers. Its selections, calls and labels are recorded
under round index -1 (COLD_START_ROUND), so round t still trains on the labels of rounds < t and
every existing mart and invariant (unanimity, K calls per label) covers them unchanged.

Coverage, in two stages (`coverage_picks`, pure):
1. categories first: the fine categories are visited parent by parent in turn (every parent
   category gets a pair before any gets a second, then every fine category), cycling until N;
2. within a visited fine category, the candidate farthest (Euclidean, pair embedding [a + b,
   |a - b|] of the item vectors) from every pair picked so far: greedy k-center.

The cold-start labels are the run's base labels (with any human ones): the ID cross-validation
runs over them, so its figures are there once every class has ID_CV_SPLITS labels; until then
the rounds record NULL ID figures and the run says so once. A class with no label at all stops
the run (bagging members undersample to the smallest class) with one line naming the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

import duckdb
import numpy as np
import pandas as pd

from python_jobs.annotation.base import BudgetExhausted, CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.labels import RELATION_CLASSES
from python_jobs.learning import batch_selection
from python_jobs.learning.scoring import candidate_pairs_sql
from python_jobs.loop import data, roles, run_store
from python_jobs.loop.run_store import now
from python_jobs.loop.steps import ID_CV_SPLITS, RoundState, Run, RunStopped, build
from python_jobs.reporting.progress import RunProgress


class ColdStartRun(Run, Protocol):
    """What the cold start needs of a run (loop.runner.Orchestrator): the steps' view, its log and
    its published progress."""

    log: Callable[[str], None]
    progress: RunProgress

COLD_START_ROUND = -1
COLD_START_STRATEGY = "cold_start"
STEPS = ("cold_select", "cold_annotate", "cold_build")


class ColdStartTooSmall(RunStopped):
    """After the cold start a class has no label: no ensemble member can be balanced."""


def is_cold_start(con: duckdb.DuckDBPyConnection, cold_start: int, train_labels: Sequence[str] | None = None) -> bool:
    """A run cold-starts when asked to (--cold-start N > 0) and it has no human training labels:
    `--train-labels none`, or a warehouse that holds none (e.g. a catalogue only)."""
    if cold_start <= 0:
        return False
    if train_labels is not None and len(train_labels) == 0:
        return True
    if train_labels is not None:
        return roles.n_judgements(con, tuple(train_labels)) == 0
    return run_store.n_human_training_labels(con) == 0


def cold_start_labels(con: duckdb.DuckDBPyConnection, run_id: str) -> data.LabelledPairs:
    """The labels this run's cold start accepted (round COLD_START_ROUND)."""
    return data.LabelledPairs.from_frame(con.execute("""
        select pair_key, item_a_id, item_b_id, relation_label
        from marts.fct_training_labels
        where label_source = 'llm' and run_id = ? and round_index = ?
        order by pair_key
    """, [run_id, COLD_START_ROUND]).df())


def fine_category_order(fine: Sequence[str], parent: Sequence[str], seed: int) -> list[str]:
    """Fine categories, parents in turn: the first fine category of every parent, then the second
    of every parent, ... (parents and their fine categories in a seeded order)."""
    rng = np.random.default_rng(seed)
    by_parent: dict[str, list[str]] = {}
    for f, p in sorted(set(zip(fine, parent))):
        by_parent.setdefault(p, []).append(f)
    parents = sorted(by_parent)
    parents = [parents[i] for i in rng.permutation(len(parents))]
    queues = [[by_parent[p][i] for i in rng.permutation(len(by_parent[p]))] for p in parents]
    order: list[str] = []
    seen: set[str] = set()
    for depth in range(max((len(q) for q in queues), default=0)):
        for queue in queues:
            if depth < len(queue) and queue[depth] not in seen:
                seen.add(queue[depth])
                order.append(queue[depth])
    return order


def coverage_picks(embeddings: np.ndarray, fine: Sequence[str], parent: Sequence[str], n: int,
                   seed: int = 0) -> tuple[list[int], np.ndarray]:
    """Row indices of up to n candidates for coverage (module doc) and each pick's distance to
    the picks before it (inf for the first). Pure and seeded."""
    order = fine_category_order(fine, parent, seed)
    members = {category: np.asarray(rows) for category, rows in
               pd.Series(list(fine), dtype=object).groupby(list(fine), sort=False).indices.items()}
    distance = np.full(len(fine), np.inf, dtype=np.float32)
    taken = np.zeros(len(fine), dtype=bool)
    picks: list[int] = []
    gaps: list[float] = []
    points = np.asarray(embeddings, dtype=np.float32)
    squares = np.einsum("ij,ij->i", points, points)
    while len(picks) < n and not taken.all():
        progressed = False
        for category in order:
            if len(picks) >= n:
                break
            rows = members[category][~taken[members[category]]]
            if not len(rows):
                continue
            best = int(rows[np.argmax(distance[rows])])  # first of the ties: the pool's order
            picks.append(best)
            gaps.append(float(distance[best]))
            taken[best] = True
            # |p - c|^2 = |p|^2 + |c|^2 - 2 p.c: one matrix-vector product a pick
            d2 = squares + squares[best] - 2.0 * (points @ points[best])
            distance = np.minimum(distance, np.sqrt(np.maximum(d2, 0.0)))
            progressed = True
        if not progressed:
            break
    return picks, np.asarray(gaps)


def pair_embeddings(item_matrix: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    """float32 unit rows [a + b, |a - b|] (learning/batch_selection.pair_embedding's), the items
    projected once rather than once per pair."""
    items = batch_selection.project_items(item_matrix).astype(np.float32)
    a, b = items[rows_a], items[rows_b]
    embedded = np.hstack([a + b, np.abs(a - b)])
    norms = np.linalg.norm(embedded, axis=1, keepdims=True)
    return np.divide(embedded, norms, out=np.zeros_like(embedded), where=norms > 0)


def _select(run: ColdStartRun) -> None:
    config = run.config
    sql, params = candidate_pairs_sql(config.run_id)
    pool = run.con.execute(f"""
        select c.pair_key, c.item_a_id, c.item_b_id, c.fine_category, p.parent_category
        from ({sql}) as c inner join marts.fct_candidate_pairs as p on p.pair_key = c.pair_key
        order by c.pair_key
    """, params).df()
    if pool.empty:
        raise RunStopped("The cold start found no candidate pairs: the candidate pool is empty "
                         "(check --catalog and --candidate-source sampler, then `karl build`).")
    embeddings = pair_embeddings(run.vectors.matrix, run.vectors.rows(pool["item_a_id"].to_numpy(dtype=object)),
                                 run.vectors.rows(pool["item_b_id"].to_numpy(dtype=object)))
    picks, gaps = coverage_picks(embeddings, pool["fine_category"].tolist(), pool["parent_category"].tolist(),
                                 config.cold_start, seed=config.seed)
    chosen = pool.iloc[picks]
    finite = np.where(np.isfinite(gaps), gaps, 0.0)
    reference = run.reference_labels()
    stamp = now()
    run.store.record_selections([
        (config.run_id, COLD_START_ROUND, row.pair_key, row.item_a_id, row.item_b_id, row.fine_category,
         COLD_START_STRATEGY, float(gap), reference.get(row.pair_key), stamp)
        for row, gap in zip(chosen.itertuples(index=False), finite)])
    run.store.store_artifact("cold_start_selection", {
        "n_asked": int(len(chosen)), "n_candidates": int(len(pool)),
        "n_fine_categories": int(chosen["fine_category"].nunique()),
        "n_parent_categories": int(chosen["parent_category"].nunique()),
        "fine_categories_in_pool": int(pool["fine_category"].nunique()),
        "parent_categories_in_pool": int(pool["parent_category"].nunique())})


def _annotate(run: ColdStartRun) -> None:
    """K calls per cold-start pair, each recorded as it completes (loop/steps.annotate's, with
    its own message at the cost budget)."""
    config = run.config
    pairs = data.pairs_to_annotate(run.con, config.run_id, COLD_START_ROUND)
    try:
        run.annotator().annotate(pairs, CallContext(config.run_id, COLD_START_ROUND, config.k_calls),
                                 DuckDBCallSink(run.con))
    except BudgetExhausted as error:
        raise RunStopped(
            f"The cold start stopped at the cost budget: {error}. Every call made so far is recorded; "
            f"`karl run --resume {config.run_id} --max-cost <more>` sends only the missing calls.") from error


def run_cold_start(run: ColdStartRun) -> None:
    """Round 0's cold start: select for coverage, annotate K times, build (steps recorded under
    COLD_START_ROUND, so a resumed run continues where it stopped); then check the classes."""
    done = run.store.completed_steps()
    state = RoundState()
    actions = {"cold_select": lambda: _select(run),
               "cold_annotate": lambda: _annotate(run),
               "cold_build": lambda: build(run, COLD_START_ROUND, state)}
    for name in STEPS:
        if (COLD_START_ROUND, name) in done:
            continue
        started = time.perf_counter()
        with run.progress.phase("cold start", name.removeprefix("cold_")):
            actions[name]()
        run.store.mark_done(COLD_START_ROUND, name, time.perf_counter() - started)
    labels = cold_start_labels(run.con, run.config.run_id)
    counts = class_counts(labels.labels)
    selection = run.store.artifact("cold_start_selection") or {}
    run.log(f"Cold start: asked about {selection.get('n_asked', '?')} pairs over "
            f"{selection.get('n_fine_categories', '?')} fine and {selection.get('n_parent_categories', '?')} parent "
            f"categories; {len(labels)} accepted ({', '.join(f'{c} {n}' for c, n in counts.items())}).")
    missing = [c for c, n in counts.items() if n == 0]
    if missing:
        raise ColdStartTooSmall(
            f"The cold start of {run.config.cold_start} pairs gave no {' and no '.join(missing)} label: an ensemble "
            f"member needs at least one label of each class. Raise --cold-start (e.g. "
            f"--cold-start {2 * run.config.cold_start}) or load labels first.")


def class_counts(labels: Sequence[str] | np.ndarray) -> dict[str, int]:
    values = pd.Series(np.asarray(labels, dtype=object)).value_counts()
    return {c: int(values.get(c, 0)) for c in RELATION_CLASSES}


def id_cv_shortfall(labels: Sequence[str] | np.ndarray) -> str | None:
    """Why the ID cross-validation cannot run on these base labels (None when it can)."""
    counts = class_counts(labels)
    short = {c: n for c, n in counts.items() if n < ID_CV_SPLITS}
    if not short:
        return None
    return (f"No ID figures: the ID cross-validation needs {ID_CV_SPLITS} labels of each class in its base set "
            f"and has {', '.join(f'{c} {n}' for c, n in short.items())}; the rounds record NULL ID macro-F1.")
