"""The one item-vector type of karl, and its storage in raw.item_vectors.

`ItemVectors` holds one feature set's vectors by position (row i is item ``ids[i]``); the loop
builds training pair matrices from it and the scorer streams candidates against it. What it
derives (the id -> row table, norms, the DuckDB position table) is derived once per run.
The matrix is dense (n_items, d) or sparse CSR (n_items, V) (e.g. char n-gram TF-IDF); sparse
matrices are kept in canonical form (sorted unique indices, float32), which the sparse scorer
(learning/scoring_sparse.py) reads directly.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from python_jobs.features.pairs import pair_features
from python_jobs.features.text import CharTfidfSvd, Featuriser
from python_jobs.warehouse.arrow import arrow_table


def canonical_csr(matrix, dtype: str = "float32") -> sp.csr_matrix:  # noqa: ANN001 - any scipy sparse / array
    """A CSR copy with sorted, unique column indices (int32 where they fit, int64 row pointers) and
    values in ``dtype``: the sparse scorer reads the raw arrays, and sklearn's TfidfVectorizer
    returns unsorted indices."""
    csr = sp.csr_matrix(matrix, dtype=dtype, copy=True)
    csr.sum_duplicates()  # also sorts the indices
    csr.indices = csr.indices.astype(np.int32 if csr.shape[1] < 2**31 else np.int64, copy=False)
    csr.indptr = csr.indptr.astype(np.int64, copy=False)
    return csr


def is_canonical_csr(matrix, dtype: str = "float32") -> bool:  # noqa: ANN001
    return (isinstance(matrix, sp.csr_matrix) and matrix.dtype == np.dtype(dtype) and matrix.has_canonical_format
            and matrix.indptr.dtype == np.int64 and matrix.indices.dtype in (np.int32, np.int64))


class ItemVectors:
    """Item vectors of one feature set by position; ``ids[i]`` is the item of row ``i`` of ``matrix``
    (a dense array, or any scipy sparse matrix: kept as canonical float32 CSR)."""

    def __init__(self, ids: Sequence[str] | np.ndarray, matrix: np.ndarray | sp.spmatrix | sp.sparray):
        self.ids = np.asarray(ids, dtype=object)
        if sp.issparse(matrix) and not is_canonical_csr(matrix):
            matrix = canonical_csr(matrix)
        if matrix.shape[0] != len(self.ids):
            raise ValueError(f"{len(self.ids)} item ids but {matrix.shape[0]} vectors")
        self.matrix = matrix

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def is_sparse(self) -> bool:
        return sp.issparse(self.matrix)

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """item id -> row."""
        return {item_id: row for row, item_id in enumerate(self.ids.tolist())}

    @functools.cached_property
    def norms(self) -> np.ndarray:
        """(n_items,) float64 L2 norms."""
        if self.is_sparse:
            n_items = self.matrix.shape[0]
            rows = np.repeat(np.arange(n_items), np.diff(self.matrix.indptr))
            return np.sqrt(np.bincount(rows, weights=self.matrix.data.astype(np.float64) ** 2, minlength=n_items))
        return np.sqrt(np.einsum("ij,ij->i", self.matrix, self.matrix, dtype=np.float64))

    @functools.cached_property
    def positions(self) -> pa.Table:
        """(item_id, item_pos) for DuckDB to map candidate item ids to rows of ``matrix``."""
        return pa.table({"item_id": pa.array(self.ids.tolist(), pa.string()),
                         "item_pos": pa.array(np.arange(len(self.ids), dtype=np.int32))})

    def rows(self, item_ids: np.ndarray) -> np.ndarray:
        try:
            return np.fromiter((self.index[item_id] for item_id in item_ids), dtype=np.int64, count=len(item_ids))
        except KeyError as error:
            raise KeyError(f"item {error.args[0]} has no vector in this feature set: run the features step") from None

    def pair_matrix(self, item_a_ids: np.ndarray, item_b_ids: np.ndarray) -> np.ndarray:
        """Training/evaluation pair features (features/pairs.py) of pairs given by item ids."""
        if self.is_sparse:
            raise NotImplementedError("pair features of sparse item vectors: features/pairs.py (issue 11)")
        return pair_features(self.matrix[self.rows(item_a_ids)], self.matrix[self.rows(item_b_ids)])


def store_item_vectors(
    con: duckdb.DuckDBPyConnection,
    feature_set: str,
    item_ids: Sequence[str],
    vectors: np.ndarray,
) -> int:
    """Write vectors for (feature_set, item_id); existing rows of those keys are replaced.

    Idempotent on (feature_set, item_id). Inserted as one arrow frame, not row by row.
    Returns the number of rows written.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(item_ids):
        raise ValueError(f"vectors {vectors.shape} do not match {len(item_ids)} item ids")
    if len(set(item_ids)) != len(item_ids):
        raise ValueError("item_ids must be unique")
    n, d = vectors.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if n else np.zeros(1, np.int32))
    frame = pa.table(
        {
            "item_id": pa.array(list(item_ids), type=pa.string()),
            "vector": pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1))),
        }
    )
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con.register("_karl_new_vectors", frame)
    try:
        con.execute("begin transaction")
        con.execute(
            "delete from raw.item_vectors where feature_set = ? "
            "and item_id in (select item_id from _karl_new_vectors)",
            [feature_set],
        )
        con.execute(
            "insert into raw.item_vectors (feature_set, item_id, vector, created_at) "
            "select ?, item_id, vector::float[], ? from _karl_new_vectors",
            [feature_set, now],
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_karl_new_vectors")
    return n


def load_item_vectors(con: duckdb.DuckDBPyConnection, feature_set: str,
                      item_ids: Sequence[str] | None = None) -> ItemVectors:
    """A feature set's vectors, ordered by item_id (or as given; KeyError for an item without one)."""
    table = arrow_table(con.execute(
        "select item_id, vector from raw.item_vectors where feature_set = ? order by item_id", [feature_set]))
    ids = table.column("item_id").to_pylist()
    if not ids:
        return ItemVectors([], np.zeros((0, 0), dtype=np.float32))
    flat = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    # A copy, as numpy allocates it: BLAS float32 kernels round by alignment, and runs reproduce
    # their scores to the bit only on the same kind of memory.
    vectors = ItemVectors(ids, flat.astype(np.float32).reshape(len(ids), -1))
    if item_ids is None:
        return vectors
    missing = [item_id for item_id in item_ids if item_id not in vectors.index]
    if missing:
        raise KeyError(f"{len(missing)} items have no vector in {feature_set!r}, e.g. {missing[:3]}")
    return ItemVectors(list(item_ids), vectors.matrix[vectors.rows(np.asarray(item_ids, dtype=object))])


def ensure_item_vectors(
    con: duckdb.DuckDBPyConnection,
    featuriser: Featuriser | None = None,
    seed: int = 0,
    items_sql: str = "select item_id, title, catalog from marts.dim_items order by item_id",
) -> str:
    """Make sure every item of `items_sql` has a vector; return the feature_set.

    TF-IDF/SVD are fit on the whole corpus, so the feature set is named after the featuriser
    and a fingerprint of the corpus (item ids and titles): adding a catalogue creates a new
    feature set instead of rewriting vectors that earlier runs were trained on.
    """
    featuriser = featuriser or CharTfidfSvd(seed=seed)
    rows = con.execute(items_sql).fetchall()
    items = [(row[0], row[1]) for row in rows]
    groups = [row[2] for row in rows] if rows and len(rows[0]) > 2 else None
    corpus = hashlib.sha256("\n".join(f"{item_id}\t{title or ''}" for item_id, title in items).encode())
    feature_set = f"{featuriser.feature_set}:corpus={corpus.hexdigest()[:12]}"
    stored = con.execute(
        "select count(*) from raw.item_vectors where feature_set = ?", [feature_set]).fetchall()[0][0]
    if stored == len(items):
        return feature_set
    vectors = featuriser.fit_transform([title or "" for _, title in items], groups)
    store_item_vectors(con, feature_set, [item_id for item_id, _ in items], vectors)
    return feature_set
