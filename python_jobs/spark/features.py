"""Item features as a Spark job: the sparse char n-gram TF-IDF (`features.sparse.SparseCharTfidf`,
the default `char13` set) fitted once on the driver, the fitted vectoriser broadcast, and every
item's title transformed where the items are (`mapInArrow`).

Fitting needs the whole corpus' document frequencies (a balanced sample of it: at most ~5k titles
per catalogue, `features.text.balanced_fit_rows`), so it stays on the driver; transforming is
per title and is what grows with the catalogue. A row is the item's non-zero columns as two
lists, the layout of raw.item_sparse_vectors (features/sparse.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from python_jobs.features.sparse import SparseCharTfidf, transform_titles
from python_jobs.features.vectors import ItemVectors

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import DataFrame

SPARSE_VECTOR_SCHEMA = "item_id string, indices array<int>, vals array<float>"


def fit_on_driver(items: DataFrame, featuriser: SparseCharTfidf):
    """Fit the featuriser on the items' titles (item_id order; `catalog` balances catalogues
    when the frame has it), as `features.sparse.ensure_sparse_vectors` does."""
    columns = ["item_id", "title"] + (["catalog"] if "catalog" in items.columns else [])
    corpus = items.select(*columns).orderBy("item_id").toArrow()
    titles = [title or "" for title in corpus.column("title").to_pylist()]
    groups = corpus.column("catalog").to_pylist() if "catalog" in columns else None
    return featuriser.fit(titles, groups)


def sparse_item_vectors(items: DataFrame, vectoriser) -> DataFrame:
    """(item_id, indices, vals) per item of ``items`` (item_id, title): the fitted vectoriser
    broadcast and applied to each arrow batch of titles."""
    shared = items.sparkSession.sparkContext.broadcast(vectoriser)

    def transform(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fitted = shared.value
        for batch in batches:
            titles = [title or "" for title in batch.column("title").to_pylist()]
            csr = transform_titles(fitted, titles)
            offsets = pa.array(csr.indptr.astype(np.int32))
            yield pa.RecordBatch.from_arrays(
                [batch.column("item_id").cast(pa.string()),
                 pa.ListArray.from_arrays(offsets, pa.array(csr.indices, pa.int32())),
                 pa.ListArray.from_arrays(offsets, pa.array(csr.data, pa.float32()))],
                names=["item_id", "indices", "vals"])

    return items.select("item_id", "title").mapInArrow(transform, SPARSE_VECTOR_SCHEMA)


def collect_item_vectors(vectors: DataFrame, dim: int) -> ItemVectors:
    """The vectors on the driver as the one `ItemVectors` (rows in item_id order), e.g. to
    broadcast to the scorer (spark/scoring.py)."""
    table = vectors.orderBy("item_id").toArrow()
    ids = table.column("item_id").to_pylist()
    indices = table.column("indices").combine_chunks()
    vals = table.column("vals").combine_chunks()
    indptr = np.asarray(indices.offsets, dtype=np.int64)
    indptr -= indptr[0] if len(indptr) else 0  # a sliced list array's offsets need not start at 0
    matrix = sp.csr_matrix(
        (vals.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False),
         indices.flatten().to_numpy(zero_copy_only=False).astype(np.int32, copy=False), indptr),
        shape=(len(ids), dim))
    return ItemVectors(ids, matrix)


def vocabulary_size(vectoriser) -> int:
    """Columns of the vectors a fitted vectoriser gives (1 for the empty-corpus case)."""
    return 1 if vectoriser is None else len(vectoriser.vocabulary_)
