"""Candidate generation and scoring from 1M to 10M pairs: Spark local[2] next to DuckDB + the
in-process scorer (issue 16).

    .venv/bin/python benchmarks/spark_scoring.py [--sizes 1000000,3000000,10000000] [--strategy margin]

Catalogue: the paper's shape as in candidate_generation.py's growth table (368 fine categories of
250 items in 40 parents, 92,000 items); each item carries the sparse char 1-3-gram TF-IDF vector
(`char13`, features/sparse.SparseCharTfidf) of a real FBL title (item i: title i mod 4,710;
$KARL_FBL_DIR or ../shared/data/fbl_askul), so a pair costs what an FBL pair costs. Members: 10 x 3
classes with random weights of logistic-regression scale (the cost does not depend on the values).

Generation: the sampler's core (fct_candidate_pairs: per fine category the first Q items in a
seeded hash order are queries, each paired with the N items after it in its parent category's
hash order, an equi-join on positions), the same SQL text on both engines but for the hash
(DuckDB hash, Spark xxhash64): Q = 10, 30, 100 and N = 272 give 1.0M, 3.0M, 10.0M pairs. DuckDB
materialises it as a table; Spark writes parquet (what a dbt table model on Spark does).

Scoring: DuckDB: `learning.scoring.score_candidates` (DuckDB stream, numba kernel, 2 threads, top
pair per fine category); Spark: `spark.scoring.score_candidates_spark` on the parquet table
(broadcast scorer, mapInArrow, window). The same kernel code runs in both.

Memory: DuckDB: this process's peak RSS. Spark: peak RSS of the driver JVM (in local mode it also
runs the executors: heap capped by spark.driver.memory = 2g), of this Python driver, and of the
Python workers mapInArrow starts (summed), sampled every 50 ms.

Spark predicts for a cluster from two figures measured here: the fixed cost of a scoring job
(a 10k-pair run) and the per-core rate (pairs / (wall - fixed) / 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
from peak_memory import PeakRss  # noqa: E402

from python_jobs.config import ScoringConfig  # noqa: E402
from python_jobs.features.sparse import SparseCharTfidf  # noqa: E402
from python_jobs.features.vectors import ItemVectors  # noqa: E402
from python_jobs.learning.acquisition import strategy_uncertainty  # noqa: E402
from python_jobs.learning.scoring import score_candidates  # noqa: E402
from python_jobs.learning.scoring_sparse import PairLayout  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
N_FINE, PER_FINE, N_PARENT, PARTNERS = 368, 250, 40, 272
N_MEMBERS, N_CLASSES = 10, 3
QUERIES = {100_000: 1, 1_000_000: 10, 3_000_000: 30, 10_000_000: 100}  # 100k: a smoke-sized run

GENERATION_SQL = """
with ranked as (
    select
        item_id,
        fine_category,
        parent_category,
        row_number() over (partition by fine_category order by {hash}('0:query:' || item_id), item_id) as query_rank,
        row_number() over (partition by parent_category order by {hash}('0:partner:' || item_id), item_id) - 1
            as parent_position,
        count(*) over (partition by parent_category) as parent_size
    from bench_items
),
windows as (
    select q.item_id as item_a_id, q.fine_category, q.parent_category,
        mod(q.parent_position + o.window_offset, q.parent_size) as partner_position
    from ranked as q
    inner join bench_offsets as o on q.parent_size > o.window_offset
    where q.query_rank <= {queries}
)
select
    case when w.item_a_id <= p.item_id then w.item_a_id || '~' || p.item_id
        else p.item_id || '~' || w.item_a_id end as pair_key,
    w.item_a_id,
    p.item_id as item_b_id,
    w.fine_category
from windows as w
inner join ranked as p
    on w.parent_category = p.parent_category and w.partner_position = p.parent_position
"""


def fbl_titles() -> list[str]:
    folder = Path(os.environ.get("KARL_FBL_DIR", PROJECT.parent / "shared" / "data" / "fbl_askul"))
    titles: set[str] = set()
    for name in ("FBL2023.tsv", "FBL2024.tsv"):
        with open(folder / name, encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                titles.update((row["ITEM_NAME_1"], row["ITEM_NAME_2"]))
    return sorted(titles)


def catalogue() -> tuple[pa.Table, ItemVectors]:
    """92,000 items in 368 fine categories of 40 parents, with char13 vectors of FBL titles."""
    titles = fbl_titles()
    csr = SparseCharTfidf().fit_transform(titles)
    n = N_FINE * PER_FINE
    ids = [f"syn:{i:06d}" for i in range(n)]
    fine = np.arange(n) % N_FINE
    items = pa.table({"item_id": ids, "fine_category": [f"fine {f}" for f in fine],
                      "parent_category": [f"parent {f % N_PARENT}" for f in fine]})
    return items, ItemVectors(ids, csr[np.arange(n) % csr.shape[0]])


def offsets() -> pa.Table:
    return pa.table({"window_offset": pa.array(np.arange(1, PARTNERS + 1), pa.int64())})


def random_weights(n_features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_features, N_MEMBERS * N_CLASSES)) * 0.5, rng.standard_normal(N_MEMBERS * N_CLASSES)


class TreePeak:
    """Peak RSS (MB) of this process, of its JVM child and of the JVM's Python workers (summed),
    and the CPU seconds the whole tree spent meanwhile (`cpu_seconds`: on a shared machine, pairs
    per CPU-second is the steadier figure)."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.python = self.jvm = self.workers = 0.0
        self._cpu: dict[int, tuple[float, float]] = {}  # pid -> (CPU s at first sight, CPU s last seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sample()
        self._cpu = {pid: (last, last) for pid, (_, last) in self._cpu.items()}

    def _count_cpu(self, process: psutil.Process) -> None:
        times = process.cpu_times()
        used = times.user + times.system
        first = self._cpu.get(process.pid, (0.0, 0.0))[0]
        self._cpu[process.pid] = (first, used)

    def _sample(self) -> None:
        self.python = max(self.python, self.me.memory_info().rss / 2**20)
        self._count_cpu(self.me)
        for child in self.me.children():
            try:
                if "java" not in child.name():
                    continue
                self.jvm = max(self.jvm, child.memory_info().rss / 2**20)
                self._count_cpu(child)
                workers = child.children(recursive=True)
                self.workers = max(self.workers, sum(p.memory_info().rss for p in workers) / 2**20)
                for worker in workers:
                    self._count_cpu(worker)
            except psutil.Error:
                continue

    @property
    def cpu_seconds(self) -> float:
        return sum(last - first for first, last in self._cpu.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.05)

    def __enter__(self) -> "TreePeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def duckdb_line(con: duckdb.DuckDBPyConnection, size: int, vectors: ItemVectors, weights, bias, uncertainty) -> str:  # noqa: ANN001
    with PeakRss() as rss:
        started = time.perf_counter()
        con.execute("create or replace table candidates as "
                    + GENERATION_SQL.format(hash="hash", queries=QUERIES[size]))
        generation = time.perf_counter() - started
        rss.mark()
        n = con.execute("select count(*) from candidates").fetchall()[0][0]
        started, cpu = time.perf_counter(), time.process_time()
        kept, scored = score_candidates(con, "select pair_key, item_a_id, item_b_id, fine_category from candidates",
                                        weights, bias, N_MEMBERS, vectors, uncertainty,
                                        config=ScoringConfig(workers=2), layout=PairLayout())
        scoring, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert scored == n and len(kept) == N_FINE, (scored, n, len(kept))
    return (f"{'duckdb':>7} {n:>11,} | {generation:>6.1f} s {n / generation:>11,.0f} | {scoring:>6.1f} s "
            f"{n / scoring:>11,.0f} {n / cpu:>11,.0f} | peak RSS {rss.peak / 2**20:>6.0f} MB "
            f"(+{rss.growth_mb:.0f}) | load {load()}")


def spark_session(workdir: Path):  # noqa: ANN201
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("karl-bench")
               .config("spark.driver.memory", "2g")
               .config("spark.sql.warehouse.dir", str(workdir / "spark_tables"))
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_score(spark, path: Path, vectors, weights, bias, uncertainty) -> tuple[float, int, int]:  # noqa: ANN001
    from python_jobs.spark.scoring import score_candidates_spark

    started = time.perf_counter()
    kept, scored = score_candidates_spark(spark.read.parquet(str(path)), weights, bias, N_MEMBERS, vectors,
                                          uncertainty, config=ScoringConfig(), layout=PairLayout())
    return time.perf_counter() - started, scored, len(kept)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--skip-duckdb", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    unknown = [s for s in sizes if s not in QUERIES]
    if unknown:
        raise SystemExit(f"sizes must be among {sorted(QUERIES)}")
    items, vectors = catalogue()
    weights, bias = random_weights(PairLayout().n_features(vectors.dim))
    uncertainty = strategy_uncertainty(args.strategy)
    print(f"cpus {os.cpu_count()}, {items.num_rows:,} items (char13 V={vectors.dim:,}), {N_MEMBERS} members, "
          f"{args.strategy}; load {load()} at start (uptime: 1-min load average)")
    print(f"{'engine':>7} {'pairs':>11} | {'generate':>8} {'pairs/s':>11} | {'score':>8} {'pairs/s':>11} "
          f"{'per CPU-s':>11} | memory")
    with tempfile.TemporaryDirectory(prefix="karl_bench_spark_") as tmp:
        workdir = Path(tmp)
        if not args.skip_duckdb:
            con = duckdb.connect(str(workdir / "bench.duckdb"))
            con.register("bench_items_arrow", items)
            con.execute("create table bench_items as select * from bench_items_arrow")
            con.register("bench_offsets", offsets())
            for size in sizes:
                print(duckdb_line(con, size, vectors, weights, bias, uncertainty), flush=True)
            con.close()
        started = time.perf_counter()
        from pyspark.sql import SparkSession

        shared = SparkSession.getActiveSession()  # a caller's session (a test's): used, left running
        spark = shared or spark_session(workdir)
        print(f"  spark session started in {time.perf_counter() - started:.1f} s", flush=True)
        spark.createDataFrame(items).createOrReplaceTempView("bench_items")
        spark.createDataFrame(offsets()).createOrReplaceTempView("bench_offsets")
        # The fixed cost of a scoring job (session warm, workers started, numba cache loaded).
        tiny = workdir / "tiny.parquet"
        spark.sql(GENERATION_SQL.format(hash="xxhash64", queries=1)).limit(10_000).write.parquet(str(tiny))
        spark_score(spark, tiny, vectors, weights, bias, uncertainty)  # warm-up
        fixed, _, _ = spark_score(spark, tiny, vectors, weights, bias, uncertainty)
        print(f"  spark scoring job on 10k pairs (its fixed cost): {fixed:.2f} s", flush=True)
        rates, cpu_rates = [], []
        for size in sizes:
            path = workdir / f"candidates_{size}.parquet"
            with TreePeak() as peak:
                started = time.perf_counter()
                spark.sql(GENERATION_SQL.format(hash="xxhash64", queries=QUERIES[size])).write.parquet(str(path))
                generation = time.perf_counter() - started
            with TreePeak() as scoring_peak:
                scoring, scored, kept = spark_score(spark, path, vectors, weights, bias, uncertainty)
            assert kept == N_FINE, kept
            rates.append(scored / max(scoring - fixed, 1e-9) / 2)
            cpu_rates.append(scored / scoring_peak.cpu_seconds)
            print(f"{'spark':>7} {scored:>11,} | {generation:>6.1f} s {scored / generation:>11,.0f} | {scoring:>6.1f} s "
                  f"{scored / scoring:>11,.0f} {scored / scoring_peak.cpu_seconds:>11,.0f} | JVM "
                  f"{max(peak.jvm, scoring_peak.jvm):>5.0f} MB, Python driver "
                  f"{max(peak.python, scoring_peak.python):>5.0f} MB, Python workers "
                  f"{max(peak.workers, scoring_peak.workers):>5.0f} MB | load {load()}", flush=True)
            shutil.rmtree(path, ignore_errors=True)
        if shared is None:
            spark.stop()
    per_core = rates[-1]
    print(f"\nSpark per core (largest size, fixed cost removed, wall on this machine's share of 2 cores): "
          f"{per_core:,.0f} pairs/s; per CPU-second of the JVM + Python workers + driver: {cpu_rates[-1]:,.0f} "
          "(what an idle core gives). Predicted scoring time for 100M pairs on N executors of 4 idle cores: "
          f"fixed {fixed:.1f} s + 100M / (N x 4 x {cpu_rates[-1]:,.0f}):")
    for executors in (1, 4, 16, 64):
        print(f"  N = {executors:>2}: {fixed + 1e8 / (executors * 4 * cpu_rates[-1]):>7.1f} s")
    print("(assumes the broadcast scorer (~10-30 MB) reaches each executor once and the pool is split into at "
          "least N x 4 partitions; generation is a shuffle of the catalogue and grows with it, not with N)")


if __name__ == "__main__":
    main()
