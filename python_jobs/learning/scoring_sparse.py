"""Score candidate pairs on sparse item vectors without materialising pair vectors.

Item vectors are rows of a CSR matrix X (n_items x D, e.g. char n-gram TF-IDF, D ~ 50k). A
member is linear over the pair blocks ``[|a-b|, a*b, cos(a, b), (a+b)]`` plus F dense per-pair
columns (title overlap) given with each chunk. For one output column k:

    |a-b|.w = sum_j |a_j| w_j + sum_j |b_j| w_j + sum_{j in A&B} (|a_j-b_j| - |a_j| - |b_j|) w_j
    (a*b).w = sum_{j in A&B} a_j b_j w_j         cos = sum_{j in A&B} a_j b_j / (|a| |b|)
    (a+b).w = a.w + b.w

so the per-item parts (``|X| @ W_abs + X @ W_sum``) are computed once per scorer and gathered,
and per pair only the intersection A&B of the two items' columns adds work (for non-negative
TF-IDF, ``|a_j-b_j| - a_j - b_j = -2 min(a_j, b_j)``). The kernel finds the intersection by
scattering a's values into a dense scratch row (once per run of pairs sharing an item: the
sampler's pool is query-major, ~100 partners a query) and looking up b's columns, so a pair costs
nnz(b) lookups plus 2K multiply-adds per shared column (K = (C-1) x M logit columns).

The kernel is learning/sparse_kernel.py (numba, imported on first use). Why scatter and not a
merge of the two sorted index lists (FBL titles, char_wb 1-3-grams, ~112 columns a title, ~17
shared a sampler pair; one core, machine shared): the merge ran at ~0.8M pairs per CPU-second,
the scatter with a branchy lookup at ~1.1M, collecting the hits without a branch first (the
lookup's ``!= 0`` is unpredictable) at ~1.7M; a scipy formulation (row gathers,
``multiply``/``minimum``, sparse @ dense) at ~0.2-0.5M. A K fixed at compile time, a uint8 or
bitmap membership row, and gathering all lookups before testing them were not faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from python_jobs.features.vectors import ItemVectors, canonical_csr, is_canonical_csr
from python_jobs.learning.blas import single_threaded
from python_jobs.learning.stacked_linear import _softmax_relative, add_extra_columns

# Pair blocks of the stacked weights, in order. "cos" is one column; the others have D columns.
ITEM_BLOCKS = ("absdiff", "prod", "sum")


@dataclass(frozen=True)
class PairLayout:
    """Order of the pair-feature columns the ensemble was trained on.

    ``blocks``: per-item-dimension blocks and "cos", in column order (each of "absdiff", "prod",
    "sum" has D columns, "cos" one); ``n_extra``: dense per-pair columns after them (title overlap
    features), passed to the scorer with each chunk.
    """

    blocks: tuple[str, ...] = ("absdiff", "prod", "cos")
    n_extra: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.blocks) - {"absdiff", "prod", "cos", "sum"}
        if unknown or len(set(self.blocks)) != len(self.blocks):
            raise ValueError(f"pair blocks {self.blocks}: each of absdiff, prod, cos, sum at most once")
        if self.n_extra < 0:
            raise ValueError("n_extra must be >= 0")

    def n_features(self, item_dim: int) -> int:
        return sum(1 if block == "cos" else item_dim for block in self.blocks) + self.n_extra

    def block_rows(self, item_dim: int) -> dict[str, slice]:
        """Rows of each block (and "extra") in the stacked weights."""
        rows, start = {}, 0
        for block in self.blocks:
            width = 1 if block == "cos" else item_dim
            rows[block] = slice(start, start + width)
            start += width
        rows["extra"] = slice(start, start + self.n_extra)
        return rows


# The kernel scatters an item once per run of consecutive pairs sharing it. A chunk whose runs
# average fewer pairs than this (a pool not in query order) is scored in item order instead
# (a stable argsort, ~50 ns a pair, against ~2 x nnz scatter writes a pair saved).
MIN_MEAN_RUN = 4


def _grouping_order(a_pos: np.ndarray, b_pos: np.ndarray) -> np.ndarray | None:
    """A permutation that groups the pairs by item, or None when they already come in runs."""
    n = len(a_pos)
    if n < 2 * MIN_MEAN_RUN:
        return None
    # A run continues while the pair shares an item with the previous one (either side: the
    # kernel keeps the shared item scattered).
    a0, b0, a1, b1 = a_pos[:-1], b_pos[:-1], a_pos[1:], b_pos[1:]
    runs = 1 + np.count_nonzero((a1 != a0) & (a1 != b0) & (b1 != a0) & (b1 != b0))
    if runs * MIN_MEAN_RUN <= n:
        return None
    return np.argsort(a_pos, kind="stable")


def _relative(block: np.ndarray, n_members: int, n_classes: int) -> np.ndarray:
    """Rows of member-major stacked weights (r, M*C) -> (r, (C-1)*M) class-major, relative to class 0."""
    per_member = np.asarray(block, dtype=np.float64).reshape(len(block), n_members, n_classes)
    return (per_member[:, :, 1:] - per_member[:, :, :1]).transpose(0, 2, 1).reshape(len(block), -1)


def relative_class_major(weights: np.ndarray, bias: np.ndarray, n_members: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Stacked member-major weights (F, M*C) and bias -> class-major columns relative to class 0
    ((F, (C-1)*M), ((C-1)*M,)) and C: a softmax does not change when one logit is subtracted from
    all, so each member's class-0 logit is fixed at 0 (see stacked_linear.StackedLinearScorer)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape[1] % n_members:
        raise ValueError(f"{weights.shape[1]} stacked columns do not split into {n_members} members")
    n_classes = weights.shape[1] // n_members
    per_member = weights.reshape(-1, n_members, n_classes)
    relative = (per_member[:, :, 1:] - per_member[:, :, :1]).transpose(0, 2, 1).reshape(weights.shape[0], -1)
    bias_member = np.asarray(bias, dtype=np.float64).reshape(n_members, n_classes)
    return relative, (bias_member[:, 1:] - bias_member[:, :1]).T.ravel(), n_classes


@dataclass(frozen=True)
class SparseStackedScorer:
    """The ensemble's stacked weights split by pair block for CSR item vectors; the same
    `member_proba` / `class_major_proba` as scoring.StackedLinearScorer, plus the chunk's dense
    per-pair columns (``extra``, (n, n_extra)) when the layout has them."""

    w_pair: np.ndarray            # (D, 2K): [:, :K] the a*b rows, [:, K:] the |a-b| rows
    w_cos: np.ndarray             # (K,)
    w_extra: np.ndarray | None    # (n_extra, K) or None
    item_term: np.ndarray         # (n_items, K) = |X| @ W_abs + X @ W_sum
    bias: np.ndarray              # (K,)
    matrix: sp.csr_matrix         # canonical CSR (n_items, D)
    inv_norms: np.ndarray         # (n_items,)
    max_row_nnz: int
    n_members: int
    n_classes: int
    layout: PairLayout

    @classmethod
    def from_weights(
        cls,
        weights: np.ndarray,
        bias: np.ndarray,
        item_vectors,  # noqa: ANN001 - ItemVectors with a sparse matrix, or a scipy sparse (n_items, D)
        n_members: int,
        layout: PairLayout = PairLayout(),
        dtype: str = "float32",
    ) -> SparseStackedScorer:
        """``weights (F, M*C)``, ``bias (M*C,)``: `BaggedEnsemble.stacked_weights()` of an ensemble
        trained on pair features in ``layout`` order."""
        norms = None
        if isinstance(item_vectors, ItemVectors):
            matrix, norms = item_vectors.matrix, item_vectors.norms  # the norms are derived once per run
        else:
            matrix = item_vectors
        csr = matrix if is_canonical_csr(matrix, dtype) else canonical_csr(matrix, dtype)
        n_items, d = csr.shape
        if weights.shape[0] != layout.n_features(d):
            raise ValueError(f"stacked weights have {weights.shape[0]} rows; pair layout {layout.blocks} with "
                             f"D={d} and {layout.n_extra} extra columns has {layout.n_features(d)}")
        weights = np.asarray(weights)
        if weights.shape[1] % n_members:
            raise ValueError(f"{weights.shape[1]} stacked columns do not split into {n_members} members")
        n_classes = weights.shape[1] // n_members
        n_cols = (n_classes - 1) * n_members
        rows = layout.block_rows(d)
        # Block by block, straight into the scoring dtype (no relative float64 copy of all of W;
        # the blocks are ~50k rows each and this runs once per scan, ~20-40 ms CPU on FBL).
        w_pair = np.zeros((d, 2 * n_cols), dtype=dtype)
        for block, columns in (("prod", slice(0, n_cols)), ("absdiff", slice(n_cols, 2 * n_cols))):
            if block in layout.blocks:
                w_pair[:, columns] = _relative(weights[rows[block]], n_members, n_classes)
        w_cos = _relative(weights[rows["cos"]], n_members, n_classes)[0] if "cos" in layout.blocks else np.zeros(n_cols)
        with single_threaded():
            # |x| = x for TF-IDF (non-negative): no copy of the matrix then.
            magnitudes = csr if csr.data.min(initial=0) >= 0 else abs(csr)
            item_term = magnitudes @ np.ascontiguousarray(w_pair[:, n_cols:]) if "absdiff" in layout.blocks \
                else np.zeros((n_items, n_cols), dtype=dtype)
            if "sum" in layout.blocks:
                item_term += csr @ _relative(weights[rows["sum"]], n_members, n_classes).astype(dtype)
        if norms is None:
            norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1), dtype=np.float64).ravel())
        inv_norms = np.divide(1.0, norms, out=np.zeros_like(norms, dtype=np.float64), where=norms > 0)
        rel_bias = _relative(np.asarray(bias)[None, :], n_members, n_classes)[0]
        return cls(
            w_pair=w_pair,
            w_cos=w_cos.astype(dtype),
            w_extra=np.ascontiguousarray(_relative(weights[rows["extra"]], n_members, n_classes), dtype=dtype)
            if layout.n_extra else None,
            item_term=np.ascontiguousarray(item_term, dtype=dtype),
            bias=rel_bias.astype(dtype),
            matrix=csr,
            inv_norms=inv_norms.astype(dtype),
            max_row_nnz=int(np.diff(csr.indptr).max(initial=0)),
            n_members=n_members,
            n_classes=n_classes,
            layout=layout,
        )

    def logits(self, a_pos: np.ndarray, b_pos: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """(n, (C-1)*M) class-major logits relative to class 0."""
        a_pos = np.ascontiguousarray(a_pos, dtype=np.int64)
        b_pos = np.ascontiguousarray(b_pos, dtype=np.int64)
        n = len(a_pos)
        if len(b_pos) != n:
            raise ValueError(f"{n} a positions but {len(b_pos)} b positions")
        n_items = self.matrix.shape[0]
        if n and (min(a_pos.min(), b_pos.min()) < 0 or max(a_pos.max(), b_pos.max()) >= n_items):
            raise IndexError("item position out of range")
        out = np.empty((n, len(self.bias)), dtype=self.w_pair.dtype)
        order = _grouping_order(a_pos, b_pos)
        if order is not None:
            grouped = np.empty_like(out)
            self._kernel(a_pos[order], b_pos[order], grouped)
            out[order] = grouped
        else:
            self._kernel(a_pos, b_pos, out)
        add_extra_columns(out, extra, self.w_extra)
        return out

    def _kernel(self, a_pos: np.ndarray, b_pos: np.ndarray, out: np.ndarray) -> None:
        # numba (~0.5-1 s to import) loads only when sparse vectors are scored.
        from python_jobs.learning.sparse_kernel import sparse_pair_logits

        sparse_pair_logits(self.matrix.indptr, self.matrix.indices, self.matrix.data, self.inv_norms,
                            a_pos, b_pos, self.w_pair, self.w_cos, self.item_term, self.bias,
                            self.max_row_nnz, out)

    def class_major_proba(self, a_pos: np.ndarray, b_pos: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """(n, C, M) contiguous probabilities: row i, class c, member m."""
        return _softmax_relative(self.logits(a_pos, b_pos, extra), self.n_classes, self.n_members)

    def member_proba(self, a_pos: np.ndarray, b_pos: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        """(M, n, C) probabilities of every member (a view of `class_major_proba`)."""
        return self.class_major_proba(a_pos, b_pos, extra).transpose(2, 0, 1)


def materialised_pair_features(matrix, a_pos: np.ndarray, b_pos: np.ndarray, layout: PairLayout,  # noqa: ANN001
                               extra: np.ndarray | None = None) -> sp.csr_matrix:
    """(n, F) pair features in ``layout`` order, materialised the plain way (the reference the
    kernel is tested against, and the naive baseline of the benchmark): float64 CSR."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    A, B = csr[np.asarray(a_pos)], csr[np.asarray(b_pos)]
    prod = A.multiply(B).tocsr()
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=1)).ravel() * np.asarray(B.multiply(B).sum(axis=1)).ravel())
    dot = np.asarray(prod.sum(axis=1)).ravel()
    cos = np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0)
    blocks = {"absdiff": abs(A - B), "prod": prod, "sum": A + B, "cos": sp.csr_matrix(cos[:, None])}
    parts = [blocks[name] for name in layout.blocks]
    if layout.n_extra:
        parts.append(sp.csr_matrix(np.asarray(extra, dtype=np.float64)))
    return sp.hstack(parts, format="csr")
