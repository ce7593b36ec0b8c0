"""Scoring throughput on sparse char n-gram TF-IDF item vectors next to the dense path (issue 11).

Target: >= 1M candidate pairs/s for 10 members on 368k pairs (2 cores), memory flat from 10k to
1M pairs.

    .venv/bin/python benchmarks/sparse_scoring_throughput.py [--sizes 10000,100000,368000,1000000]
        [--overlap 50] [--skip-naive]

Items: the real FBL titles (4,710; $KARL_FBL_DIR or ../shared/data/fbl_askul), featurised two
ways: sparse `TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)` (the
features contract, ~48k columns, ~110 per title, L2-normalised) and today's dense
`CharTfidfSvd` (d = 256). Pool: like the sampler's: induced categories on the dense vectors
(python_jobs.categories.induce_clusters), each query with 100 partners from its parent
category, query-major; queries repeat beyond 4,710 x ... pairs. Members: 10 x 3 classes with
random weights of logistic-regression scale (scoring cost does not depend on the values).

- end to end: `score_candidates` as a round calls it (scorer built from the weights, DuckDB
  stream of (pair_key, fine_category, positions) -> scores -> QBC -> top pair per fine category,
  2 workers), median of 3 scans; sparse: pair blocks [|a-b|, a*b, cos] (2V + 1 weights rows),
  then the same with --overlap float columns read from the candidate table with each chunk (as
  the overlap model joined into the candidate query would give them), and with the same values
  as one float[K] list column; dense: [|a-b|, a*b, cos, a+b].
- kernel: the scorer alone on positions in memory (64k-pair chunks on 1 and 2 threads), sparse
  with and without --overlap dense per-pair columns; the scipy formulation (row gathers,
  multiply/minimum, sparse @ dense) and the naive path (materialised sparse pair rows @ W, what
  the features helper's fallback does) for comparison.

Wall and CPU seconds are both printed: on a shared machine CPU seconds per pair are steadier.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from peak_memory import PeakRss  # noqa: E402

from python_jobs.candidates.categories import induce_clusters  # noqa: E402
from python_jobs.config import InducedConfig, ScoringConfig  # noqa: E402
from python_jobs.features.text import CharTfidfSvd, normalise_title  # noqa: E402
from python_jobs.features.vectors import ItemVectors, canonical_csr  # noqa: E402
from python_jobs.learning.acquisition import strategy_uncertainty  # noqa: E402
from python_jobs.learning.blas import single_threaded  # noqa: E402
from python_jobs.learning.logreg import softmax  # noqa: E402
from python_jobs.learning.scoring import make_scorer, score_candidates  # noqa: E402
from python_jobs.learning.scoring_sparse import (  # noqa: E402
    PairLayout,
    materialised_pair_features,
    relative_class_major,
)
from python_jobs.learning.stacked_linear import _softmax_relative  # noqa: E402

TARGET_PAIRS_PER_SECOND = 1_000_000
N_MEMBERS, N_CLASSES, PARTNERS = 10, 3, 100
PROJECT = Path(__file__).resolve().parents[1]


class Clock:
    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def fbl_titles() -> list[str]:
    folder = Path(os.environ.get("KARL_FBL_DIR", PROJECT.parent / "shared" / "data" / "fbl_askul"))
    titles: set[str] = set()
    for name in ("FBL2023.tsv", "FBL2024.tsv"):
        with open(folder / name, encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                titles.update((row["ITEM_NAME_1"], row["ITEM_NAME_2"]))
    return sorted(titles)


def featurise(titles: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    sparse = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32).fit_transform(
        [normalise_title(t) for t in titles])
    dense = CharTfidfSvd().fit_transform(titles).astype(np.float32)
    return canonical_csr(sparse), dense


def sampler_like_pool(dense: np.ndarray, size: int, seed: int = 0) -> pd.DataFrame:
    """Query-major pairs: each query with PARTNERS partners from its parent category."""
    fine, parent_of_fine = induce_clusters(dense, InducedConfig(seed=seed))
    parent = parent_of_fine[fine]
    members = {p: np.flatnonzero(parent == p) for p in np.unique(parent)}
    rng = np.random.default_rng(seed)
    queries = rng.integers(0, len(dense), size // PARTNERS + 1)
    a = np.repeat(queries, PARTNERS)[:size]
    b = np.concatenate([rng.choice(members[parent[q]], PARTNERS) for q in queries])[:size]
    b = np.where(b == a, (b + 1) % len(dense), b)
    return pd.DataFrame({"n": np.arange(size), "a": a, "b": b, "fine": fine[a]})


def random_weights(n_features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_features, N_MEMBERS * N_CLASSES)) * 0.5, rng.standard_normal(N_MEMBERS * N_CLASSES)


def setup_db(workdir: Path, pool: pd.DataFrame, n_overlap: int = 0) -> duckdb.DuckDBPyConnection:
    """The pool as a candidate table; with ``n_overlap``, float columns o0.. as the overlap model
    would give them (random values: the cost of reading them does not depend on them)."""
    con = duckdb.connect(str(workdir / "sparse_scoring.duckdb"))
    con.register("p", pool)
    overlap = "".join(f", cast(random() as float) as o{i}" for i in range(n_overlap))
    if n_overlap:  # the same values again as one float[K] list column
        overlap += f", [{', '.join(f'o{i}' for i in range(n_overlap))}]::float[{n_overlap}] as ov"
    con.execute("""
        create table candidates as
        select n,
            'item:' || lpad(cast(least(a, b) as varchar), 6, '0') || '~item:' || lpad(cast(greatest(a, b) as varchar), 6, '0')
                || '~' || cast(n as varchar) as pair_key,
            'item:' || lpad(cast(a as varchar), 6, '0') as item_a_id,
            'item:' || lpad(cast(b as varchar), 6, '0') as item_b_id,
            'fine ' || cast(fine as varchar) as fine_category{overlap}
        from p order by n
    """.format(overlap=overlap.split(", [")[0]))
    if n_overlap:
        con.execute(f"create or replace table candidates as select *{overlap[overlap.index(', ['):]} from candidates")
    con.unregister("p")
    return con


def scan(con, W: np.ndarray, bias: np.ndarray, vectors: ItemVectors, size: int,  # noqa: ANN001
         layout: PairLayout | None = None, extra_columns: tuple[str, ...] = ()) -> tuple[Clock, PeakRss]:
    """One round's scan as the loop runs it: `score_candidates` (scorer built from the weights,
    DuckDB stream, 2 workers, QBC, top pair per fine category)."""
    extra = "".join(f", {name}" for name in extra_columns)
    sql = f"select pair_key, item_a_id, item_b_id, fine_category{extra} from candidates where n < {size}"
    with PeakRss() as rss, Clock() as clock:
        rows, n_scored = score_candidates(con, sql, W, bias, N_MEMBERS, vectors, strategy_uncertainty("qbc"),
                                          per_category=1, config=ScoringConfig(workers=2), layout=layout,
                                          extra_columns=extra_columns)
    assert n_scored == size and rows, (n_scored, size)
    return clock, rss


def kernel(function, a: np.ndarray, b: np.ndarray, threads: int, rows: int = 65_536) -> Clock:  # noqa: ANN001
    chunks = [(a[i:i + rows], b[i:i + rows]) for i in range(0, len(a), rows)]
    with single_threaded(), Clock() as clock, ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda chunk: function(*chunk), chunks))
    return clock


def scipy_member_proba(csr: sp.csr_matrix, W: np.ndarray, bias: np.ndarray, V: int):  # noqa: ANN201
    """The vectorised scipy formulation: gather rows, intersect with multiply/minimum, sparse @ dense."""
    relative, rel_bias, _ = relative_class_major(W, bias, N_MEMBERS)
    w_abs, w_prod, w_cos = (relative[:V].astype(np.float32), relative[V:2 * V].astype(np.float32),
                            relative[2 * V].astype(np.float32))
    item_term = (csr @ w_abs).astype(np.float32)  # non-negative rows: |x| = x
    w_min = -2.0 * w_abs

    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        A, B = csr[a], csr[b]
        prod = A.multiply(B).tocsr()
        logits = prod @ w_prod
        logits += A.minimum(B) @ w_min
        logits += np.asarray(prod.sum(axis=1), dtype=np.float32) * w_cos
        logits += item_term[a] + item_term[b] + rel_bias.astype(np.float32)
        return _softmax_relative(logits, N_CLASSES, N_MEMBERS)

    return run


def naive_member_proba(csr: sp.csr_matrix, W: np.ndarray, bias: np.ndarray, layout: PairLayout):  # noqa: ANN201
    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        logits = materialised_pair_features(csr, a, b, layout) @ W + bias
        return softmax(logits.reshape(len(a), N_MEMBERS, N_CLASSES), axis=-1)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,368000,1000000")
    parser.add_argument("--overlap", type=int, default=50, help="dense per-pair columns in the kernel-only lines")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    titles = fbl_titles()
    with Clock() as prep:
        csr, dense = featurise(titles)
        pool = sampler_like_pool(dense, max(sizes))
    V = csr.shape[1]
    ids = np.array([f"item:{i:06d}" for i in range(len(titles))], dtype=object)
    nnz = np.diff(csr.indptr)
    sample = pool.iloc[:20_000]
    shared = csr[sample.a.to_numpy()].multiply(csr[sample.b.to_numpy()]).getnnz(axis=1)
    print(f"cpus: {os.cpu_count()}, {N_MEMBERS} members x {N_CLASSES} classes; {len(titles):,} FBL titles; "
          f"sparse V={V:,} ({nnz.mean():.0f} nnz per title, {shared.mean():.1f} shared per pool pair); dense d={dense.shape[1]}; "
          f"features + pool {prep.wall:.1f} s; load average {os.getloadavg()[0]:.1f}")

    sparse_layout = PairLayout(("absdiff", "prod", "cos"))
    Ws, bs = random_weights(sparse_layout.n_features(V))
    sparse_vectors = ItemVectors(ids, csr)
    sparse_scorer = make_scorer(Ws, bs, sparse_vectors, N_MEMBERS, "float32", sparse_layout)
    Wd, bd = random_weights(3 * dense.shape[1] + 1)
    dense_vectors = ItemVectors(ids, dense)
    dense_scorer = make_scorer(Wd, bd, dense_vectors, N_MEMBERS, "float32")

    n_kernel = min(1_000_000, max(sizes))
    a, b = pool.a.to_numpy()[:n_kernel], pool.b.to_numpy()[:n_kernel]
    overlap_layout = PairLayout(("absdiff", "prod", "cos"), n_extra=args.overlap)
    Wo, bo = random_weights(overlap_layout.n_features(V), seed=1)
    overlap_scorer = make_scorer(Wo, bo, sparse_vectors, N_MEMBERS, "float32", overlap_layout)
    # One chunk's worth of overlap rows (their values do not change the cost).
    overlap = np.random.default_rng(2).random((65_536, args.overlap), dtype=np.float32)

    def with_overlap(a_chunk: np.ndarray, b_chunk: np.ndarray) -> np.ndarray:
        return overlap_scorer.member_proba(a_chunk, b_chunk, overlap[: len(a_chunk)])

    sparse_scorer.member_proba(a[:100], b[:100])  # compile / load the numba cache
    print(f"\nkernel only (positions in memory, 64k-pair chunks, float32), {n_kernel:,} pairs:")
    lines = [("dense d=256 [|a-b|, a*b, cos, a+b]", dense_scorer.member_proba),
             ("sparse [|a-b|, a*b, cos]", sparse_scorer.member_proba),
             (f"sparse [|a-b|, a*b, cos] + {args.overlap} overlap columns", with_overlap)]
    for name, function in lines:
        for threads in (1, 2):
            clock = kernel(function, a, b, threads)
            print(f"  {name:<48} {threads} thread(s): {n_kernel / clock.wall:>11,.0f} pairs/s wall, "
                  f"{n_kernel / clock.cpu:>11,.0f} per CPU-s")
    n_small = min(100_000, n_kernel)
    clock = kernel(scipy_member_proba(csr, Ws, bs, V), a[:n_small], b[:n_small], 1)
    print(f"  {'scipy formulation (gather, multiply/minimum, spmm)':<48} 1 thread(s): {n_small / clock.wall:>11,.0f} "
          f"pairs/s wall, {n_small / clock.cpu:>11,.0f} per CPU-s")
    if not args.skip_naive:
        n_naive = min(20_000, n_kernel)
        clock = kernel(naive_member_proba(csr, Ws, bs, sparse_layout), a[:n_naive], b[:n_naive], 1, rows=5_000)
        print(f"  {'naive (materialised sparse pair rows @ W)':<48} 1 thread(s): {n_naive / clock.wall:>11,.0f} "
              f"pairs/s wall, {n_naive / clock.cpu:>11,.0f} per CPU-s")

    with tempfile.TemporaryDirectory(prefix="karl_bench_sparse_") as tmp:
        con = setup_db(Path(tmp), pool, args.overlap)
        overlap_columns = tuple(f"o{i}" for i in range(args.overlap))
        print("\nend to end (DuckDB stream -> scores -> QBC -> top pair per fine category), 2 workers, float32, "
              "median of 3 scans; peak MB = RSS above the scan's start, max of the 3:")
        print(f"{'pairs':>10} | {'sparse pairs/s':>14} {'per CPU-s':>11} {'peak MB':>8} | "
              f"{f'+{args.overlap} columns':>14} {'per CPU-s':>11} {'peak MB':>8} | "
              f"{f'+float[{args.overlap}]':>14} {'per CPU-s':>11} {'peak MB':>8} | {'dense pairs/s':>14} "
              f"{'per CPU-s':>11} {'peak MB':>8} | {'load':>4}")
        lines = [(Ws, bs, sparse_vectors, sparse_layout, ()),
                 (Wo, bo, sparse_vectors, overlap_layout, overlap_columns),
                 (Wo, bo, sparse_vectors, overlap_layout, ("ov",)),
                 (Wd, bd, dense_vectors, None, ())]
        for size in sizes:
            row = []
            for W, bias, vectors, layout, columns in lines:
                scan(con, W, bias, vectors, min(size, 10_000), layout, columns)  # warm-up
                runs = sorted((scan(con, W, bias, vectors, size, layout, columns) for _ in range(3)),
                              key=lambda run: run[0].wall)
                clock, peak = runs[1][0], max(run[1].growth_mb for run in runs)
                row.append(f"{size / clock.wall:>14,.0f} {size / clock.cpu:>11,.0f} {peak:>8.0f}")
            print(f"{size:>10,} | {' | '.join(row)} | {os.getloadavg()[0]:>4.1f}")
        con.close()
    print(f"\ntarget: >= {TARGET_PAIRS_PER_SECOND:,} pairs/s for 10 members at 368k pairs on 2 cores; 'per CPU-s' "
          "counts every thread of the process, so on a busy machine 2 x per-CPU-s is what two idle cores would give.")


if __name__ == "__main__":
    main()
