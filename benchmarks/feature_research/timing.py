import time, sys, os
sys.argv=["x","none"]
exec(open(os.path.join(os.path.dirname(__file__),"measure.py")).read().split('if __name__ == "__main__":')[0])
M = tfidf(analyzer="char", ngram_range=(1, 3), min_df=1)
Sh = pairs_sparse(M, human)
Dh = scale_dense(O["h"])[0]
Xh = sp.hstack([Sh, sp.csr_matrix(Dh)]).tocsr()
print(Xh.shape, Xh.nnz / Xh.shape[0])
idx = undersample_indices(yh, np.random.default_rng(0))
X, y = Xh[idx], yh[idx]
print("member rows", len(idx))
for solver, kw in [("lbfgs", dict(tol=1e-3, max_iter=100)), ("lbfgs", dict(tol=1e-4, max_iter=300)), ("saga", dict(tol=1e-3, max_iter=100)), ("newton-cg", dict(tol=1e-3)), ("sag", dict(tol=1e-3))]:
    t = time.perf_counter(); m = LogisticRegression(C=1.0, solver=solver, **kw).fit(X, y); s = time.perf_counter() - t
    print(solver, kw, round(s, 3), "iters", m.n_iter_, flush=True)
