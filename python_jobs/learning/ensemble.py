"""The classifier: M members (learning/logreg.py), each fitted on its own class-undersampled
sample, their probabilities averaged. Hyperparameters come from learning/tuning.py.

Every fit runs with one BLAS thread (python_jobs.learning.blas): here multi-threaded BLAS made fits 10-20x slower.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from python_jobs.learning.blas import single_threaded
from python_jobs.learning.logreg import (
    CLASSES,
    N_CLASSES,
    LogRegParams,
    as_rows,
    encode_labels,
    fit_hgb_member,
    fit_logreg,
    is_sparse,
    softmax,
    warm_starts_help,
)


def undersample_indices(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-balanced sample: every class drawn down (without replacement) to the
    minority count. Sorted, so a fit does not depend on draw order."""
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    n_min = int(counts.min())
    chosen = [rng.choice(np.flatnonzero(y == c), size=n_min, replace=False) for c in classes]
    return np.sort(np.concatenate(chosen))


@dataclass
class BaggedEnsemble:
    """M logistic regressions, each on its own class-undersampled sample; probabilities averaged."""

    n_members: int = 10
    params: LogRegParams = field(default_factory=LogRegParams)
    seed: int = 0
    hyperparameters: dict | None = None  # a tune_hyperparameters() result; overrides params
    coef_: np.ndarray | None = None  # (M, C, F)
    intercept_: np.ndarray | None = None  # (M, C)
    member_class_counts: list[dict[str, int]] = field(default_factory=list)
    member_indices: list[np.ndarray] = field(default_factory=list)
    fit_seconds: float = 0.0
    members_: list | None = None  # the fitted members of a non-linear family (hgb)

    def __post_init__(self) -> None:
        if self.hyperparameters is not None:
            self.params = LogRegParams.from_dict(self.hyperparameters.get("params", self.hyperparameters))

    @property
    def classes_(self) -> np.ndarray:
        """Class names in probability-column order (always CLASSES)."""
        return np.array(CLASSES, dtype=object)

    def fit(self, X: np.ndarray, y: np.ndarray | Sequence[str],
            warm_start: tuple[np.ndarray, np.ndarray] | None = None,
            members: range | None = None) -> BaggedEnsemble:
        """Fit M members; y as class names or indices into CLASSES.

        ``warm_start``: (coef_ (M, C, F), intercept_ (M, C)) of an ensemble fitted on a similar
        training set; member m starts from member m's coefficients (`fit_logreg(init=...)`).
        Ignored for sparse rows, which fit faster from zeros (`warm_starts_help`).
        ``members``: fit only these of the M members (a slice of the ensemble, for spreading one
        ensemble over processes), each on the same sample as in the whole fit; ``warm_start``
        then holds the slice's members."""
        started = time.perf_counter()
        X = X if is_sparse(X) else np.asarray(X)
        y = encode_labels(y)
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(self.n_members)]
        chosen = range(self.n_members) if members is None else members
        if not set(chosen) <= set(range(self.n_members)):
            raise ValueError(f"members {list(chosen)} are not all among the ensemble's {self.n_members}")
        if self.params.family == "hgb":
            return self._fit_hgb(X, y, rngs, chosen, started)
        if warm_start is not None and (warm_start[0] is None or not warm_starts_help(X, self.params.family)):
            warm_start = None
        if warm_start is not None and len(warm_start[0]) != len(chosen):
            raise ValueError(f"warm start has {len(warm_start[0])} members, the fit {len(chosen)}")
        coefs, intercepts, counts, indices = [], [], [], []
        for position, member in enumerate(chosen):
            idx = undersample_indices(y, rngs[member])
            init = None if warm_start is None else (warm_start[0][position], warm_start[1][position])
            coef, intercept = fit_logreg(X[idx], y[idx], self.params, init=init)
            coefs.append(coef)
            intercepts.append(intercept)
            indices.append(idx)
            counts.append({CLASSES[c]: int((y[idx] == c).sum()) for c in range(N_CLASSES)})
        self.coef_ = np.stack(coefs)
        self.intercept_ = np.stack(intercepts)
        self.member_class_counts = counts
        self.member_indices = indices
        self.fit_seconds = time.perf_counter() - started
        return self

    def _fit_hgb(self, X: np.ndarray, y: np.ndarray, rngs: list, chosen: range, started: float) -> BaggedEnsemble:
        """HistGradientBoosting members on the same undersampled samples (dense rows)."""
        if is_sparse(X):
            X = X.toarray()
        members, counts, indices = [], [], []
        for member in chosen:
            idx = undersample_indices(y, rngs[member])
            members.append(fit_hgb_member(X[idx], y[idx], self.params, seed=self.seed * 100 + member))
            indices.append(idx)
            counts.append({CLASSES[c]: int((y[idx] == c).sum()) for c in range(N_CLASSES)})
        self.members_ = members
        self.coef_, self.intercept_ = None, None
        self.member_class_counts = counts
        self.member_indices = indices
        self.fit_seconds = time.perf_counter() - started
        return self

    def _check_fitted(self) -> None:
        if self.members_ is not None:
            return
        if self.coef_ is None or self.intercept_ is None:
            raise RuntimeError("BaggedEnsemble is not fitted")

    def predict_member_proba(self, X: np.ndarray) -> np.ndarray:
        """(M, n, C) probabilities of every member."""
        self._check_fitted()
        if self.members_ is not None:
            rows = X.toarray() if is_sparse(X) else np.asarray(X, dtype=np.float32)
            with single_threaded():
                return np.stack([member.predict_proba(rows) for member in self.members_])
        if is_sparse(X):
            M, C, F = self.coef_.shape
            logits = np.asarray(as_rows(X) @ self.coef_.reshape(M * C, F).T).reshape(-1, M, C).transpose(1, 0, 2)
            return softmax(logits + self.intercept_[:, None, :], axis=-1)
        logits = np.einsum("nf,mcf->mnc", np.asarray(X, dtype=np.float64), self.coef_) + self.intercept_[:, None, :]
        return softmax(logits, axis=-1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, C) mean of the member probabilities."""
        return self.predict_member_proba(X).mean(axis=0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def stacked_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(W (F, M*C), b (M*C,)): logits of all members at once as X @ W + b; column m*C + c is
        member m, class c. Reshape logits to (n, M, C), softmax over the last axis, mean over M."""
        self._check_fitted()
        if self.coef_ is None:
            raise ValueError(f"a {self.params.family} ensemble has no stacked linear weights")
        M, C, F = self.coef_.shape
        W = self.coef_.reshape(M * C, F).T.copy()
        b = self.intercept_.reshape(M * C).copy()
        return W, b

    def bag_member_rows(self, run_id: str, round_index: int) -> list[dict]:
        """Rows for raw.bag_members (without created_at)."""
        return [
            {
                "run_id": run_id,
                "round_index": round_index,
                "member_index": m,
                "relation_class": cls,
                "n_samples": n,
            }
            for m, counts in enumerate(self.member_class_counts)
            for cls, n in counts.items()
        ]
