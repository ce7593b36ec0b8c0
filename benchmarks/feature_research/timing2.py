import time, sys, os
exec(open(os.path.join(os.path.dirname(__file__),"measure.py")).read().split('if __name__ == "__main__":')[0].replace('O = {k: np.hstack([ovl_of(p), sql_sim(p)])','O = {k: sql_sim(p)').replace('for k, p in (("h", human), ("t", test), ("p", pool)):\n    O[k] = np.hstack([O[k], cosines(p)])',''))
from python_jobs.blas import single_threaded
M = tfidf(analyzer="char", ngram_range=(1, 3), min_df=1)
Sh = pairs_sparse(M, human)
Dh = scale_dense(O["h"])[0]
Xh = sp.hstack([Sh, sp.csr_matrix(Dh)]).tocsr()
idx = undersample_indices(yh, np.random.default_rng(0))
X, y = Xh[idx], yh[idx]
cnt = np.asarray((X != 0).sum(0)).ravel()
for k in (1, 2, 3):
    print("cols nnz>=",k, (cnt >= k).sum())
keep = np.flatnonzero(cnt >= 2)
with single_threaded():
  for XX, nm in ((X, "all"), (X[:, keep], "df>=2")):
    for solver, kw in [("lbfgs", dict(tol=1e-3, max_iter=100)), ("newton-cg", dict(tol=1e-3)), ("saga", dict(tol=1e-3, max_iter=50))]:
        t = time.perf_counter(); m = LogisticRegression(C=1.0, solver=solver, **kw).fit(XX, y); s = time.perf_counter() - t
        t = time.process_time(); 
        print(nm, XX.shape, solver, kw, round(s, 3), "iters", m.n_iter_, flush=True)
