"""Pair features from two item vectors, computed on the fly (never materialised for a pool).

`pair_features(A, B)` is a fixed row-wise function of (a, b): row i depends only on A[i] and
B[i], so a scorer may compute it chunk by chunk. Layout for item vectors of dimension d:

    [ |a - b| (d) | a * b (d) | cos(a, b) (1) | a + b (d) ]      -> 3d + 1 columns

Symmetric in (a, b), like the 3-class label (substitute / complement / other), although the
9-class FBL label is directional.
"""

from __future__ import annotations

import numpy as np


def pair_feature_dim(item_dim: int) -> int:
    return 3 * item_dim + 1


def pair_features(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(n, 3d+1) float32 rows [|a-b|, a*b, cos, a+b] for item-vector rows A[i], B[i]."""
    A = np.asarray(A, dtype=np.float32)
    B = np.asarray(B, dtype=np.float32)
    if A.shape != B.shape or A.ndim != 2:
        raise ValueError(f"A {A.shape} and B {B.shape} must be equal (n, d) matrices")
    n, d = A.shape
    out = np.empty((n, pair_feature_dim(d)), dtype=np.float32)
    np.abs(A - B, out=out[:, :d])
    np.multiply(A, B, out=out[:, d : 2 * d])
    dot = out[:, d : 2 * d].sum(axis=1)
    norms = np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1)
    out[:, 2 * d] = np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)
    np.add(A, B, out=out[:, 2 * d + 1 :])
    return out
