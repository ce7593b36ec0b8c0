"""Named, versioned pair-feature sets, chosen per run (`karl run --features NAME`).

A feature set is one or more components joined by "+", e.g. ``char13+overlap``:

- ``svd``       dense char 1-3-gram TF-IDF -> SVD(256) item vectors (features/text.py), pair
                blocks [|a-b|, a*b, cos, a+b] (features/pairs.py): karl's features before issue 11.
- ``char13``    sparse char 1-3-gram TF-IDF item vectors (features/sparse.py, ~48k columns on
                FBL), pair blocks [|a-b|, a*b, cos] as a sparse row (no a+b: per item, it learns
                the training catalogue rather than the relation).
- ``overlap``   the K title-overlap features of features/overlap.py (dense).
- ``embeddings`` OpenAI-compatible embeddings (features/text.OpenAIEmbeddings), blocks as ``svd``.

The pair row is the components' blocks side by side, in the order named; it is sparse when any
component is. `PairFeatures.pair_matrix(a_ids, b_ids)` is the one function that turns pairs into
rows, for the human labels, the LLM labels, the OOD test half and the candidate pool alike.
For a non-linear family (hgb) `dense=True` gives the dense part only: the dense components and
the sparse component's cos.

Why ``char13`` is the default: the best ID CV (docs/results.md); ``char13+overlap`` is the
option that carries more OOD signal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import scipy.sparse as sp

from python_jobs import config
from python_jobs.config import parse_features
from python_jobs.features import overlap as overlap_features_module
from python_jobs.features.sparse import (
    SparseCharTfidf,
    ensure_sparse_vectors,
    load_sparse_vectors,
)
from python_jobs.features.vectors import (
    ItemVectors,
    ensure_item_vectors,
    load_item_vectors,
)
from python_jobs.learning.scoring import DENSE_LAYOUT
from python_jobs.learning.scoring_sparse import PairLayout

VERSION = "1"
DEFAULT_FEATURES = config.DEFAULT_FEATURES
# The C search range of the tuning per kind of pair row: standardised dense rows want strong
# regularisation, raw sparse TF-IDF rows (values << 1) weak.
C_RANGE_DENSE = (1e-4, 1.0)
C_RANGE_SPARSE = (0.3, 300.0)


@dataclass
class PairFeatures:
    """The pair featuriser of a run: item-level data of each component, loaded once."""

    name: str
    dense_vectors: ItemVectors | None = None     # svd / embeddings item vectors
    sparse_ids: list[str] = field(default_factory=list)
    sparse_matrix: sp.csr_matrix | None = None   # char13 item vectors
    item_sets: overlap_features_module.ItemSets | None = None
    stored: dict[str, str] = field(default_factory=dict)   # component -> stored feature set id

    @property
    def components(self) -> tuple[str, ...]:
        return parse_features(self.name)

    @property
    def is_sparse(self) -> bool:
        return "char13" in self.components

    @property
    def c_range(self) -> tuple[float, float]:
        return C_RANGE_SPARSE if self.is_sparse else C_RANGE_DENSE

    def scan_kernel(self) -> tuple[ItemVectors, PairLayout] | None:
        """The item vectors and pair layout of the stacked linear scorer (learning/scoring.py)
        for linear members on this set, or None when the set has per-pair columns the candidate
        pool does not carry (overlap): those score through their pair rows."""
        if self.components == ("svd",) or self.components == ("embeddings",):
            return self.dense_vectors, DENSE_LAYOUT
        if self.components == ("char13",):
            if "_scan_vectors" not in self.__dict__:
                self.__dict__["_scan_vectors"] = ItemVectors(self.sparse_ids, self.sparse_matrix)
            return self.__dict__["_scan_vectors"], PairLayout(blocks=("absdiff", "prod", "cos"))
        return None

    def artifact(self) -> dict:
        return {"features": self.name, "features_version": VERSION, "stored": dict(self.stored),
                "overlap_version": overlap_features_module.VERSION,
                "overlap_columns": list(overlap_features_module.OVERLAP_COLUMNS) if "overlap" in self.components
                else []}

    def pair_matrix(self, item_a_ids: Sequence[str], item_b_ids: Sequence[str], dense: bool = False):  # noqa: ANN201
        """(n, F) pair rows: scipy CSR float32 when a component is sparse (and not ``dense``),
        else a float32 ndarray."""
        item_a_ids = np.asarray(item_a_ids, dtype=object)
        item_b_ids = np.asarray(item_b_ids, dtype=object)
        # The loop asks for the same pairs every round (human labels, OOD half): memoised.
        key = (hashlib.sha1("\x1f".join(item_a_ids.tolist() + ["|"] + item_b_ids.tolist()).encode()).hexdigest(),
               dense)
        cache = self.__dict__.setdefault("_rows_cache", {})
        if key not in cache:
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[key] = self._pair_matrix(item_a_ids, item_b_ids, dense)
        return cache[key]

    def _pair_matrix(self, item_a_ids: np.ndarray, item_b_ids: np.ndarray, dense: bool):  # noqa: ANN202
        blocks: list = []
        for component in self.components:
            if component in ("svd", "embeddings"):
                blocks.append(self.dense_vectors.pair_matrix(item_a_ids, item_b_ids))
            elif component == "char13":
                blocks.append(self._sparse_block(item_a_ids, item_b_ids, cos_only=dense))
            else:
                blocks.append(overlap_features_module.overlap_features(self.item_sets, item_a_ids, item_b_ids))
        if any(sp.issparse(block) for block in blocks):
            return sp.hstack([sp.csr_matrix(block) for block in blocks], format="csr", dtype=np.float32)
        return np.hstack(blocks).astype(np.float32, copy=False)

    def _sparse_block(self, item_a_ids: np.ndarray, item_b_ids: np.ndarray, cos_only: bool):  # noqa: ANN202
        index = self._sparse_index
        try:
            rows_a = np.fromiter((index[i] for i in item_a_ids), np.int64, len(item_a_ids))
            rows_b = np.fromiter((index[i] for i in item_b_ids), np.int64, len(item_b_ids))
        except KeyError as error:
            raise KeyError(f"item {error.args[0]} has no sparse vector: run the features step") from None
        A, B = self.sparse_matrix[rows_a], self.sparse_matrix[rows_b]
        product = A.multiply(B).tocsr()
        norms = self._sparse_norms
        denominator = norms[rows_a] * norms[rows_b]
        dot = np.asarray(product.sum(axis=1)).ravel()
        cos = np.divide(dot, denominator, out=np.zeros_like(dot), where=denominator > 0).astype(np.float32)
        if cos_only:
            return cos[:, None]
        return sp.hstack([abs(A - B), product, sp.csr_matrix(cos[:, None])], format="csr", dtype=np.float32)

    @property
    def _sparse_index(self) -> dict[str, int]:
        if not hasattr(self, "_index_cache"):
            self._index_cache = {item_id: row for row, item_id in enumerate(self.sparse_ids)}
        return self._index_cache

    @property
    def _sparse_norms(self) -> np.ndarray:
        if not hasattr(self, "_norms_cache"):
            squared = self.sparse_matrix.multiply(self.sparse_matrix).sum(axis=1)
            self._norms_cache = np.sqrt(np.asarray(squared, dtype=np.float64).ravel())
        return self._norms_cache


def stack_rows(blocks: Sequence) -> object:
    """Rows of several pair matrices on top of each other (sparse when any block is)."""
    if any(sp.issparse(block) for block in blocks):
        return sp.vstack([sp.csr_matrix(block) for block in blocks], format="csr", dtype=np.float32)
    return np.vstack(blocks)


def empty_rows(like) -> object:  # noqa: ANN001
    """A (0, F) matrix of the same kind as ``like``."""
    if sp.issparse(like):
        return sp.csr_matrix((0, like.shape[1]), dtype=np.float32)
    return np.zeros((0, like.shape[1]), dtype=like.dtype)


ITEMS_SQL = "select item_id, title, catalog from marts.dim_items order by item_id"


def catalog_items_sql(catalog: str | None) -> str:
    """The items the featurisers fit on: every item, or with a catalogue (`--catalog NAME`) that
    catalogue's items and the items of the human-labelled and evaluation pairs (so the training
    and evaluation pairs still have vectors)."""
    if not catalog:
        return ITEMS_SQL
    name = catalog.replace("'", "''")
    return f"""
        select item_id, title, catalog from marts.dim_items
        where catalog = '{name}' or item_id in (
            select item_a_id from marts.fct_training_labels where label_source <> 'llm'
            union select item_b_id from marts.fct_training_labels where label_source <> 'llm'
            union select item_a_id from marts.fct_eval_sets
            union select item_b_id from marts.fct_eval_sets)
        order by item_id"""


def prepare_pair_features(con: duckdb.DuckDBPyConnection, name: str, seed: int = 0,
                          dense_feature_set: str | None = None, items_sql: str = ITEMS_SQL) -> PairFeatures:
    """Compute (or reuse) the stored item vectors of every component and load them.

    ``dense_feature_set``: the run's svd feature set when it is already ensured (categories use it);
    ``items_sql``: the items the featurisers fit on (`catalog_items_sql`)."""
    features = PairFeatures(name=name)
    for component in parse_features(name):
        if component == "svd":
            stored = dense_feature_set or ensure_item_vectors(con, seed=seed, items_sql=items_sql)
            features.dense_vectors = load_item_vectors(con, stored)
        elif component == "embeddings":
            from python_jobs.features.text import OpenAIEmbeddings

            stored = ensure_item_vectors(con, featuriser=OpenAIEmbeddings(), seed=seed, items_sql=items_sql)
            features.dense_vectors = load_item_vectors(con, stored)
        elif component == "char13":
            stored = ensure_sparse_vectors(con, SparseCharTfidf(seed=seed), items_sql)
            features.sparse_ids, features.sparse_matrix = load_sparse_vectors(con, stored)
        else:
            rows = con.execute("select item_id, title from marts.dim_items order by item_id").fetchall()
            features.item_sets = overlap_features_module.ItemSets([r[0] for r in rows], [r[1] for r in rows])
            stored = f"overlap:v{overlap_features_module.VERSION}"
        features.stored[component] = stored
    return features
