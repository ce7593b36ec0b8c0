"""Item features: turn item titles into dense vectors, and store/load them in raw.item_vectors.

A featuriser is anything with a `feature_set` version string and `fit_transform(titles)`.
The version string names the method and every parameter that changes the vectors, so vectors of
different featurisers (or settings) never mix in the warehouse.

Default: character n-gram TF-IDF (FBL titles are Japanese; characters need no tokenizer) ->
TruncatedSVD (seeded) -> L2 normalisation, fitted on a corpus balanced across catalogues
(`balanced_fit_rows`) and applied to every title. `OpenAIEmbeddings` calls any
OpenAI-compatible embeddings endpoint instead.
"""

from __future__ import annotations

import hashlib

import os
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

import duckdb
import numpy as np
import pyarrow as pa
from python_jobs.learning.blas import single_threaded


@runtime_checkable
class Featuriser(Protocol):
    name: str
    version: str

    @property
    def feature_set(self) -> str:
        """Identifies the vectors this featuriser makes (method + version + parameters)."""
        ...

    def fit_transform(self, titles: Sequence[str], groups: Sequence[str] | None = None) -> np.ndarray:
        """(n, d) float32 vectors, one row per title, in the order given. ``groups``: each
        title's catalogue, for featurisers that fit on the corpus (None: one catalogue)."""
        ...


def normalise_title(title: str) -> str:
    """NFKC folds full-width ASCII/digits and half-width katakana (both common in ASKUL titles)."""
    return unicodedata.normalize("NFKC", title or "").lower()


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


def balanced_fit_rows(texts: Sequence[str], groups: Sequence[str] | None, floor: int, seed: int) -> np.ndarray:
    """Rows to fit a corpus-level featuriser on. One catalogue: every row. Several: a catalogue
    larger than cap = max(the smallest catalogue's row count, floor) contributes a seeded sample
    of cap distinct titles, a smaller one all its rows.

    Why: fitted on everything, 92k English product titles took the 256 SVD dimensions from 4.7k
    Japanese FBL titles, and the FBL classifier's ID macro-F1 fell from 0.83 to 0.73 in that
    warehouse; the balanced fit keeps it at 0.82."""
    n = len(texts)
    if groups is None or len(set(groups)) < 2:
        return np.arange(n)
    groups = np.asarray(groups, dtype=object)
    names, sizes = np.unique(groups, return_counts=True)
    cap = max(int(sizes.min()), floor)
    rng = np.random.default_rng(seed)
    rows = []
    for name, size in zip(names, sizes):
        members = np.flatnonzero(groups == name)
        if size <= cap:
            rows.append(members)
            continue
        distinct: dict[str, int] = {}
        for row in members:
            distinct.setdefault(texts[row], int(row))
        candidates = np.array(sorted(distinct.values()))
        rows.append(rng.choice(candidates, size=min(cap, len(candidates)), replace=False))
    return np.sort(np.concatenate(rows))


@dataclass(frozen=True)
class CharTfidfSvd:
    """Character n-gram TF-IDF -> TruncatedSVD -> L2 normalise."""

    analyzer: str = "char_wb"
    ngram_min: int = 1
    ngram_max: int = 3
    min_df: int = 1
    sublinear_tf: bool = True
    n_components: int = 256
    seed: int = 0
    # Several catalogues: each is fitted on at most max(its smallest peer's size, this many)
    # distinct titles (all of a smaller one's titles), so no catalogue dominates the space.
    balance_floor: int = 5000
    name: str = "char_tfidf_svd"
    version: str = "2"

    @property
    def feature_set(self) -> str:
        return (
            f"{self.name}:v{self.version}:{self.analyzer}{self.ngram_min}-{self.ngram_max}"
            f":mindf{self.min_df}:sub{int(self.sublinear_tf)}:d{self.n_components}:s{self.seed}"
            f":balance{self.balance_floor}"
        )

    def fit_transform(self, titles: Sequence[str], groups: Sequence[str] | None = None) -> np.ndarray:
        """Fit on the corpus (balanced across catalogues when ``groups`` has several), transform all."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [normalise_title(t) for t in titles]
        fit_rows = balanced_fit_rows(texts, groups, self.balance_floor, self.seed)
        tfidf = TfidfVectorizer(
            analyzer=self.analyzer,
            ngram_range=(self.ngram_min, self.ngram_max),
            min_df=self.min_df,
            sublinear_tf=self.sublinear_tf,
            dtype=np.float32,
        )
        with single_threaded():
            if len(fit_rows) == len(texts):
                sparse = tfidf.fit_transform(texts)
                fit_sparse = sparse
            else:
                tfidf.fit([texts[i] for i in fit_rows])
                sparse = tfidf.transform(texts)
                fit_sparse = sparse[fit_rows]
            # SVD cannot have more components than features-1 (tiny test corpora).
            dims = min(self.n_components, max(1, min(fit_sparse.shape) - 1))
            svd = TruncatedSVD(n_components=dims, algorithm="randomized", random_state=self.seed)
            # One catalogue: fit_transform, exactly the vectors of version 1.
            dense = svd.fit_transform(sparse) if fit_sparse is sparse else svd.fit(fit_sparse).transform(sparse)
        if dense.shape[1] < self.n_components:
            dense = np.hstack([dense, np.zeros((dense.shape[0], self.n_components - dense.shape[1]))])
        return l2_normalise(dense)


@dataclass(frozen=True)
class OpenAIEmbeddings:
    """Embeddings from any OpenAI-compatible endpoint.

    Model from KARL_EMBEDDING_MODEL; base URL from KARL_EMBEDDING_BASE_URL (else OPENAI_BASE_URL);
    key from KARL_EMBEDDING_API_KEY (else OPENAI_API_KEY). Vectors are L2-normalised.
    """

    model: str | None = None
    batch_size: int = 256
    name: str = "openai_embeddings"
    version: str = "1"

    def _model(self) -> str:
        model = self.model or os.environ.get("KARL_EMBEDDING_MODEL")
        if not model:
            raise ValueError("set KARL_EMBEDDING_MODEL (or pass model=) to use OpenAIEmbeddings")
        return model

    @property
    def feature_set(self) -> str:
        return f"{self.name}:v{self.version}:{self._model()}"

    def _client(self):  # noqa: ANN202 - openai is imported lazily
        from openai import OpenAI

        base_url = os.environ.get("KARL_EMBEDDING_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        api_key = os.environ.get("KARL_EMBEDDING_API_KEY") or os.environ.get("OPENAI_API_KEY") or "none"
        return OpenAI(base_url=base_url, api_key=api_key)

    def fit_transform(self, titles: Sequence[str], groups: Sequence[str] | None = None) -> np.ndarray:
        client = self._client()
        model = self._model()
        texts = [normalise_title(t) or " " for t in titles]
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            response = client.embeddings.create(model=model, input=batch)
            # The API may return data out of order; `index` is authoritative.
            ordered = sorted(response.data, key=lambda d: d.index)
            rows.extend(d.embedding for d in ordered)
        return l2_normalise(np.asarray(rows, dtype=np.float32))


def default_featuriser() -> CharTfidfSvd:
    return CharTfidfSvd()


# --- storage in raw.item_vectors -----------------------------------------------------------


def _arrow_table(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pa.Table:
    # DB-API execute (not con.sql) so a caller's unfinished result does not block us; duckdb 2.0
    # names the method to_arrow_table (and warns about an extra copy, harmless at this size),
    # 1.x fetch_arrow_table.
    result = con.execute(sql, params)
    fetch = getattr(result, "to_arrow_table", None) or getattr(result, "fetch_arrow_table")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fetch()


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


def load_item_vectors(
    con: duckdb.DuckDBPyConnection, feature_set: str, item_ids: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """(item_ids, (n, d) float32) for a feature set, ordered by item_id (or as given)."""
    table = _arrow_table(
        con, "select item_id, vector from raw.item_vectors where feature_set = ? order by item_id", [feature_set]
    )
    ids = table.column("item_id").to_pylist()
    column = table.column("vector").combine_chunks()
    if len(ids) == 0:
        matrix = np.zeros((0, 0), dtype=np.float32)
    else:
        flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        matrix = flat.reshape(len(ids), -1)
    if item_ids is None:
        return ids, matrix
    position = {item_id: i for i, item_id in enumerate(ids)}
    missing = [i for i in item_ids if i not in position]
    if missing:
        raise KeyError(f"{len(missing)} items have no vector in {feature_set!r}, e.g. {missing[:3]}")
    return list(item_ids), matrix[[position[i] for i in item_ids]]


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
