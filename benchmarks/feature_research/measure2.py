"""Feature sets x C, karl's ID CV protocol (5-fold, seed 0, 10 undersampled members), OOD reported only."""
import os, sys, time
import duckdb, numpy as np, scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
sys.path.insert(0, os.path.dirname(__file__))
import pairfeat
from python_jobs.loop import data as loop_data
from python_jobs.learning.blas import single_threaded
from python_jobs.learning.evaluation import classification_metrics, id_cv_splits
from python_jobs.features.text import normalise_title
from python_jobs.learning.ensemble import encode_labels, undersample_indices

con = duckdb.connect(os.environ["KARL_DUCKDB_PATH"], read_only=True)
items = con.execute("select item_id, title from marts.dim_items order by item_id").df()
ids = items.item_id.tolist(); pos = {x: i for i, x in enumerate(ids)}; titles = items.title.fillna("").tolist()
human = loop_data.id_human_labels(con); test = loop_data.ood_test_labels(con)
pool = loop_data.LabelledPairs.from_frame(con.execute("select pair_key, item_a_id, item_b_id, relation_label from marts.fct_eval_sets where eval_set = 'pool' and relation_label is not null order by pair_key").df())
yh, yt, yp = (encode_labels(p.labels) for p in (human, test, pool))
t = time.time(); IS = pairfeat.ItemSets(ids, titles); print("itemsets", round(time.time()-t, 1))
t = time.time(); O = {k: pairfeat.overlap_features(IS, p.item_a_ids, p.item_b_ids) for k, p in (("h", human), ("t", test), ("p", pool))}
print("overlap", O["h"].shape, round(time.time()-t, 1), flush=True)
texts = [normalise_title(x) for x in titles]
def sparse_pairs(M, p, blocks):
    A = M[[pos[x] for x in p.item_a_ids]]; B = M[[pos[x] for x in p.item_b_ids]]
    prod = A.multiply(B).tocsr(); parts = []
    if "d" in blocks: parts.append(abs(A - B))
    if "p" in blocks: parts.append(prod)
    parts.append(sp.csr_matrix(np.asarray(prod.sum(1))))
    if "s" in blocks: parts.append(A + B)
    return sp.hstack(parts).tocsr().astype(np.float32)

def fit(X, y, C, min_df=2, solver="newton-cg"):
    cnt = np.asarray((X != 0).sum(0)).ravel(); keep = np.flatnonzero(cnt >= min_df)
    with single_threaded():
        m = LogisticRegression(C=C, solver=solver, tol=1e-3, max_iter=100).fit(X[:, keep], y)
    return m, keep

def bag(Xtr, ytr, Xte, C, seed, members=10, **kw):
    P = 0; secs = []
    for r in [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(members)]:
        idx = undersample_indices(ytr, r); t = time.perf_counter()
        m, keep = fit(Xtr[idx], ytr[idx], C, **kw); secs.append(time.perf_counter() - t)
        P = P + m.predict_proba(Xte[:, keep])
    return P.argmax(1), float(np.mean(secs))

def run(name, Xh, Xt, Xp, C, **kw):
    t = time.time(); folds = id_cv_splits(yh, 0, 5, 0); sc = []; secs = []
    for f, (tr, te) in enumerate(folds):
        pred, s = bag(Xh[tr], yh[tr], Xh[te], C, f, **kw); sc.append(classification_metrics(yh[te], pred)["macro_f1"]); secs.append(s)
    pred, _ = bag(Xh, yh, Xt, C, 0, **kw); ood = classification_metrics(yt, pred)
    Xhp = sp.vstack([Xh, Xp]).tocsr(); pred2, _ = bag(Xhp, np.concatenate([yh, yp]), Xt, C, 0, **kw); ood2 = classification_metrics(yt, pred2)
    print(f"{name:28s} C={C:<5} {kw} ID {np.mean(sc):.3f} OOD {ood['macro_f1']:.3f} OOD+pool {ood2['macro_f1']:.3f} member {np.mean(secs):.2f}s "
          f"OOD f1 s/c/o {ood['f1_substitute']:.2f}/{ood['f1_complement']:.2f}/{ood['f1_other']:.2f} [{time.time()-t:.0f}s]", flush=True)

mu, sd = O["h"].mean(0), O["h"].std(0) + 1e-6
D = {k: sp.csr_matrix((v - mu) / sd) for k, v in O.items()}; R = {k: sp.csr_matrix(v) for k, v in O.items()}
which = sys.argv[1:]
M = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32).fit_transform(texts).tocsr()
S = {k: sparse_pairs(M, p, "dp") for k, p in (("h", human), ("t", test), ("p", pool))}
for spec in which:
    name, C = spec.split("@"); C = float(C)
    if name == "sparse": run(name, S["h"], S["t"], S["p"], C)
    if name == "overlap": run(name, D["h"], D["t"], D["p"], C, min_df=1)
    if name == "sparse+overlap":
        X = {k: sp.hstack([S[k], D[k]]).tocsr() for k in S}; run(name, X["h"], X["t"], X["p"], C)
    if name == "sparse+rawoverlap":
        X = {k: sp.hstack([S[k], R[k]]).tocsr() for k in S}; run(name, X["h"], X["t"], X["p"], C)
    if name.startswith("single"):
        print(np.bincount(yh), np.bincount(yt))
        X = S if name == "single" else {k: sp.hstack([S[k], R[k]]).tocsr() for k in S}
        folds = id_cv_splits(yh, 0, 5, 0); sc = []
        for tr, te in folds:
            with single_threaded():
                m = LogisticRegression(C=C, class_weight="balanced", solver="newton-cg", tol=1e-3).fit(X["h"][tr], yh[tr])
            sc.append(classification_metrics(yh[te], m.predict(X["h"][te]))["macro_f1"])
        with single_threaded():
            m = LogisticRegression(C=C, class_weight="balanced", solver="newton-cg", tol=1e-3).fit(X["h"], yh)
        print(name, C, "ID", np.mean(sc), "OOD", classification_metrics(yt, m.predict(X["t"]))["macro_f1"], flush=True)
    if name == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier
        def hbag(Xtr, ytr, Xte, seed):
            P = 0
            for r in [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(10)]:
                idx = undersample_indices(ytr, r)
                m = HistGradientBoostingClassifier(max_iter=int(C), learning_rate=0.1, max_leaf_nodes=15, random_state=0).fit(Xtr[idx], ytr[idx])
                P = P + m.predict_proba(Xte)
            return P.argmax(1)
        Xh = np.hstack([O["h"], S["h"][:, -1].toarray()]); Xt = np.hstack([O["t"], S["t"][:, -1].toarray()])
        t = time.time(); sc = []
        for f, (tr, te) in enumerate(id_cv_splits(yh, 0, 5, 0)):
            sc.append(classification_metrics(yh[te], hbag(Xh[tr], yh[tr], Xh[te], f))["macro_f1"])
        ood = classification_metrics(yt, hbag(Xh, yh, Xt, 0))
        print(f"hgb overlap+cos iters={C} ID {np.mean(sc):.3f} OOD {ood['macro_f1']:.3f} OOD f1 s/c/o {ood['f1_substitute']:.2f}/{ood['f1_complement']:.2f}/{ood['f1_other']:.2f} [{time.time()-t:.0f}s]", flush=True)
