"""One member of the classifier: a multinomial logistic regression (or a gradient-boosted member),
its fit, its probabilities and the class coding every learning module shares.

Class order is fixed everywhere: CLASSES = ('substitute', 'complement', 'other'); labels are
int indices into it (see `encode_labels`).

Link function (what a scorer outside sklearn must compute): every member m is a multinomial
logistic regression in the RAW pair-feature space,

    z_m = x @ coef_[m].T + intercept_[m]          (C logits)
    p_m = softmax(z_m) = exp(z_m - max z_m) / sum(exp(z_m - max z_m))

and the ensemble probability is the mean of p_m over members. Any feature standardisation
used while fitting is folded into coef_/intercept_, so x is the raw output of
`pair_features.pair_features`. `ensemble.BaggedEnsemble.stacked_weights()` gives all members as
one (F, M*C) matrix (column m*C + c = member m, class c) for chunked scoring
(`proba_from_stacked`).

Every fit runs with one BLAS thread (python_jobs.learning.blas): here multi-threaded BLAS made fits 10-20x slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

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
    return family == "logreg" and not is_sparse(X)


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
    if is_sparse(X):
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


def is_sparse(X) -> bool:  # noqa: ANN001
    import scipy.sparse as sp

    return sp.issparse(X)


def as_rows(X):  # noqa: ANN001, ANN202
    """Dense float64 rows, or sparse rows kept sparse (float64 CSR)."""
    if is_sparse(X):
        import scipy.sparse as sp

        return sp.csr_matrix(X, dtype=np.float64)
    return np.asarray(X, dtype=np.float64)


def logreg_proba(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(as_rows(X) @ coef.T) + intercept)


def proba_from_stacked(X: np.ndarray, W: np.ndarray, b: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Reference implementation of the chunked scorer's math: (M, n, C) member probabilities."""
    logits = np.asarray(X, dtype=np.float64) @ W + b
    n = logits.shape[0]
    return softmax(logits.reshape(n, -1, n_classes), axis=-1).transpose(1, 0, 2)
