"""The numba kernel of the sparse scorer (learning/scoring_sparse.py), in its own module so numba
is imported only when sparse item vectors are scored. Compiled once per machine (~4 s, cached
next to this file in __pycache__); loading the cached code takes well under a second.
"""

from __future__ import annotations

import numba
import numpy as np


# No reassociation (fastmath=True would allow it): a pair's logits are the same bits whichever
# side was scattered and however the pool is chunked or ordered, so ties break the same way.
@numba.njit(nogil=True, cache=True, fastmath={"contract"})
def sparse_pair_logits(indptr, indices, data, inv_norms, a_pos, b_pos,  # noqa: ANN001, PLR0913
                       w_pair, w_cos, item_term, bias, max_row_nnz, out):
    """out[i] = bias + item_term[a] + item_term[b] + cos(a, b) w_cos
              + sum_{j in A&B} (a_j b_j w_pair[j, :K] + (|a_j-b_j| - |a_j| - |b_j|) w_pair[j, K:])

    Positions must be in range (checked by the caller: no bounds checks here). Releases the GIL.
    """
    n = a_pos.shape[0]
    n_cols = out.shape[1]
    scratch = np.zeros(w_pair.shape[0], dtype=data.dtype)  # the scattered row, zero elsewhere
    hits = np.empty(max(max_row_nnz, 1), dtype=np.int64)
    acc = np.empty(n_cols, dtype=out.dtype)
    current = -1
    for i in range(n):
        a = a_pos[i]
        b = b_pos[i]
        if b == current:  # the pair is symmetric: keep the scattered item
            a, b = b, a
        elif a != current and i + 1 < n and (b == a_pos[i + 1] or b == b_pos[i + 1]):
            a, b = b, a  # scatter the item the next pair shares
        if a != current:
            if current >= 0:
                for p in range(indptr[current], indptr[current + 1]):
                    scratch[indices[p]] = 0
            for p in range(indptr[a], indptr[a + 1]):
                scratch[indices[p]] = data[p]
            current = a
        # Collect b's entries that a shares, without a branch (it mispredicts ~1 in 7 lookups).
        n_hits = 0
        for p in range(indptr[b], indptr[b + 1]):
            hits[n_hits] = p
            n_hits += scratch[indices[p]] != 0
        for k in range(n_cols):
            acc[k] = bias[k] + (item_term[a, k] + item_term[b, k])  # symmetric in (a, b)
        dot = 0.0  # float64: the cosine accumulates exactly enough whatever the dtype
        for h in range(n_hits):
            p = hits[h]
            j = indices[p]
            av = scratch[j]
            bv = data[p]
            prod = av * bv
            dot += prod
            corr = abs(av - bv) - (abs(av) + abs(bv))
            for k in range(n_cols):
                acc[k] += prod * w_pair[j, k] + corr * w_pair[j, n_cols + k]
        cos = dot * (inv_norms[a] * inv_norms[b])
        for k in range(n_cols):
            out[i, k] = acc[k] + cos * w_cos[k]
