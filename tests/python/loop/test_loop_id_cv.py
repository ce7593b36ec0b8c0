"""The round's ID CV spread over worker processes in member slices (loop/id_cv.py) gives the same
figures as the sequential cross-validation, also when the main process runs the slices no worker
has started."""

from __future__ import annotations

import time

import numpy as np

from python_jobs.learning.logreg import LogRegParams
from python_jobs.learning.evaluation import id_cross_validation, id_cv_metrics
from python_jobs.loop.id_cv import IdCrossValidation, worker_pool

HYPERPARAMETERS = {"params": LogRegParams(C=1.0).to_dict()}
MEMBERS = 6


def _labelled(seed: int, n_per_class: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(3, 5)) * 1.5
    y = np.repeat([0, 1, 2], n_per_class)
    return (centres[y] + rng.normal(size=(len(y), 5))).astype(np.float32), y


def _figures(cv: IdCrossValidation, round_index: int) -> tuple[dict, list, list[bool]]:
    """The round's ID metrics, the per-fold results, and which jobs ran in this process."""
    x_human, y_human = _labelled(1, (20, 30, 50))
    x_added, y_added = _labelled(2, (4, 4, 4))
    running = cv.start(round_index, HYPERPARAMETERS, x_human, y_human, x_added, y_added)
    submitted = [job.future for job in running.jobs]
    results = cv.results(round_index, running)
    metrics = id_cv_metrics(y_human, running.folds, [predictions for predictions, _ in results], len(y_added), 0.0)
    ran_here = [job.future is not future for job, future in zip(running.jobs, submitted)]
    return metrics, results, ran_here


def test_member_slices_in_workers_give_the_sequential_figures() -> None:
    x_human, y_human = _labelled(1, (20, 30, 50))
    x_added, y_added = _labelled(2, (4, 4, 4))
    sequential = id_cross_validation(x_human, y_human, x_added, y_added, hyperparameters=HYPERPARAMETERS,
                                     n_members=MEMBERS, seed=7)
    inline, results, _ = _figures(IdCrossValidation(members=MEMBERS, seed=7, workers=1), 0)
    assert inline["id_fold_macro_f1"] == sequential["id_fold_macro_f1"]
    # Round 0 on dense rows keeps every fold's members, in member order, as later warm starts.
    assert all(members[0].shape[0] == MEMBERS and members[1].shape == (MEMBERS, 3) for _, members in results)

    pool = worker_pool(1)
    try:
        # The one worker is busy, so the main process runs the slices no worker has started.
        pool.submit(time.sleep, 3)
        pooled, _, ran_here = _figures(IdCrossValidation(members=MEMBERS, seed=7, workers=2, pool=pool), 0)
    finally:
        pool.shutdown(cancel_futures=True)
    assert any(ran_here)
    assert pooled["id_fold_macro_f1"] == sequential["id_fold_macro_f1"]


def test_hgb_members_in_slices_send_back_no_weights() -> None:
    """Dense rows keep round 0's fold members as the warm starts of later rounds, but boosted
    members have no weights to start from: none are sent back, and later rounds fit from scratch."""
    hgb = {"params": LogRegParams(family="hgb", hgb_max_iter=10).to_dict()}
    x_human, y_human = _labelled(1, (20, 30, 50))
    cv = IdCrossValidation(members=2, seed=7, workers=1)
    running = cv.start(0, hgb, x_human, y_human, x_human[:0], y_human[:0])
    results = cv.results(0, running)
    assert len(results) == 5 and all(members is None for _, members in results)
    assert id_cv_metrics(y_human, running.folds, [p for p, _ in results], 0, 0.0)["id_macro_f1"] > 0.5
    x_added, y_added = _labelled(2, (4, 4, 4))
    later = cv.start(1, hgb, x_human, y_human, x_added, y_added)  # fitted from scratch, no start
    assert len(cv.results(1, later)) == 5


def test_warm_started_rounds_give_the_same_figures_in_slices_as_in_whole_folds(monkeypatch) -> None:
    """Dense rows: round 1 starts each member from its round-0 fit; a slice starts its members
    from the matching slice of the fold's round-0 members."""
    from python_jobs.loop import id_cv

    def round_one() -> list:
        cv = IdCrossValidation(members=MEMBERS, seed=7, workers=1)
        _figures(cv, 0)
        return _figures(cv, 1)[0]["id_fold_macro_f1"]

    in_slices = round_one()
    monkeypatch.setattr(id_cv, "MEMBERS_PER_JOB", MEMBERS)
    assert round_one() == in_slices
