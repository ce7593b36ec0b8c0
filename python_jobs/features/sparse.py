"""Sparse item vectors (char n-gram TF-IDF) and their storage in raw.item_sparse_vectors.

A row holds an item's non-zero columns as two lists (``indices int[]``, ``vals float[]``):
DuckDB hands them back as two flat arrow arrays plus offsets, which is exactly a CSR matrix
(no per-row Python). 4.7k FBL items (~110 non-zeros each, V ~ 48k) load in well under a second.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from python_jobs.features.text import balanced_fit_rows, normalise_title
from python_jobs.warehouse.arrow import arrow_table


@dataclass(frozen=True)
class SparseCharTfidf:
    """Character n-gram TF-IDF, sublinear tf, L2-normalised rows, kept sparse (no SVD).

    Fitted on the corpus (balanced across catalogues like CharTfidfSvd), applied to all titles."""

    analyzer: str = "char"
    ngram_min: int = 1
    ngram_max: int = 3
    min_df: int = 1
    sublinear_tf: bool = True
    seed: int = 0
    balance_floor: int = 5000
    name: str = "sparse_char_tfidf"
    version: str = "1"

    @property
    def feature_set(self) -> str:
        return (f"{self.name}:v{self.version}:{self.analyzer}{self.ngram_min}-{self.ngram_max}"
                f":mindf{self.min_df}:sub{int(self.sublinear_tf)}:s{self.seed}:balance{self.balance_floor}")

    def fit_transform(self, titles: Sequence[str], groups: Sequence[str] | None = None) -> sp.csr_matrix:
        return transform_titles(self.fit(titles, groups), titles)

    def fit(self, titles: Sequence[str], groups: Sequence[str] | None = None):  # noqa: ANN201 - sklearn, lazily
        """The fitted TfidfVectorizer (None for a corpus of empty titles): `transform_titles`
        applies it anywhere, e.g. broadcast to Spark executors (spark/features.py)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [normalise_title(t) for t in titles]
        if not any(texts):
            return None
        fit_rows = balanced_fit_rows(texts, groups, self.balance_floor, self.seed)
        tfidf = TfidfVectorizer(analyzer=self.analyzer, ngram_range=(self.ngram_min, self.ngram_max),
                                min_df=self.min_df, sublinear_tf=self.sublinear_tf, dtype=np.float32)
        return tfidf.fit([texts[i] for i in fit_rows])


def transform_titles(vectoriser, titles: Sequence[str]) -> sp.csr_matrix:  # noqa: ANN001 - a fitted TfidfVectorizer or None
    """Canonical CSR vectors of titles under a fitted `SparseCharTfidf.fit` vectoriser (None: one
    empty column per title, as for a corpus of empty titles)."""
    if vectoriser is None:
        return sp.csr_matrix((len(titles), 1), dtype=np.float32)
    return canonical(vectoriser.transform([normalise_title(t) for t in titles]))


def canonical(matrix: sp.spmatrix) -> sp.csr_matrix:
    """float32 CSR with sorted, unique indices (int32) and int64 row pointers."""
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.sum_duplicates()
    csr.indices = csr.indices.astype(np.int32, copy=False)
    csr.indptr = csr.indptr.astype(np.int64, copy=False)
    return csr


def store_sparse_vectors(con: duckdb.DuckDBPyConnection, feature_set: str, item_ids: Sequence[str],
                         matrix: sp.spmatrix) -> int:
    """Write one row per item (replacing rows of the same keys); returns the rows written."""
    csr = canonical(matrix)
    if csr.shape[0] != len(item_ids):
        raise ValueError(f"{csr.shape[0]} vectors for {len(item_ids)} item ids")
    offsets = pa.array(csr.indptr.astype(np.int32))
    frame = pa.table({
        "item_id": pa.array(list(item_ids), pa.string()),
        "indices": pa.ListArray.from_arrays(offsets, pa.array(csr.indices, pa.int32())),
        "vals": pa.ListArray.from_arrays(offsets, pa.array(csr.data, pa.float32())),
    })
    stamp = datetime.now(timezone.utc).replace(tzinfo=None)
    con.register("_karl_new_sparse", frame)
    try:
        con.execute("begin transaction")
        con.execute("delete from raw.item_sparse_vectors where feature_set = ? "
                    "and item_id in (select item_id from _karl_new_sparse)", [feature_set])
        con.execute("insert into raw.item_sparse_vectors (feature_set, item_id, indices, vals, dim, created_at) "
                    "select ?, item_id, indices, vals, ?, ? from _karl_new_sparse",
                    [feature_set, int(csr.shape[1]), stamp])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_karl_new_sparse")
    return csr.shape[0]


def load_sparse_vectors(con: duckdb.DuckDBPyConnection, feature_set: str) -> tuple[list[str], sp.csr_matrix]:
    """(item ids ordered by item_id, CSR (n, dim) float32) of a sparse feature set."""
    table = arrow_table(con.execute(
        "select item_id, indices, vals, dim from raw.item_sparse_vectors where feature_set = ? order by item_id",
        [feature_set]))
    ids = table.column("item_id").to_pylist()
    if not ids:
        return [], sp.csr_matrix((0, 0), dtype=np.float32)
    indices = table.column("indices").combine_chunks()
    vals = table.column("vals").combine_chunks()
    indptr = np.asarray(indices.offsets, dtype=np.int64)
    matrix = sp.csr_matrix(
        (vals.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False),
         indices.flatten().to_numpy(zero_copy_only=False).astype(np.int32, copy=False), indptr),
        shape=(len(ids), int(table.column("dim")[0].as_py())))
    return ids, matrix


def ensure_sparse_vectors(con: duckdb.DuckDBPyConnection, featuriser: SparseCharTfidf,
                          items_sql: str = "select item_id, title, catalog from marts.dim_items order by item_id",
                          ) -> str:
    """Make sure every item has a sparse vector of this featuriser on this corpus; return the
    feature set (named after the featuriser and a fingerprint of the corpus, like ensure_item_vectors)."""
    rows = con.execute(items_sql).fetchall()
    groups = [row[2] for row in rows] if rows and len(rows[0]) > 2 else None
    corpus = hashlib.sha256("\n".join(f"{row[0]}\t{row[1] or ''}" for row in rows).encode())
    feature_set = f"{featuriser.feature_set}:corpus={corpus.hexdigest()[:12]}"
    stored = con.execute("select count(*) from raw.item_sparse_vectors where feature_set = ?",
                         [feature_set]).fetchall()[0][0]
    if stored != len(rows):
        matrix = featuriser.fit_transform([row[1] or "" for row in rows], groups)
        store_sparse_vectors(con, feature_set, [row[0] for row in rows], matrix)
    return feature_set
