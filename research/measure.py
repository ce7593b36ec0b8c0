"""Phase-1 measurements: feature sets x solvers, karl's ID CV protocol, OOD reported only."""
from __future__ import annotations

import os
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(__file__))
import overlap  # noqa: E402

from python_jobs import loop_data  # noqa: E402
from python_jobs.evaluation import classification_metrics, id_cv_splits  # noqa: E402
from python_jobs.features import normalise_title  # noqa: E402
from python_jobs.model import encode_labels, undersample_indices  # noqa: E402

con = duckdb.connect(os.environ["KARL_DUCKDB_PATH"], read_only=True)
items = con.execute("select item_id, title from marts.dim_items order by item_id").df()
ids = items.item_id.tolist()
pos = {x: i for i, x in enumerate(ids)}
titles = items.title.fillna("").tolist()
human = loop_data.id_human_labels(con)
test = loop_data.ood_test_labels(con)
pool = loop_data.LabelledPairs.from_frame(con.execute("""
    select pair_key, item_a_id, item_b_id, relation_label from marts.fct_eval_sets
    where eval_set = 'pool' and relation_label is not null order by pair_key""").df())
print("human", len(human), "test", len(test), "pool", len(pool))

t = time.time()
item_objs = {i: overlap.item(tt) for i, tt in zip(ids, titles)}
def ovl_of(p):
    return overlap.overlap_matrix(item_objs, p.item_a_ids, p.item_b_ids)
def sql_sim(p):
    f = pd.DataFrame({"a": p.item_a_ids, "b": p.item_b_ids, "o": np.arange(len(p))})
    con.register("_p", f)
    out = con.execute("""
        select jaro_winkler_similarity(lower(ia.title), lower(ib.title)) jw,
               1 - levenshtein(lower(ia.title), lower(ib.title)) / greatest(length(ia.title), length(ib.title), 1) lev,
               jaccard(lower(ia.title), lower(ib.title)) cjac
        from _p as p
        join marts.dim_items ia on ia.item_id = p.a join marts.dim_items ib on ib.item_id = p.b order by o""").fetchnumpy()
    return np.column_stack([out["jw"], out["lev"], out["cjac"]]).astype(np.float32)
O = {k: np.hstack([ovl_of(p), sql_sim(p)]) for k, p in (("h", human), ("t", test), ("p", pool))}
print("overlap feats", O["h"].shape, round(time.time() - t, 2), "s")

texts = [normalise_title(x) for x in titles]
def tfidf(**kw):
    return TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **kw).fit_transform(texts).tocsr()
extra_cos = {name: tfidf(**kw) for name, kw in {
    "c26": dict(analyzer="char", ngram_range=(2, 6), min_df=2),
    "word": dict(analyzer="word", token_pattern=r"[^\s　]+"),
    "bin": dict(analyzer="char", ngram_range=(1, 3), use_idf=False, binary=True),
}.items()}
def cosines(p):
    ra, rb = [pos[x] for x in p.item_a_ids], [pos[x] for x in p.item_b_ids]
    return np.column_stack([np.asarray(M[ra].multiply(M[rb]).sum(1)).ravel() for M in extra_cos.values()]).astype(np.float32)
for k, p in (("h", human), ("t", test), ("p", pool)):
    O[k] = np.hstack([O[k], cosines(p)])


def pairs_sparse(M, p, blocks=("absdiff", "prod", "cos")):
    A = M[[pos[x] for x in p.item_a_ids]]
    B = M[[pos[x] for x in p.item_b_ids]]
    parts = []
    prod = A.multiply(B).tocsr()
    if "absdiff" in blocks:
        parts.append(abs(A - B))
    if "prod" in blocks:
        parts.append(prod)
    if "cos" in blocks:
        parts.append(sp.csr_matrix(np.asarray(prod.sum(1))))
    if "sum" in blocks:
        parts.append(A + B)
    return sp.hstack(parts).tocsr().astype(np.float32)


def fit_member(X, y, C, solver, tol=1e-4, max_iter=200):
    m = LogisticRegression(C=C, solver=solver, tol=tol, max_iter=max_iter)
    m.fit(X, y)
    return m


def bag_predict(Xtr, ytr, Xte, C, solver, seed, members=10, **kw):
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(members)]
    P = 0
    secs = []
    for r in rngs:
        idx = undersample_indices(ytr, r)
        t = time.perf_counter()
        m = fit_member(Xtr[idx], ytr[idx], C, solver, **kw)
        secs.append(time.perf_counter() - t)
        P = P + m.predict_proba(Xte)
    return P.argmax(1), float(np.mean(secs))


def id_cv(X, y, C, solver, seed=0, **kw):
    folds = id_cv_splits(y, 0, 5, seed)
    scores, secs = [], []
    oof = np.zeros(len(y), int)
    for f, (tr, te) in enumerate(folds):
        pred, s = bag_predict(X[tr], y[tr], X[te], C, solver, seed * 1000 + f, **kw)
        oof[te] = pred
        scores.append(classification_metrics(y[te], pred)["macro_f1"])
        secs.append(s)
    return float(np.mean(scores)), float(np.mean(secs)), classification_metrics(y, oof)


def scale_dense(Dtr, *others):
    mu, sd = Dtr.mean(0), Dtr.std(0) + 1e-6
    return [(D - mu) / sd for D in (Dtr, *others)]


yh, yt, yp = encode_labels(human.labels), encode_labels(test.labels), encode_labels(pool.labels)


def run(name, Xh, Xt, Xp, C, solver, **kw):
    t = time.time()
    idf1, fit_s, oofm = id_cv(Xh, yh, C, solver, **kw)
    pred, _ = bag_predict(Xh, yh, Xt, C, solver, 0, **kw)
    ood = classification_metrics(yt, pred)
    Xhp = sp.vstack([Xh, Xp]).tocsr() if sp.issparse(Xh) else np.vstack([Xh, Xp])
    pred2, _ = bag_predict(Xhp, np.concatenate([yh, yp]), Xt, C, solver, 0, **kw)
    ood2 = classification_metrics(yt, pred2)
    print(f"{name:40s} C={C:<6} {solver:9s} ID {idf1:.3f} OOD {ood['macro_f1']:.3f} OOD+pool {ood2['macro_f1']:.3f} "
          f"fit/member {fit_s:.3f}s  f1 s/c/o OOD {ood['f1_substitute']:.2f}/{ood['f1_complement']:.2f}/{ood['f1_other']:.2f} "
          f"[{time.time()-t:.0f}s]", flush=True)


if __name__ == "__main__":
    which = sys.argv[1:] or ["base"]
    M = tfidf(analyzer="char", ngram_range=(1, 3), min_df=1)
    Sh, St, Sp = (pairs_sparse(M, p) for p in (human, test, pool))
    Dh, Dt, Dp = scale_dense(O["h"], O["t"], O["p"])
    print("sparse cols", Sh.shape[1], "dense", Dh.shape[1])
    if "solvers" in which:
        for solver in ("liblinear", "saga", "lbfgs"):
            kw = dict(tol=1e-3, max_iter=100) if solver != "liblinear" else {}
            if solver == "liblinear":
                continue
            run("sparse", Sh, St, Sp, 1.0, solver, **kw)
    if "base" in which:
        for C in (0.3, 1.0, 3.0):
            run("sparse", Sh, St, Sp, C, "lbfgs", tol=1e-3, max_iter=100)
        for C in (0.3, 1.0, 3.0):
            Xh, Xt, Xp = (sp.hstack([S, sp.csr_matrix(D)]).tocsr() for S, D in ((Sh, Dh), (St, Dt), (Sp, Dp)))
            run("sparse+overlap", Xh, Xt, Xp, C, "lbfgs", tol=1e-3, max_iter=100)
