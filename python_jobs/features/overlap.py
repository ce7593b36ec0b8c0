"""Title-overlap pair features: one definition for labelled pairs and the candidate pool.

`ItemSets` derives, once per corpus, each item's sets (char 1..4-grams, tokens, numbers,
number+unit tokens, model numbers, 3-grams after masking digits and after dropping bracketed
text) as binary sparse rows, three extra TF-IDF views, and the leading/trailing token.
`overlap_features(items, a_ids, b_ids)` turns any list of pairs into an (n, K) float32 matrix in
the order of `OVERLAP_COLUMNS`: set Jaccard and overlap coefficients by sparse row products
(vectorised, no per-pair Python), the extra cosines, and DuckDB's string functions
(`jaro_winkler_similarity`, `levenshtein`, `contains`) on the normalised titles. The same
function featurises the human labels, the LLM labels, the OOD test half and the pool, so the
two can never drift apart.

Why these: on karl's protocol (ID = 5-fold CV on FBL2023, 10 undersampled LR members) they
add OOD macro-F1 (FBL2024 test half) that sparse char n-grams alone do not carry: brand,
numbers and units decide substitute vs other across catalogues (benchmarks/feature_research/measure.py). Every
feature is symmetric in (a, b).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

VERSION = "1"
NUMBER = re.compile(r"\d+(?:\.\d+)?")
NUMBER_UNIT = re.compile(
    r"\d+(?:\.\d+)?\s*(?:mm|cm|m|g|kg|ml|l|枚|個|本|冊|箱|袋|巻|組|色|入|セット|パック|ケース|ロール|足|粒|錠|包|缶|台|p|w|v|a)")
BRACKETED = re.compile(r"[（(【\[［〈<「].*?[）)】\]］〉>」]")
TOKEN_SPLIT = re.compile(r"[\s/・,，、]+")
MODEL_NUMBER = re.compile(r"[a-z0-9][a-z0-9\-]*\d[a-z0-9\-]*")


def overlap_title(title: str | None) -> str:
    """NFKC, lower case, runs of white space as one space (full-width spaces included)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", title or "").lower()).strip()


def _grams(text: str, n: int) -> list[str]:
    text = text.replace(" ", "")
    return [text[i:i + n] for i in range(len(text) - n + 1)] or ([text] if text else [])


def _tokens(text: str) -> list[str]:
    return [token for token in TOKEN_SPLIT.split(text) if token]


SET_KINDS = {
    "c1": lambda s: _grams(s, 1),
    "c2": lambda s: _grams(s, 2),
    "c3": lambda s: _grams(s, 3),
    "c4": lambda s: _grams(s, 4),
    "tok": _tokens,
    "num": lambda s: NUMBER.findall(s),
    "unit": lambda s: [u.replace(" ", "") for u in NUMBER_UNIT.findall(s)],
    "model": lambda s: [m for m in MODEL_NUMBER.findall(s) if len(m) >= 3],
    "masked3": lambda s: _grams(NUMBER.sub("0", s), 3),
    "nobr3": lambda s: _grams(BRACKETED.sub(" ", s), 3),
}
# Kinds that also get "present in one title only" and "present in both" flags.
FLAGGED_KINDS = ("tok", "num", "unit", "model")
COSINES = {
    "cos_char26": dict(analyzer="char", ngram_range=(2, 6), min_df=2, sublinear_tf=True),
    "cos_word": dict(analyzer=_tokens, sublinear_tf=True),
    "cos_binary13": dict(analyzer="char", ngram_range=(1, 3), use_idf=False, binary=True),
}
SQL_COLUMNS = ("jaro_winkler", "levenshtein_ratio", "first_token_eq", "last_token_eq", "first_token_in_other",
               "last_token_in_other", "prefix_ratio", "length_ratio")


def _set_columns() -> list[str]:
    columns = []
    for kind in SET_KINDS:
        columns += [f"jaccard_{kind}", f"overlap_{kind}"]
        if kind in FLAGGED_KINDS:
            columns += [f"one_only_{kind}", f"both_{kind}"]
    return columns


OVERLAP_COLUMNS: tuple[str, ...] = (*_set_columns(), *COSINES, *SQL_COLUMNS)


class ItemSets:
    """Per-item sets and views of a corpus (row i = item ``ids[i]``), for `overlap_features`."""

    def __init__(self, ids: Sequence[str], titles: Sequence[str | None]):
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

        self.ids = np.asarray(ids, dtype=object)
        self.index = {item_id: row for row, item_id in enumerate(self.ids.tolist())}
        self.titles = np.asarray([overlap_title(t) for t in titles], dtype=object)
        texts = self.titles.tolist()
        self.sets: dict[str, tuple[sp.csr_matrix, np.ndarray]] = {}
        for kind, extract in SET_KINDS.items():
            if any(extract(text) for text in texts):
                binary = CountVectorizer(analyzer=extract, binary=True, dtype=np.float32).fit_transform(texts).tocsr()
            else:
                binary = sp.csr_matrix((len(texts), 1), dtype=np.float32)
            self.sets[kind] = (binary, np.asarray(binary.sum(axis=1), dtype=np.float32).ravel())
        nonempty = any(texts)
        self.cosines = {name: (TfidfVectorizer(dtype=np.float32, **params).fit_transform(texts).tocsr() if nonempty
                               else sp.csr_matrix((len(texts), 1), dtype=np.float32))
                        for name, params in COSINES.items()}
        tokens = [_tokens(text) for text in texts]
        self.first = np.asarray([t[0] if t else "" for t in tokens], dtype=object)
        self.last = np.asarray([t[-1] if t else "" for t in tokens], dtype=object)

    def rows(self, item_ids: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self.index[i] for i in item_ids), dtype=np.int64, count=len(item_ids))
        except KeyError as error:
            raise KeyError(f"item {error.args[0]} has no title in this corpus") from None


def _rowwise_dot(matrix: sp.csr_matrix, rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    return np.asarray(matrix[rows_a].multiply(matrix[rows_b]).sum(axis=1), dtype=np.float32).ravel()


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def overlap_features(items: ItemSets, item_a_ids: Sequence[str], item_b_ids: Sequence[str]) -> np.ndarray:
    """(n, len(OVERLAP_COLUMNS)) float32 overlap features of the pairs (a_i, b_i)."""
    rows_a, rows_b = items.rows(item_a_ids), items.rows(item_b_ids)
    columns: list[np.ndarray] = []
    for kind in SET_KINDS:
        binary, size = items.sets[kind]
        shared = _rowwise_dot(binary, rows_a, rows_b)
        size_a, size_b = size[rows_a], size[rows_b]
        union = size_a + size_b - shared
        columns += [_ratio(shared, union), _ratio(shared, np.minimum(size_a, size_b))]
        if kind in FLAGGED_KINDS:
            columns += [(union > shared).astype(np.float32), ((size_a > 0) & (size_b > 0)).astype(np.float32)]
    columns += [_rowwise_dot(items.cosines[name], rows_a, rows_b) for name in COSINES]
    columns += _string_features(items, rows_a, rows_b)
    if not columns or len(rows_a) == 0:
        return np.zeros((len(rows_a), len(OVERLAP_COLUMNS)), dtype=np.float32)
    return np.column_stack(columns).astype(np.float32)


def _string_features(items: ItemSets, rows_a: np.ndarray, rows_b: np.ndarray) -> list[np.ndarray]:
    """The columns of SQL_COLUMNS, by DuckDB's string functions (an in-memory connection)."""
    frame = pd.DataFrame({"a": items.titles[rows_a], "b": items.titles[rows_b],
                          "fa": items.first[rows_a], "fb": items.first[rows_b],
                          "la": items.last[rows_a], "lb": items.last[rows_b]})
    con = duckdb.connect()
    try:
        con.register("pairs", frame)
        result = con.execute("""
            select
                jaro_winkler_similarity(a, b)::float as jaro_winkler,
                (1 - levenshtein(a, b) / greatest(length(a), length(b), 1))::float as levenshtein_ratio,
                (fa = fb and fa <> '')::float as first_token_eq,
                (la = lb and la <> '')::float as last_token_eq,
                ((fa <> '' and contains(b, fa)) or (fb <> '' and contains(a, fb)))::float as first_token_in_other,
                ((la <> '' and contains(b, la)) or (lb <> '' and contains(a, lb)))::float as last_token_in_other,
                (least(length(a), length(b)) / greatest(length(a), length(b), 1))::float as length_ratio
            from pairs
        """).fetchnumpy()
    finally:
        con.close()
    prefix = np.fromiter((_common_prefix(a, b) / max(1, min(len(a), len(b)))
                          for a, b in zip(frame["a"].tolist(), frame["b"].tolist())), dtype=np.float32, count=len(frame))
    return [np.asarray(result[name], dtype=np.float32) for name in SQL_COLUMNS[:6]] + [
        prefix, np.asarray(result["length_ratio"], dtype=np.float32)]


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
