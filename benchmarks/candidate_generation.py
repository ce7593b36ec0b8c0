"""Seconds (and peak memory) for the hierarchical sampler to generate its candidate set in DuckDB.

Target (issue 6): <= 2 s for the paper-sized set (368 fine categories x 10 queries x 100
partners ~ 368k pairs) on 2 cores.

    .venv/bin/python benchmarks/candidate_generation.py [--repeat 3] [--workdir DIR]
        [--skip-completejourney] [--sizes 10k,100k,368k,1M]

1. completejourney as ingested by `karl ingest completejourney` (items = products; fine =
   department > product category, parent = department): Q = 10, N = 100.
2. Growth: a synthetic catalogue of the paper's shape (368 fine categories in 40 parents, 250
   items each, 92k items) with Q and N chosen for 10k, 100k, 368k and 1M candidates.

The sampler's SQL is compiled by dbt (the intermediate views), then timed as
`create temp table ... as select * from int_candidate_pairs_sampled` (the work a table build does).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


from peak_memory import PeakRss  # noqa: E402

from python_jobs import warehouse  # noqa: E402
from python_jobs.candidates.categories import path_categories  # noqa: E402

TARGET_SECONDS = 2.0
GROWTH = [  # (label, Q, N) on 368 fine categories of 250 items: pairs ~ 368 * Q * N
    ("10k", 1, 27),
    ("100k", 10, 27),
    ("368k", 10, 100),
    ("1M", 10, 272),
]


def build_views(db: Path, target: Path, category_set: str, queries: int, partners: int, upstream: bool) -> None:
    selector = ["+tag:karl_candidates", "--indirect-selection", "cautious"] if upstream else [
        "int_item_categories_selected", "int_candidate_pairs_excluded", "int_candidate_pairs_sampled"]
    warehouse.run_dbt(
        ["build", "--select", *selector], db_path=db, target_path=target,
        dbt_vars={"karl_candidate_source": "sampler", "karl_category_set": category_set,
                  "karl_sampler_queries": queries, "karl_sampler_partners": partners},
    )


def time_sampler(con, repeat: int) -> tuple[float, int, float, float]:  # noqa: ANN001
    """(best wall seconds, rows, peak RSS growth MB, CPU seconds of the best run) of materialising
    the sampler view. CPU seconds count DuckDB's threads (in this process)."""
    best, peak, best_cpu = float("inf"), 0.0, 0.0
    rows = 0
    for _ in range(repeat):
        with PeakRss() as rss:
            started, started_cpu = time.perf_counter(), time.process_time()
            con.execute("create or replace temp table _bench_candidates as "
                        "select * from intermediate.int_candidate_pairs_sampled")
            if time.perf_counter() - started < best:
                best, best_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        peak = max(peak, rss.growth_mb)
        rows = con.execute("select count(*) from _bench_candidates").fetchone()[0]
        con.execute("drop table _bench_candidates")
    return best, rows, peak, best_cpu


def completejourney(workdir: Path, repeat: int) -> None:
    from python_jobs.ingest.completejourney import ingest_completejourney

    db = workdir / "cj.duckdb"
    con = warehouse.connect(db)
    ingest_completejourney(con)
    category_set = path_categories(con, "completejourney")
    fine, parents, items = con.execute(
        "select count(distinct fine_category), count(distinct parent_category), count(*) "
        "from raw.item_categories where category_set = ?", [category_set]).fetchone()
    build_views(db, workdir / "target_cj", category_set, 10, 100, upstream=True)
    seconds, rows, peak, cpu = time_sampler(con, repeat)
    con.close()
    print(f"completejourney: {items} items (products), {fine} fine categories in {parents} parents")
    print(f"  Q=10, N=100: {rows:,} candidate pairs in {seconds:.2f} s wall, {cpu:.2f} s CPU (target <= {TARGET_SECONDS:.0f} s "
          f"for 368k: {'met' if seconds <= TARGET_SECONDS else 'MISSED'}); peak RSS growth {peak:.0f} MB")


def synthetic(workdir: Path, repeat: int, sizes: list[str]) -> None:
    db = workdir / "synthetic.duckdb"
    con = warehouse.connect(db)
    con.execute("""
        insert into raw.catalog_items
        select 'synthetic', 'syn:' || lpad(cast(i as varchar), 6, '0'), 'synthetic item ' || i,
            'parent ' || cast(f % 40 as varchar), 'fine ' || cast(f as varchar), null, 'bench', ?
        from (select range as i, range % 368 as f from range(368 * 250))
    """, [datetime(2026, 1, 1)])
    category_set = path_categories(con, "synthetic", 2, 1)
    print("growth (synthetic catalogue: 92,000 items, 368 fine categories in 40 parents):")
    print(f"  {'size':>5} {'Q':>3} {'N':>4} {'pairs':>10} {'wall s':>8} {'CPU s':>7} {'pairs/s':>11} {'peak RSS MB':>12}")
    for index, (label, queries, partners) in enumerate(row for row in GROWTH if row[0] in sizes):
        build_views(db, workdir / "target_syn", category_set, queries, partners, upstream=index == 0)
        seconds, rows, peak, cpu = time_sampler(con, repeat)
        print(f"  {label:>5} {queries:>3} {partners:>4} {rows:>10,} {seconds:>8.2f} {cpu:>7.2f} {rows / seconds:>11,.0f} "
              f"{peak:>12.0f}")
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-completejourney", action="store_true")
    parser.add_argument("--sizes", default=",".join(label for label, _, _ in GROWTH),
                        help="growth-table rows to measure (default: all)")
    args = parser.parse_args()
    unknown = set(args.sizes.split(",")) - {label for label, _, _ in GROWTH}
    if unknown:
        parser.error(f"--sizes: unknown {sorted(unknown)}; the rows are {', '.join(label for label, _, _ in GROWTH)}")
    with tempfile.TemporaryDirectory(prefix="karl_bench_candidates_") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"cpus: {os.cpu_count()}, repeat {args.repeat} (best of)")
        if not args.skip_completejourney:
            completejourney(workdir, args.repeat)
        synthetic(workdir, args.repeat, args.sizes.split(","))


if __name__ == "__main__":
    main()
