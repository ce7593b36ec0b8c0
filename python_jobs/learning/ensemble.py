"""The classifier: logistic regression tuned by optuna, bagged over class-undersampled samples.

Class order is fixed everywhere: CLASSES = ('substitute', 'complement', 'other'); labels are
int indices into it (see `encode_labels`).

Link function (what a scorer outside sklearn must compute): every member m is a multinomial
logistic regression in the RAW pair-feature space,

    z_m = x @ coef_[m].T + intercept_[m]          (C logits)
    p_m = softmax(z_m) = exp(z_m - max z_m) / sum(exp(z_m - max z_m))

and the ensemble probability is the mean of p_m over members. Any feature standardisation
used while fitting is folded into coef_/intercept_, so x is the raw output of
`pair_features.pair_features`. `BaggedEnsemble.stacked_weights()` gives all members as one
(F, M*C) matrix (column m*C + c = member m, class c) for chunked scoring.

Every fit runs with one BLAS thread (python_jobs.learning.blas): here multi-threaded BLAS made fits 10-20x slower.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from python_jobs.config import TuningConfig
from python_jobs.labels import RELATION_CLASSES
from python_jobs.learning.blas import single_threaded

CLASSES: tuple[str, ...] = RELATION_CLASSES
N_CLASSES = len(CLASSES)


def encode_labels(labels: Sequence[str] | np.ndarray) -> np.ndarray:
    """Class names -> int indices into CLASSES (raises on an unknown name). Integer arrays are
    taken as indices already."""
    array = np.asarray(labels)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    index = {name: i for i, name in enumerate(CLASSES)}
    return np.array([index[str(label)] for label in array], dtype=np.int64)


def decode_labels(indices: np.ndarray) -> list[str]:
    return [CLASSES[int(i)] for i in indices]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


# --- one logistic regression ---------------------------------------------------------------


@dataclass(frozen=True)
class LogRegParams:
    C: float = 1.0
    class_weight: str | None = None  # None | 'balanced' (members are balanced by undersampling)
    standardize: bool = True
    max_iter: int = 300
    tol: float = 1e-3  # lbfgs tolerance: 1e-4 costs 3x the time for no macro-F1 here
    # The member family (issue 11): "logreg" (the linear link above) or "hgb"
    # (HistGradientBoostingClassifier members on the dense pair features; no stacked weights).
    family: str = "logreg"
    hgb_max_iter: int = 100
    hgb_learning_rate: float = 0.1
    hgb_max_leaf_nodes: int = 15

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> LogRegParams:
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


# Sparse pair rows: a column must be non-zero in at least this many of a member's training rows
# to be fitted (the others keep weight 0). On FBL char 1-3-gram pairs this keeps ~16k of ~96k
# columns and makes a newton-cg member fit ~5x faster for the same ID macro-F1 (research/).
SPARSE_MIN_ROWS = 2


def warm_starts_help(X, family: str = "logreg") -> bool:  # noqa: ANN001 - ndarray or scipy sparse
    """Whether a fit of ``family`` members on these rows should start from an earlier round's weights.

    Boosted members (hgb) have no weights to start from. Linear members on dense rows (lbfgs): yes,
    ~2.5x fewer iterations. On sparse rows (newton-cg): no. Started from the
    round-0 member, a member fit on human + 500 pool labels took 0.61 s against 0.25 s from zeros
    (char13, C = 204, median of 5, load ~4): newton-cg converges in a few steps from zeros, and the
    large-C round-0 weights put its first steps where the Hessian is badly conditioned."""
    return family == "logreg" and not _is_sparse(X)


def fit_sparse_logreg(
    X, y: np.ndarray, params: LogRegParams,  # noqa: ANN001 - scipy sparse
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial LR on sparse rows (no standardisation: TF-IDF and overlap values are in [0, 1]),
    newton-cg on the columns present in >= SPARSE_MIN_ROWS rows; (coef (C, F), intercept (C,)).

    Why newton-cg: on ~1.1k rows x ~96k columns lbfgs took 3.7 s (41 iterations, its cost per
    iteration grows with the columns), saga 1.2 s, newton-cg 0.7 s (5 iterations); with the
    column filter 0.8 / 0.5 / 0.45 s (one BLAS thread, on a machine at load ~12 on 2 cores).
    In float32 (newton-cg keeps the input's dtype): its time goes to sparse mat-vecs, memory-bound,
    so half the bytes made a member fit 1.45x faster (0.157 -> 0.108 s, C = 204, load ~4) for the
    same 5-fold bag ID macro-F1 (0.8533 -> 0.8524, within the seeds' spread)."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    X = sp.csr_matrix(X, dtype=np.float32)
    present_rows = np.bincount(X.indices, minlength=X.shape[1]) if X.has_canonical_format else \
        np.asarray((X != 0).sum(axis=0)).ravel()
    keep = np.flatnonzero(present_rows >= SPARSE_MIN_ROWS)
    model = LogisticRegression(C=params.C, class_weight=params.class_weight, solver="newton-cg",
                               max_iter=min(params.max_iter, 100), tol=params.tol)
    with single_threaded():
        model.fit(X[:, keep], y)
    coef = np.zeros((N_CLASSES, X.shape[1]), dtype=np.float64)
    coef[:, keep] = model.coef_
    return coef, model.intercept_.astype(np.float64)


def fit_hgb_member(X: np.ndarray, y: np.ndarray, params: LogRegParams, seed: int):  # noqa: ANN201
    """One HistGradientBoostingClassifier member (dense rows)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=params.hgb_max_iter, learning_rate=params.hgb_learning_rate,
        max_leaf_nodes=params.hgb_max_leaf_nodes, random_state=seed)
    with single_threaded():
        return model.fit(np.asarray(X, dtype=np.float32), y)


def fit_logreg(
    X: np.ndarray, y: np.ndarray, params: LogRegParams, sample_weight: np.ndarray | None = None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a multinomial LR; return (coef (C, F), intercept (C,)) in the raw feature space.

    ``init``: (coef, intercept) in the raw feature space to start lbfgs from (a warm start)
    instead of zeros: a model of a similar training set needs ~2.5x fewer iterations. Dense rows
    only (`warm_starts_help`)."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y)
    if len(present) != N_CLASSES:
        raise ValueError(f"training labels hold classes {present.tolist()}, need all of 0..{N_CLASSES - 1}")
    if _is_sparse(X):
        if init is not None:
            raise ValueError("sparse rows are fitted from zeros (see warm_starts_help)")
        return fit_sparse_logreg(X, y, params)
    X = np.asarray(X, dtype=np.float64)
    if params.standardize:
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale < 1e-12] = 1.0
        Xs = (X - mean) / scale
    else:
        Xs = X
    # lbfgs in float32: its time goes to two skinny (n, F) x (F, C) products per iteration,
    # memory-bound, so half the bytes is ~1.35x faster; coefficients differ by < 1e-6.
    Xs = np.ascontiguousarray(Xs, dtype=np.float32)
    model = LogisticRegression(
        C=params.C, class_weight=params.class_weight, max_iter=params.max_iter, tol=params.tol,
        warm_start=init is not None,
    )
    if init is not None:
        # The start in the standardised space: w.(x - mu)/s + b == (w s).z + (b + w.mu) for w raw.
        init_coef, init_intercept = (np.asarray(a, dtype=np.float64) for a in init)
        model.coef_ = init_coef * scale if params.standardize else init_coef
        model.intercept_ = init_intercept + init_coef @ mean if params.standardize else init_intercept
    with single_threaded():
        model.fit(Xs, y, sample_weight=sample_weight)
    coef = model.coef_.astype(np.float64)
    intercept = model.intercept_.astype(np.float64)
    if params.standardize:
        # w.(x - mu)/s + b  ==  (w/s).x + (b - w.(mu/s))
        coef = coef / scale
        intercept = intercept - coef @ mean
    return coef, intercept


def _is_sparse(X) -> bool:  # noqa: ANN001
    import scipy.sparse as sp

    return sp.issparse(X)


def _as_rows(X):  # noqa: ANN001, ANN202
    """Dense float64 rows, or sparse rows kept sparse (float64 CSR)."""
    if _is_sparse(X):
        import scipy.sparse as sp

        return sp.csr_matrix(X, dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


def logreg_proba(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(_as_rows(X) @ coef.T) + intercept)


# --- hyperparameter search -----------------------------------------------------------------


def tune_hyperparameters(
    X: np.ndarray,
    y: np.ndarray | Sequence[str],
    config: TuningConfig | None = None,
    *,
    n_trials: int | None = None,
    seed: int | None = None,
) -> dict:
    """Bayesian optimisation (optuna TPE, seeded) of LR hyperparameters on stratified k-fold
    macro-F1 of the human ID labels (y: class names or indices). Returns a plain JSON-able dict
    (store it per run; pass it as `BaggedEnsemble(hyperparameters=...)`)."""
    import optuna

    config = config or TuningConfig()
    if n_trials is not None:
        config = replace(config, n_trials=n_trials)
    if seed is not None:
        config = replace(config, seed=seed)
    X = X if _is_sparse(X) else np.asarray(X)
    y = encode_labels(y)
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    folds = list(StratifiedKFold(config.n_splits, shuffle=True, random_state=config.seed).split(np.zeros(len(y)), y))

    def objective(trial: optuna.Trial) -> float:
        params = LogRegParams(
            C=trial.suggest_float("C", config.C_low, config.C_high, log=True),
            class_weight=(
                trial.suggest_categorical("class_weight", ["none", "balanced"]) if config.tune_class_weight else "none"
            ),
            standardize=trial.suggest_categorical("standardize", [True, False]) if config.tune_standardize else True,
        )
        params = LogRegParams(
            C=params.C, class_weight=None if params.class_weight == "none" else params.class_weight,
            standardize=params.standardize,
        )
        scores = []
        for fold, (train, test) in enumerate(folds):
            coef, intercept = fit_logreg(X[train], y[train], params)
            pred = logreg_proba(X[test], coef, intercept).argmax(axis=1)
            scores.append(f1_score(y[test], pred, average="macro", labels=list(range(N_CLASSES))))
            # Median pruning stops hopeless trials after a fold or two (deterministic too).
            trial.report(float(np.mean(scores)), step=fold)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=config.n_trials)
    best = dict(study.best_params)
    params = LogRegParams(
        C=float(best["C"]),
        class_weight=None if best.get("class_weight", "none") == "none" else best["class_weight"],
        standardize=bool(best.get("standardize", True)),
    )
    return {
        "params": params.to_dict(),
        "cv_macro_f1": float(study.best_value),
        "n_trials": config.n_trials,
        "n_splits": config.n_splits,
        "seed": config.seed,
        "n_samples": int(len(y)),
        "seconds": round(time.perf_counter() - started, 3),
        "trials": [{"params": t.params, "value": t.value, "state": t.state.name} for t in study.trials],
    }


# --- bagged ensemble -----------------------------------------------------------------------


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
        X = X if _is_sparse(X) else np.asarray(X)
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
        if _is_sparse(X):
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
            rows = X.toarray() if _is_sparse(X) else np.asarray(X, dtype=np.float32)
            with single_threaded():
                return np.stack([member.predict_proba(rows) for member in self.members_])
        if _is_sparse(X):
            M, C, F = self.coef_.shape
            logits = np.asarray(_as_rows(X) @ self.coef_.reshape(M * C, F).T).reshape(-1, M, C).transpose(1, 0, 2)
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


def proba_from_stacked(X: np.ndarray, W: np.ndarray, b: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Reference implementation of the chunked scorer's math: (M, n, C) member probabilities."""
    logits = np.asarray(X, dtype=np.float64) @ W + b
    n = logits.shape[0]
    return softmax(logits.reshape(n, -1, n_classes), axis=-1).transpose(1, 0, 2)
