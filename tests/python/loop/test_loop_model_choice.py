"""The model re-choice's parts without a run: candidate specs and the CV over acquired labels
(the run, the marts and the report: test_loop_experiment_splits.py)."""

from __future__ import annotations

import numpy as np
import pytest

from python_jobs.config import RunConfig, parse_model_candidate
from python_jobs.learning.logreg import LogRegParams
from python_jobs.loop.experiment import parse_seeds
from python_jobs.loop.model_choice import acquired_label_cv


def test_a_candidate_spec_reads_features_c_and_family() -> None:
    assert parse_model_candidate("char13+overlap@1@logreg") == ("char13+overlap", 1.0, "logreg")
    assert parse_model_candidate(" svd@0.5@hgb ") == ("svd", 0.5, "hgb")


@pytest.mark.parametrize(("spec", "says"), [
    ("char13@1", "write FEATURES@C@FAMILY"),
    ("chars@1@logreg", "feature set 'chars'"),
    ("char13@big@logreg", "C must be a positive number, not 'big'"),
    ("char13@-1@logreg", "C must be a positive number"),
    ("char13@1@forest", "the family is one of logreg, hgb, not 'forest'"),
])
def test_a_bad_candidate_spec_is_refused_with_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_model_candidate(spec)
    with pytest.raises(ValueError, match=says):
        RunConfig(rechoose_from=50, rechoose_candidates=(spec,))


def test_rechoose_from_needs_two_labels() -> None:
    with pytest.raises(ValueError, match="--rechoose-from must be >= 2"):
        RunConfig(rechoose_from=1)


def _blobs(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = np.eye(3)[:, :3] * 4 + shift
    return centres[y] + rng.normal(size=(n, 3)), y


def test_the_acquired_label_cv_scores_only_held_out_acquired_labels() -> None:
    x_seed, y_seed = _blobs(300, 0.0, 0)
    # Acquired labels from another domain: the classes sit elsewhere, so a model that learns
    # them from the other acquired folds scores well, and one seed labels alone cannot.
    x_acquired, y_acquired = _blobs(60, 0.0, 1)
    x_acquired = x_acquired[:, [1, 2, 0]]
    params = LogRegParams(C=1.0)
    figure, folds = acquired_label_cv(x_seed[:0], y_seed[:0], x_acquired, y_acquired, params, members=3, seed=0)
    assert folds == 5 and figure > 0.9
    mixed, _ = acquired_label_cv(x_seed, y_seed, x_acquired, y_acquired, params, members=3, seed=0)
    assert mixed < figure


def test_too_few_acquired_labels_give_no_cv_figure() -> None:
    x_seed, y_seed = _blobs(30, 0.0, 0)
    assert acquired_label_cv(x_seed, y_seed, x_seed[:3], np.array([0, 1, 2]), LogRegParams(), members=2, seed=0) is None
    # No seed labels (a cold start) and one acquired label of a class: the fold holding it out
    # would train without that class.
    x_acquired, y_acquired = _blobs(41, 0.0, 1)
    y_acquired = np.where(np.arange(41) == 40, 2, np.minimum(y_acquired, 1))
    assert acquired_label_cv(x_seed[:0], y_seed[:0], x_acquired, y_acquired, LogRegParams(), members=2, seed=0) is None


@pytest.mark.parametrize(("text", "seeds"), [("0", (0,)), ("0,1,2", (0, 1, 2)), ("0-2", (0, 1, 2)),
                                             ("3, 1-2, 3", (3, 1, 2))])
def test_seeds_are_listed_or_a_range(text: str, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text) == seeds
