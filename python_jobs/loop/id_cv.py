"""The round's in-distribution cross-validation, in worker processes, and the warm starts of
every fit after round 0.

The ID CV depends only on the round's training set, so with workers > 1 it runs in spawned
processes while the main process selects, annotates and builds. Each fold's members go out in
slices (MEMBERS_PER_JOB), and when the main process reaches the evaluate step it runs the slices
no worker has started: a 2-core machine stays busy to the end of the round (5 whole folds on 2
workers left one core idle for most of a fold). The figures are those of the whole fit: a slice
fits the same members on the same samples. Folds are fixed per run (the run's seed):
round-to-round ID differences are then the labels', not the split's.

Warm starts (dense rows, lbfgs; `logreg.warm_starts_help`): every fit after round 0 starts from
the matching round-0 fit (member m of the ensemble, member m of fold f in the ID CV) instead of
zeros: ~2.5x fewer lbfgs iterations. Sparse rows (newton-cg) fit faster from zeros.
Round 0 is fitted from zeros and depends only on the run's seed and the human labels, so a
resumed run refits it when it is not in memory and reproduces an uninterrupted run exactly.
A fold's start never saw the fold's test pairs (round-0 fold models train on the same folds).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from python_jobs.learning import evaluation
from python_jobs.learning.logreg import LogRegParams, warm_starts_help

MemberWeights = tuple[np.ndarray, np.ndarray]  # (coef_, intercept_) of the stacked members


def worker_pool(workers: int) -> Executor:
    """Processes for the ID cross-validation; spawned, not forked: the parent holds DuckDB and dbt threads."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def _exit_with_parent(parent_pid: int) -> None:
    """In a worker: exit as soon as the orchestrator is gone. A killed (kill -9) orchestrator
    would otherwise leave its workers waiting for work forever, holding its output pipes."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="karl-exit-with-parent", daemon=True).start()


# A fold's 10 members go to the workers as slices of this many: 10 jobs a round instead of 5
# keep both workers busy to the end, and the main process runs the slices no worker has started
# yet when it reaches the round's evaluate step (`IdCrossValidation.results`).
MEMBERS_PER_JOB = 5


@dataclass
class CvJob:
    """Some members of one fold: the job (to run here if no worker has started it) and its future."""

    fold: int
    members: range
    call: Callable[[], tuple]
    future: Future


@dataclass
class RunningCv:
    """A round's ID CV in flight: its folds, the jobs fitting their members, the number of added
    labels, and when it started."""

    folds: list
    jobs: list[CvJob]
    n_added: int
    started: float


class IdCrossValidation:
    """Submits a run's ID CV folds (to workers, or inline when workers == 1) and keeps the
    round-0 fold members as the warm starts of later rounds."""

    def __init__(self, members: int, seed: int, workers: int, pool: Executor | None = None):
        self.members = members
        self.seed = seed
        self.workers = workers
        self._pool = pool
        self._owns_pool = pool is None
        self._round0_folds: list[MemberWeights] | None = None

    def start(self, round_index: int, hyperparameters: dict, x_human: np.ndarray, y_human: np.ndarray,
              x_added: np.ndarray, y_added: np.ndarray) -> RunningCv:
        family = LogRegParams.from_dict(hyperparameters.get("params", hyperparameters)).family
        warm = warm_starts_help(x_human, family)
        starts = self._round0_fold_members(hyperparameters, x_human, y_human) if round_index > 0 and warm else None
        started = time.perf_counter()
        folds, jobs = self._submit_folds(hyperparameters, x_human, y_human, x_added, y_added, starts,
                                         keep_members=round_index == 0 and warm)
        return RunningCv(folds, jobs, len(y_added), started)

    def results(self, round_index: int, running: RunningCv) -> list[tuple[np.ndarray, MemberWeights | None]]:
        """(test predictions, fold members or None) per fold; round 0's members, when kept (dense
        rows), become the warm starts. Jobs no worker has started yet run here, last first,
        while the workers finish theirs."""
        for job in reversed(running.jobs):
            if job.future.cancel():
                job.future = _run_here(job.call)
        results = _fold_results(running.jobs, len(running.folds))
        if round_index == 0 and all(members is not None for _, members in results):
            self._round0_folds = [members for _, members in results]
        return results

    def _round0_fold_members(self, hyperparameters: dict, x_human: np.ndarray,
                             y_human: np.ndarray) -> list[MemberWeights]:
        if self._round0_folds is None:
            folds, jobs = self._submit_folds(hyperparameters, x_human, y_human, None, None, starts=None,
                                             keep_members=True)
            self._round0_folds = [members for _, members in _fold_results(jobs, len(folds))]
        return self._round0_folds

    def _submit_folds(self, hyperparameters: dict, x_human: np.ndarray, y_human: np.ndarray,
                      x_added: np.ndarray | None, y_added: np.ndarray | None,
                      starts: list[MemberWeights] | None, keep_members: bool) -> tuple[list, list[CvJob]]:
        """``starts``: the fold members to warm-start from, None for a fit from zeros;
        ``keep_members``: send the fold members back (the warm starts of later rounds)."""
        x_all, y_all, _, folds = evaluation.id_cv_inputs(x_human, y_human, x_added, y_added, seed=self.seed)
        params = hyperparameters.get("params", hyperparameters)
        jobs = []
        for fold, (train, test) in enumerate(folds):
            x_train, y_train, x_test = x_all[train], y_all[train], x_all[test]
            for first in range(0, self.members, MEMBERS_PER_JOB):
                members = range(first, min(first + MEMBERS_PER_JOB, self.members))
                start = None if starts is None else (starts[fold][0][first:members.stop],
                                                     starts[fold][1][first:members.stop])
                call = partial(evaluation.fit_fold_members, params, self.members, self.seed, fold, members,
                               x_train, y_train, x_test, start, keep_members)
                jobs.append(CvJob(fold, members, call, self._submit(call)))
        return folds, jobs

    def _submit(self, call: Callable[[], tuple]) -> Future:
        """call() in the worker pool, or here and now when workers == 1."""
        if self.workers > 1:
            if self._pool is None:
                self._pool = worker_pool(self.workers)
            return self._pool.submit(call)
        return _run_here(call)

    def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _run_here(call: Callable[[], tuple]) -> Future:
    future: Future = Future()
    try:
        future.set_result(call())
    except Exception as error:  # noqa: BLE001 - re-raised by future.result()
        future.set_exception(error)
    return future


def _fold_results(jobs: list[CvJob], n_folds: int) -> list[tuple[np.ndarray, MemberWeights | None]]:
    """Per fold: the argmax of its members' summed test probabilities, and its members' weights
    stacked in member order (None unless every slice sent them back)."""
    sums: list = [0] * n_folds
    weights: list[list[MemberWeights | None]] = [[] for _ in range(n_folds)]
    for job in sorted(jobs, key=lambda job: (job.fold, job.members.start)):
        probability_sum, members = job.future.result()
        sums[job.fold] = sums[job.fold] + probability_sum
        weights[job.fold].append(members)
    return [
        (np.asarray(total).argmax(axis=1),
         None if any(w is None for w in fold_weights) else
         (np.concatenate([w[0] for w in fold_weights]), np.concatenate([w[1] for w in fold_weights])))
        for total, fold_weights in zip(sums, weights)
    ]
