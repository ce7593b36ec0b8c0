"""Vectorised title-overlap pair features (prototype of python_jobs/features/pairs overlap)."""
from __future__ import annotations

import re
import unicodedata

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

NUM = re.compile(r"\d+(?:\.\d+)?")
NUM_UNIT = re.compile(r"\d+(?:\.\d+)?\s*(?:mm|cm|m|g|kg|ml|l|枚|個|本|冊|箱|袋|巻|組|色|入|セット|パック|ケース|ロール|足|粒|錠|包|缶|台|p|w|v|a)")
BRACKET = re.compile(r"[（(【\[［〈<「].*?[）)】\]］〉>」]")
SPLIT = re.compile(r"[\s/・,，、]+")
MODEL = re.compile(r"[a-z0-9][a-z0-9\-]*\d[a-z0-9\-]*")


def norm(t: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", t or "").lower()).strip()


def _grams(s: str, n: int) -> list[str]:
    s = s.replace(" ", "")
    return [s[i:i + n] for i in range(len(s) - n + 1)] or ([s] if s else [])


SET_KINDS = {
    "c1": lambda s: _grams(s, 1), "c2": lambda s: _grams(s, 2), "c3": lambda s: _grams(s, 3),
    "c4": lambda s: _grams(s, 4),
    "tok": lambda s: [t for t in SPLIT.split(s) if t],
    "num": lambda s: NUM.findall(s),
    "unit": lambda s: [u.replace(" ", "") for u in NUM_UNIT.findall(s)],
    "model": lambda s: [m for m in MODEL.findall(s) if len(m) >= 3],
    "masked3": lambda s: _grams(NUM.sub("0", s), 3),
    "nobr3": lambda s: _grams(BRACKET.sub(" ", s), 3),
}
COSINES = {
    "cos_c26": dict(analyzer="char", ngram_range=(2, 6), min_df=2, sublinear_tf=True),
    "cos_word": dict(analyzer=lambda s: [t for t in SPLIT.split(s) if t], sublinear_tf=True),
    "cos_bin13": dict(analyzer="char", ngram_range=(1, 3), use_idf=False, binary=True),
}


class ItemSets:
    """Per-item binary set matrices and TF-IDF views from which pair overlap features are computed."""

    def __init__(self, item_ids: list[str], titles: list[str]):
        self.ids = list(item_ids)
        self.pos = {x: i for i, x in enumerate(self.ids)}
        self.titles = [norm(t) for t in titles]
        self.sets = {}
        for kind, fn in SET_KINDS.items():
            B = CountVectorizer(analyzer=fn, binary=True, dtype=np.float32).fit_transform(self.titles) \
                if any(fn(t) for t in self.titles) else sp.csr_matrix((len(self.titles), 1), dtype=np.float32)
            self.sets[kind] = (B.tocsr(), np.asarray(B.sum(1)).ravel())
        self.cos = {name: TfidfVectorizer(dtype=np.float32, **kw).fit_transform(self.titles).tocsr()
                    for name, kw in COSINES.items()}
        toks = [[t for t in SPLIT.split(s) if t] for s in self.titles]
        self.first = np.array([t[0] if t else "" for t in toks], dtype=object)
        self.last = np.array([t[-1] if t else "" for t in toks], dtype=object)
        self.length = np.array([len(s) for s in self.titles], dtype=np.float32)


def set_columns() -> list[str]:
    cols = []
    for kind in SET_KINDS:
        cols += [f"jac_{kind}", f"ovl_{kind}"]
        if kind in ("num", "unit", "model", "tok"):
            cols += [f"oneonly_{kind}", f"both_{kind}"]
    return cols


SQL_COLUMNS = ["jaro_winkler", "levenshtein_ratio", "first_eq", "last_eq", "first_in_other", "last_in_other",
               "prefix_ratio", "len_ratio"]
COLUMNS = tuple(set_columns() + list(COSINES) + SQL_COLUMNS)


def overlap_features(items: ItemSets, a_ids, b_ids, con: duckdb.DuckDBPyConnection | None = None) -> np.ndarray:
    ra = np.fromiter((items.pos[x] for x in a_ids), np.int64, len(a_ids))
    rb = np.fromiter((items.pos[x] for x in b_ids), np.int64, len(b_ids))
    out = []
    for kind in SET_KINDS:
        B, size = items.sets[kind]
        inter = np.asarray(B[ra].multiply(B[rb]).sum(1)).ravel()
        na, nb = size[ra], size[rb]
        union = na + nb - inter
        out.append(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0))
        mn = np.minimum(na, nb)
        out.append(np.divide(inter, mn, out=np.zeros_like(inter), where=mn > 0))
        if kind in ("num", "unit", "model", "tok"):
            out.append((union - inter > 0).astype(np.float32))
            out.append(((na > 0) & (nb > 0)).astype(np.float32))
    for name in COSINES:
        M = items.cos[name]
        out.append(np.asarray(M[ra].multiply(M[rb]).sum(1)).ravel())
    out.extend(sql_features(items, ra, rb, con))
    return np.column_stack(out).astype(np.float32)


def sql_features(items: ItemSets, ra: np.ndarray, rb: np.ndarray, con=None) -> list[np.ndarray]:
    con = con or duckdb.connect()
    frame = pd.DataFrame({"a": np.asarray(items.titles, dtype=object)[ra], "b": np.asarray(items.titles, dtype=object)[rb],
                          "fa": items.first[ra], "fb": items.first[rb], "la": items.last[ra], "lb": items.last[rb]})
    con.register("_karl_pairs", frame)
    try:
        res = con.execute("""
            select jaro_winkler_similarity(a, b) as jaro_winkler,
                   1 - levenshtein(a, b) / greatest(length(a), length(b), 1) as levenshtein_ratio,
                   (fa = fb and fa <> '')::float as first_eq,
                   (la = lb and la <> '')::float as last_eq,
                   ((fa <> '' and contains(b, fa)) or (fb <> '' and contains(a, fb)))::float as first_in_other,
                   ((la <> '' and contains(b, la)) or (lb <> '' and contains(a, lb)))::float as last_in_other,
                   least(length(a), length(b)) / greatest(length(a), length(b), 1) as len_ratio
            from _karl_pairs""").fetchnumpy()
    finally:
        con.unregister("_karl_pairs")
    a, b = frame.a.tolist(), frame.b.tolist()
    prefix = np.array([_lcp(x, y) / max(1, min(len(x), len(y))) for x, y in zip(a, b)], np.float32)
    return [res["jaro_winkler"], res["levenshtein_ratio"], res["first_eq"], res["last_eq"], res["first_in_other"],
            res["last_in_other"], prefix, res["len_ratio"]]


def _lcp(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
