"""Featurisers: turn item titles into dense vectors (stored by features/vectors.py).

A featuriser is anything with a `feature_set` version string and `fit_transform(titles)`.
The version string names the method and every parameter that changes the vectors, so vectors of
different featurisers (or settings) never mix in the warehouse.

Default: character n-gram TF-IDF (FBL titles are Japanese; characters need no tokenizer) ->
TruncatedSVD (seeded) -> L2 normalisation, fitted on a corpus balanced across catalogues
(`balanced_fit_rows`) and applied to every title. `OpenAIEmbeddings` calls any
OpenAI-compatible embeddings endpoint instead.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

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
