"""The round's in-distribution cross-validation, in worker processes, and the warm starts of
every fit after round 0.

The ID CV depends only on the round's training set, so with workers > 1 it runs in spawned
processes while the main process selects, annotates and builds. Folds are fixed per run (the
run's seed): round-to-round ID differences are then the labels', not the split's.

Warm starts (dense rows, lbfgs; `ensemble.warm_starts_help`): every fit after round 0 starts from
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
from typing import Callable

import numpy as np

from python_jobs.learning import evaluation
from python_jobs.learning.ensemble import warm_starts_help

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


@dataclass
class RunningCv:
    """A round's ID CV in flight: its folds, one future per fold of (test predictions, fold
    members), the number of added labels, and when it started."""

    folds: list
    futures: list[Future]
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
        warm = warm_starts_help(x_human)
        starts = self._round0_fold_members(hyperparameters, x_human, y_human) if round_index > 0 and warm else None
        started = time.perf_counter()
        folds, futures = self._submit_folds(hyperparameters, x_human, y_human, x_added, y_added, starts,
                                            keep_members=round_index == 0 and warm)
        return RunningCv(folds, futures, len(y_added), started)

    def results(self, round_index: int, running: RunningCv) -> list[tuple[np.ndarray, MemberWeights | None]]:
        """(test predictions, fold members or None) per fold; round 0's members, when kept (dense
        rows), become the warm starts."""
        results = [future.result() for future in running.futures]
        if round_index == 0 and all(members is not None for _, members in results):
            self._round0_folds = [members for _, members in results]
        return results

    def _round0_fold_members(self, hyperparameters: dict, x_human: np.ndarray,
                             y_human: np.ndarray) -> list[MemberWeights]:
        if self._round0_folds is None:
            _, futures = self._submit_folds(hyperparameters, x_human, y_human, None, None, starts=None,
                                            keep_members=True)
            self._round0_folds = [future.result()[1] for future in futures]
        return self._round0_folds

    def _submit_folds(self, hyperparameters: dict, x_human: np.ndarray, y_human: np.ndarray,
                      x_added: np.ndarray | None, y_added: np.ndarray | None,
                      starts: list[MemberWeights] | None, keep_members: bool) -> tuple[list, list[Future]]:
        """``starts``: the fold members to warm-start from, None for a fit from zeros;
        ``keep_members``: send the fold members back (the warm starts of later rounds)."""
        x_all, y_all, _, folds = evaluation.id_cv_inputs(x_human, y_human, x_added, y_added, seed=self.seed)
        params = hyperparameters.get("params", hyperparameters)
        futures = [
            self._submit(evaluation.fit_predict_fold, params, self.members, self.seed, fold,
                         x_all[train], y_all[train], x_all[test], None if starts is None else starts[fold],
                         keep_members)
            for fold, (train, test) in enumerate(folds)
        ]
        return folds, futures

    def _submit(self, function: Callable, *args: object) -> Future:
        """function(*args) in the worker pool, or here and now when workers == 1."""
        if self.workers > 1:
            if self._pool is None:
                self._pool = worker_pool(self.workers)
            return self._pool.submit(function, *args)
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # noqa: BLE001 - re-raised by future.result()
            future.set_exception(error)
        return future

    def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
