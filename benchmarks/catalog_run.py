"""A karl run over the completejourney catalogue, end to end, on a fresh DuckDB file, phase by phase.

Issue 6 item 2: ingest FBL and completejourney, build, then `karl run --candidate-source sampler
--annotator simulated` (the simulated annotator's truth: co-purchase lift labels from the
baskets, python_jobs/candidates/basket_labels.py: items are products, the lift of two products is the lift of
their product types, two products of one type are 'substitute'). Prints

- wall and CPU seconds per phase (ingest, build, features, categories, candidate generation,
  tuning, and each round's train / select / annotate / build / evaluate), with the peak RSS of
  the process during each phase and overall;
- candidates scored per round (the pool minus this run's earlier selections);
- how often the FBL-trained classifier (round 0: human FBL labels only) agrees with the basket
  labels on every candidate pair, overall and per basket label, and the same for the last
  round's ensemble (which has seen the accepted simulated labels);
- accepted labels per round and class.

    .venv/bin/python benchmarks/catalog_run.py [--rounds 3] [--budget 100] [--strategy qbc]
        [--workdir DIR] [--fbl-dir DIR] [--tuning-trials 12] [--transactions N]

CPU seconds include every thread of this process (DuckDB, dbt, numpy); on a shared machine they
are the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peak_memory import PeakRss  # noqa: E402

from python_jobs import warehouse  # noqa: E402
from python_jobs.config import RunConfig  # noqa: E402
from python_jobs.learning.scoring import candidate_pairs_sql  # noqa: E402
from python_jobs.loop.builds import CANDIDATE_BUILD_ARGS, RUN_BUILD_ARGS  # noqa: E402
from python_jobs.loop.runner import Orchestrator, RoundState  # noqa: E402

CATALOG = "completejourney"
CANDIDATES_SQL = "select pair_key, item_a_id, item_b_id, fine_category from marts.fct_candidate_pairs"


@dataclass
class Phase:
    name: str
    wall: float
    cpu: float
    rss_start_mb: float
    peak_mb: float


@dataclass
class Timings:
    sampler: PeakRss
    phases: list[Phase] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start_rss = self.sampler.mark()
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.phases.append(Phase(name, time.perf_counter() - wall, time.process_time() - cpu,
                                     start_rss / 2**20, self.sampler.phase_peak / 2**20))


class TimedOrchestrator(Orchestrator):
    """The orchestrator with each step timed, the candidates per round counted and the
    ensembles kept (to measure their agreement with the basket labels afterwards)."""

    def __init__(self, *args, timings: Timings, **kwargs) -> None:  # noqa: ANN002,ANN003
        super().__init__(*args, **kwargs)
        self.timings = timings
        self.ensembles: dict[int, object] = {}
        self._round = 0
        self.candidates_per_round: dict[int, int] = {}
        self.steps = {name: self._timed(name, step) for name, step in self.steps.items()}

    def _timed(self, name: str, step):  # noqa: ANN001, ANN202
        def timed(run, round_index: int, state: RoundState) -> None:  # noqa: ANN001
            self._round = round_index
            label = f"round {round_index}: {name}"
            if name == "build":
                label += " (dbt)"
            if name == "select":
                sql, params = candidate_pairs_sql(self.config.run_id)
                self.candidates_per_round[round_index] = self.con.execute(
                    f"select count(*) from ({sql})", params).fetchall()[0][0]
                label += f" (score {self.candidates_per_round[round_index]:,})"
            with self.timings.phase(label):
                step(run, round_index, state)
            if name == "train":
                self.ensembles[round_index] = state.ensemble
        return timed

    def build(self, args: list[str]) -> float:
        if args == CANDIDATE_BUILD_ARGS:
            with self.timings.phase("candidate generation (dbt: categories -> fct_candidate_pairs)"):
                return super().build(args)
        if args == RUN_BUILD_ARGS:
            with self.timings.phase("dbt build (marts downstream of the run)"):
                return super().build(args)
        return super().build(args)


def agreement_figures(con, orchestrator: TimedOrchestrator, round_index: int) -> tuple[dict, object]:  # noqa: ANN001
    from python_jobs.candidates import basket_labels
    ensemble = orchestrator.ensembles[round_index]
    weights, bias = ensemble.stacked_weights()
    # The vectors the round's scan scored with (the run's --features; char13: sparse), not the
    # dense SVD vectors every run also keeps: the weights' rows are that set's pair features.
    # make_scorer's default layout for them is the scan's (sparse [|a-b|, a*b, cos]; dense + a+b).
    kernel = orchestrator.pair_features.scan_kernel()
    if kernel is None:
        raise SystemExit(f"features {orchestrator.config.features!r} score through pair rows: "
                         "the agreement figures need a linear scan (svd, char13 or embeddings)")
    vectors, _ = kernel
    # A cursor of its own: duckdb 2 refuses register() (the scan's item positions) on a connection
    # holding an unfinished result, and the run leaves one on `con`.
    cursor = con.cursor()
    try:
        return basket_labels.classifier_agreement(
            cursor, CANDIDATES_SQL, weights, bias, orchestrator.config.members, vectors, catalog=CATALOG,
            classes=tuple(str(c) for c in ensemble.classes_))
    finally:
        cursor.close()


def print_agreement(title: str, figures: dict, confusion) -> None:  # noqa: ANN001
    print(f"{title}: {figures['agreement']:.1%} of {int(figures['n_pairs']):,} candidate pairs")
    for label in ("substitute", "complement", "other"):
        if f"n_{label}" in figures:
            print(f"  basket label {label:<10} ({int(figures[f'n_{label}']):>7,} pairs): classifier agrees on "
                  f"{figures[f'agreement_{label}']:.1%}")
    shares = ", ".join(f"{key[len('predicted_'):-len('_share')]} {value:.1%}"
                       for key, value in figures.items() if key.startswith("predicted_"))
    print(f"  classifier predicts: {shares}")
    print("  basket label x predicted class:")
    for line in confusion.to_string().splitlines():
        print(f"    {line}")


def completejourney_slice(workdir: Path, lines: int | None) -> dict[str, Path]:
    """ingest_completejourney's paths for the first `lines` transaction lines and their products
    (nothing: the whole package data)."""
    if lines is None:
        return {}
    import duckdb

    from python_jobs.ingest.completejourney import package_file

    products, transactions = workdir / "cj_products.parquet", workdir / "cj_transactions.parquet"
    with duckdb.connect() as con:
        con.execute(f"copy (select * exclude (file_row_number) from read_parquet('{package_file('transactions')}', "
                    f"file_row_number = true) where file_row_number < {int(lines)} order by file_row_number) "
                    f"to '{transactions}' (format parquet)")
        con.execute(f"copy (select * from '{package_file('products')}' where product_id in "
                    f"(select product_id from '{transactions}') order by product_id) to '{products}' (format parquet)")
    return {"products_path": products, "transactions_path": transactions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--strategy", default="qbc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tuning-trials", type=int, default=12)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the DuckDB file here (default: a temp dir)")
    parser.add_argument("--fbl-dir", type=Path,
                        default=Path(os.environ.get("KARL_FBL_DIR", "/work/shared/data/fbl_askul")))
    parser.add_argument("--transactions", type=int, default=None,
                        help="only the first N completejourney transaction lines and the products they "
                             "reference (a smoke-test size; default: the whole catalogue)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    from python_jobs.candidates.categories import ensure_categories
    from python_jobs.features import vectors as features
    from python_jobs.ingest.completejourney import ingest_completejourney
    from python_jobs.ingest.fbl import ingest_fbl

    with tempfile.TemporaryDirectory(prefix="karl_bench_catalog_") as tmp, PeakRss() as sampler:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        db = workdir / "karl.duckdb"
        for stale in (db, db.with_suffix(".duckdb.wal")):
            stale.unlink(missing_ok=True)
        os.environ["KARL_DBT_TARGET_PATH"] = str(workdir / "target")
        timings = Timings(sampler)
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; fresh warehouse {db}")

        con = warehouse.connect(db)
        try:
            with timings.phase("ingest fbl"):
                ingest_fbl(con, args.fbl_dir)
            with timings.phase("ingest completejourney"):
                ingest_completejourney(con, **completejourney_slice(workdir, args.transactions))
            with timings.phase("dbt build (seeds, models, tests)"):
                warehouse.run_dbt(["build"], db_path=db)
            config = RunConfig(strategy=args.strategy, rounds=args.rounds, annotator="simulated", budget=args.budget,
                               seed=args.seed, candidate_source="sampler", tuning_trials=args.tuning_trials,
                               run_id=f"catalog-{args.strategy}-s{args.seed}")
            with timings.phase("features (one featuriser fit on all item titles)"):
                feature_set = features.ensure_item_vectors(con, seed=config.seed)
            with timings.phase("categories"):
                ensure_categories(con, feature_set, seed=config.seed, source="sampler")
            items = dict(con.execute("select catalog, count(*) from marts.dim_items group by 1").fetchall())

            # The orchestrator's own annotator: the simulated one reuses the lift labels that
            # select already computed (one lift query over the pool, not two).
            orchestrator = TimedOrchestrator(con, config, show_progress=False, log=print, timings=timings)
            with timings.phase("run (prepare + rounds + final build)"):
                orchestrator.run()
            with timings.phase("agreement: round 0 (FBL-trained) ensemble over all candidates"):
                first = agreement_figures(con, orchestrator, 0)
            last_round = max(orchestrator.ensembles)
            with timings.phase(f"agreement: round {last_round} ensemble over all candidates"):
                last = agreement_figures(con, orchestrator, last_round)
            steps = con.execute("select round_index, step, seconds from raw.run_steps where run_id = ? "
                                "and round_index < 0 order by completed_at", [config.run_id]).fetchall()
            accepted = con.execute("""
                select round_index, relation_label, count(*) from marts.fct_consensus_labels
                where run_id = ? and is_accepted group by 1, 2 order by 1, 2
            """, [config.run_id]).fetchall()
            selected = dict(con.execute(
                "select round_index, count(*) from raw.selections where run_id = ? group by 1", [config.run_id]).fetchall())
            reference = dict(con.execute(
                "select reference_relation_label, count(*) from raw.selections where run_id = ? group by 1",
                [config.run_id]).fetchall())
            n_pool, n_fine = con.execute(
                "select count(*), count(distinct fine_category) from marts.fct_candidate_pairs").fetchone()
            metrics = con.execute("""
                select round_index, json_extract(metrics_json, '$.id_macro_f1')::double,
                    json_extract(metrics_json, '$.ood_macro_f1')::double
                from raw.round_metrics where run_id = ? order by 1
            """, [config.run_id]).fetchall()
        finally:
            con.close()
        total_wall, total_cpu = time.perf_counter() - started_wall, time.process_time() - started_cpu

    print(f"items: {items}; candidate pool: {n_pool:,} pairs in {n_fine} fine categories "
          f"(Q=10 queries x N=100 partners per fine category)")
    print(f"run {config.run_id}: {config.strategy}, {config.rounds} rounds, budget {config.budget}, "
          f"{config.members} members, simulated annotator (acc {config.simulated_accuracy}, "
          f"self-consistency {config.simulated_self_consistency})\n")
    print(f"{'phase':<66} {'wall s':>8} {'CPU s':>8} {'RSS MB':>8} {'peak MB':>8}")
    for phase in timings.phases:
        print(f"{phase.name:<66} {phase.wall:>8.2f} {phase.cpu:>8.2f} {phase.rss_start_mb:>8.0f} {phase.peak_mb:>8.0f}")
    for round_index, step, seconds in steps:
        print(f"  (inside prepare, raw.run_steps) {step:<32} {seconds:>8.2f}")
    print(f"{'total':<66} {total_wall:>8.2f} {total_cpu:>8.2f} {'':>8} {sampler.peak / 2**20:>8.0f}\n")

    print("round | candidates scored | selected | accepted (substitute / complement / other) | ID F1 | OOD F1")
    by_round: dict[int, dict[str, int]] = {}
    for round_index, label, count in accepted:
        by_round.setdefault(round_index, {})[label] = count
    for round_index, id_f1, ood_f1 in metrics:
        counts = by_round.get(round_index, {})
        candidates = orchestrator.candidates_per_round.get(round_index)
        print(f"{round_index:>5} | {f'{candidates:,}' if candidates is not None else '-':>17} | "
              f"{selected.get(round_index, 0):>8} | "
              f"{sum(counts.values()):>4} ({counts.get('substitute', 0)} / {counts.get('complement', 0)} / "
              f"{counts.get('other', 0)}){'':>22} | {id_f1:.3f} | {ood_f1:.3f}")
    print(f"basket (reference) labels of the selected pairs: {reference}\n")
    print_agreement("agreement of the FBL-trained classifier (round 0) with the basket labels", *first)
    print()
    print_agreement(f"agreement of the round {last_round} ensemble with the basket labels", *last)
    peak_select = max((p.peak_mb for p in timings.phases if "select" in p.name), default=float("nan"))
    print(f"\npeak RSS {sampler.peak / 2**20:.0f} MB overall; during selection (streamed scoring) {peak_select:.0f} MB")


if __name__ == "__main__":
    main()
