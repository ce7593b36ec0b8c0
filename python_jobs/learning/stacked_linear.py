"""The M members of the bagged ensemble as one stacked linear scorer over pair features.

The members are multinomial logistic regressions on pair features
``[|a-b|, a*b, cos(a,b), a+b]`` (python_jobs/features/pairs.py). Stacked, the ensemble is one
linear map ``W (F, M*C)``, ``b (M*C)``. A linear map over those blocks splits:

    logits = [|a-b|, a*b] @ W_ab  +  cos * w_cos  +  (a @ W_sum)  +  (b @ W_sum)  +  b

The last two terms are per item, so they are computed once per item (``V @ W_sum``) and
gathered; only ``[|a-b|, a*b]`` (n, 2D) is built per chunk, and never for the whole pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from python_jobs.features.vectors import ItemVectors
from python_jobs.learning.blas import single_threaded

# Order of the blocks in the pair-feature vector (python_jobs/features/pairs.py).
FEATURE_BLOCKS: tuple[str, ...] = ("absdiff", "prod", "cos", "sum")

# Largest difference from predict_member_proba (float64) that the float32 scorer may show in a
# probability; the error grows with the size of the (standardisation-folded) weights.
FLOAT32_TOLERANCE = 1e-4


@dataclass(frozen=True)
class StackedLinearScorer:
    """The ensemble's stacked weights split by feature block, with per-item terms precomputed.

    Columns are class-major (c*M + m) so the softmax works on contiguous (n, M) slices, and
    relative to class 0: a softmax does not change when one logit is subtracted from all, so
    each member's class-0 logit is fixed at 0 and only (C-1)*M columns are computed (a third
    fewer multiply-adds for 3 classes). The output is the (M, n, C) view that
    `BaggedEnsemble.predict_member_proba` returns.
    """

    w_pair: np.ndarray            # (2D, (C-1)*M): rows for [min(a,b), a*b] (+ cos folded in when unit norm)
    w_cos: np.ndarray | None      # ((C-1)*M,) or None when folded into w_pair
    item_term: np.ndarray         # (n_items, (C-1)*M) = V @ (W_sum + W_abs)
    bias: np.ndarray              # ((C-1)*M,)
    vectors: np.ndarray           # (n_items, D)
    inv_norms: np.ndarray         # (n_items,)
    n_members: int
    n_classes: int
    w_extra: np.ndarray | None = None  # (n_extra, (C-1)*M): dense per-pair columns after the blocks
    tile_rows: int = 256          # rows per GEMM tile: its (tile, 2D) features stay in L2

    @classmethod
    def from_weights(
        cls,
        weights: np.ndarray,
        bias: np.ndarray,
        item_vectors: ItemVectors,
        n_members: int,
        dtype: str = "float64",
        n_extra: int = 0,
    ) -> "StackedLinearScorer":
        """``n_extra``: dense per-pair columns (e.g. title overlap) after the four blocks, given
        with each chunk (`member_proba(..., extra)`)."""
        d = item_vectors.dim
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape[0] != 3 * d + 1 + n_extra:
            raise ValueError(f"stacked weights have {weights.shape[0]} rows; pair features of D={d} "
                             f"with {n_extra} extra columns have {3 * d + 1 + n_extra}")
        if weights.shape[1] % n_members:
            raise ValueError(f"{weights.shape[1]} stacked columns do not split into {n_members} members")
        n_classes = weights.shape[1] // n_members
        # member-major (F, M, C) -> class-major relative to class 0: (F, C-1, M) flattened
        per_member = weights.reshape(-1, n_members, n_classes)
        relative = (per_member[:, :, 1:] - per_member[:, :, :1]).transpose(0, 2, 1)
        weights = relative.reshape(weights.shape[0], -1)
        bias_member = np.asarray(bias, dtype=np.float64).reshape(n_members, n_classes)
        bias = (bias_member[:, 1:] - bias_member[:, :1]).T.ravel()
        # In the scoring dtype (no float64 copy of a float32 catalogue); norms accumulate in float64.
        matrix = np.ascontiguousarray(item_vectors.matrix, dtype=dtype)
        norms = item_vectors.norms
        # |a-b| = a + b - 2 min(a, b): the a + b part joins the per-item term, so a chunk needs
        # one pass (min) instead of two (subtract, abs).
        w_abs = weights[:d]
        w_pair = weights[: 2 * d].copy()
        w_pair[:d] = -2.0 * w_abs
        w_cos: np.ndarray | None = weights[2 * d]
        if len(norms) and np.all(np.abs(norms - 1.0) < 1e-6):
            # Unit vectors: cos(a, b) = sum(a*b), so the cos weight joins every a*b row.
            w_pair[d:] += w_cos
            w_cos = None
        with single_threaded():
            item_term = matrix @ (weights[2 * d + 1 : 3 * d + 1] + w_abs).astype(dtype)
        inv_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return cls(
            w_pair=np.ascontiguousarray(w_pair, dtype=dtype),
            w_cos=None if w_cos is None else w_cos.astype(dtype),
            item_term=np.ascontiguousarray(item_term, dtype=dtype),
            bias=bias.astype(dtype),
            vectors=matrix,
            inv_norms=inv_norms.astype(dtype),
            n_members=n_members,
            n_classes=n_classes,
            w_extra=np.ascontiguousarray(weights[3 * d + 1 :], dtype=dtype) if n_extra else None,
        )

    def member_proba(self, a_pos: np.ndarray, b_pos: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """(M, n, C) probabilities of every member for the pairs at item positions (a_pos, b_pos)
        (a view of `class_major_proba`); ``extra``: the chunk's (n, n_extra) dense pair columns."""
        return self.class_major_proba(a_pos, b_pos, extra).transpose(2, 0, 1)

    def class_major_proba(self, a_pos: np.ndarray, b_pos: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """(n, C, M) contiguous probabilities: row i, class c, member m."""
        a_pos = np.asarray(a_pos, dtype=np.intp)
        b_pos = np.asarray(b_pos, dtype=np.intp)
        n = len(a_pos)
        d = self.vectors.shape[1]
        dtype = self.vectors.dtype
        if n and (min(a_pos.min(), b_pos.min()) < 0 or max(a_pos.max(), b_pos.max()) >= len(self.vectors)):
            raise IndexError("item position out of range")
        logits = np.empty((n, self.w_pair.shape[1]), dtype=dtype)
        # Only the GEMM and the features it reads are tiled; the per-pair terms and the softmax
        # run once over the chunk (fewer numpy calls per pair).
        tile = min(self.tile_rows, max(n, 1))
        a = np.empty((tile, d), dtype=dtype)
        b = np.empty((tile, d), dtype=dtype)
        x = np.empty((tile, 2 * d), dtype=dtype)
        for start in range(0, n, tile):
            stop = min(start + tile, n)
            k = stop - start
            # Positions are checked above: mode="clip" lets take write straight into `out`
            # (mode="raise" goes through a temporary buffer, ~1.6x slower).
            np.take(self.vectors, a_pos[start:stop], axis=0, out=a[:k], mode="clip")
            np.take(self.vectors, b_pos[start:stop], axis=0, out=b[:k], mode="clip")
            np.minimum(a[:k], b[:k], out=x[:k, :d])
            np.multiply(a[:k], b[:k], out=x[:k, d:])
            np.matmul(x[:k], self.w_pair, out=logits[start:stop])
            if self.w_cos is not None:
                cos = x[:k, d:].sum(axis=1) * self.inv_norms[a_pos[start:stop]] * self.inv_norms[b_pos[start:stop]]
                logits[start:stop] += np.outer(cos, self.w_cos)
        logits += np.take(self.item_term, a_pos, axis=0, mode="clip")
        logits += np.take(self.item_term, b_pos, axis=0, mode="clip")
        logits += self.bias
        add_extra_columns(logits, extra, self.w_extra)
        return _softmax_relative(logits, self.n_classes, self.n_members)


def add_extra_columns(logits: np.ndarray, extra: np.ndarray | None, w_extra: np.ndarray | None) -> None:
    """logits += extra @ w_extra, checking that the chunk's dense pair columns match the weights."""
    n_extra = 0 if w_extra is None else w_extra.shape[0]
    if extra is None or (np.size(extra) == 0 and n_extra == 0):
        if n_extra:
            raise ValueError(f"the pair layout has {n_extra} extra columns: pass them with each chunk")
        return
    extra = np.asarray(extra, dtype=logits.dtype)
    if extra.shape != (logits.shape[0], n_extra):
        raise ValueError(f"extra columns {extra.shape}, expected {(logits.shape[0], n_extra)}")
    logits += extra @ w_extra


def _softmax_relative(logits: np.ndarray, n_classes: int, n_members: int) -> np.ndarray:
    """(n, C, M) softmax over classes from (n, (C-1)*M) class-major logits relative to class 0
    (whose logit is 0): p_0 = 1 / (1 + sum_c e^l_c), p_c = e^l_c p_0.

    No max shift on the common path (a third fewer passes): logits are capped at LOGIT_CAP so
    e^l cannot overflow (float32 holds e^88); the few (pair, member) cells where a logit reached
    the cap are recomputed exactly with the usual max shift. Binary ufuncs per class, not
    reductions over the short class axis (half the time)."""
    n = logits.shape[0]
    relative = logits.reshape(n, n_classes - 1, n_members)
    out = np.empty((n, n_classes, n_members), dtype=logits.dtype)
    np.minimum(relative, LOGIT_CAP, out=out[:, 1:])
    np.exp(out[:, 1:], out=out[:, 1:])
    total = out[:, 0]
    np.add(out[:, 1], 1.0, out=total)
    for c in range(2, n_classes):
        total += out[:, c]
    capped = total >= np.exp(logits.dtype.type(LOGIT_CAP))
    np.reciprocal(total, out=total)
    out[:, 1:] *= total[:, None, :]
    if capped.any():
        rows, members = np.nonzero(capped)
        exact = np.zeros((len(rows), n_classes))
        exact[:, 1:] = relative[rows, :, members]
        exact = np.exp(exact - exact.max(axis=1, keepdims=True))
        out[rows, :, members] = exact / exact.sum(axis=1, keepdims=True)
    return out


LOGIT_CAP = 80.0
