"""`karl experiment`: strategies x seeds x T rounds with one annotator, one run per cell, in
one warehouse, on one or several pool/test splits; each cell's ceiling (loop/ceiling.py) beside
it. Answers the paper's RQ1-RQ3 from marts.rpt_experiment_summary, per split from
marts.rpt_experiment_splits, per run (learning-curve figures) from marts.fct_experiment_runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import duckdb

from python_jobs import warehouse
from python_jobs.config import EngineSettings, RunConfig
from python_jobs.errors import UsageError
from python_jobs.loop.builds import RUN_BUILD_ARGS, role_vars
from python_jobs.loop.ceiling import record_ceiling
from python_jobs.loop.id_cv import worker_pool
from python_jobs.loop.pool import CandidatePoolMemo
from python_jobs.loop.roles import without_absent_defaults
from python_jobs.loop.runner import Orchestrator
from python_jobs.reporting.progress import RunProgress


@dataclass(frozen=True)
class ExperimentConfig:
    """Cells: split seeds x seeds x strategies. One split (None: the warehouse's) keeps the run ids
    `<experiment>-<strategy>-s<seed>`; several add `-k<split seed>`."""

    experiment_id: str
    strategies: tuple[str, ...] = ("random", "qbc", "margin")
    seeds: tuple[int, ...] = (0, 1, 2)
    cell: RunConfig = field(default_factory=lambda: RunConfig(rounds=20, run_id="template"))
    split_seeds: tuple[int | None, ...] = (None,)

    def cells(self) -> list[RunConfig]:
        return [
            replace(self.cell, strategy=strategy, seed=seed, experiment_id=self.experiment_id, split_seed=split_seed,
                    run_id=f"{self.experiment_id}-{strategy}-s{seed}" + (f"-k{split_seed}" if split_seed is not None else ""))
            for split_seed in self.split_seeds
            for seed in self.seeds
            for strategy in self.strategies
        ]


def parse_seeds(text: str) -> tuple[int, ...]:
    """`--seeds`: the seeds of every strategy, comma-separated, or a range FIRST-LAST: "0",
    "0,1,2", "0-2". Each seed once, in the order given."""
    seeds: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"--seeds {text!r}: seeds are whole numbers >= 0, comma-separated or a range "
                             "such as 0-2 (e.g. --seeds 0,1,2)")
        span = range(int(first), int(last) + 1) if dash else (int(first),)
        if not span:
            raise ValueError(f"--seeds {text!r}: the range {part} is empty (write FIRST-LAST, FIRST <= LAST)")
        seeds.extend(seed for seed in span if seed not in seeds)
    if not seeds:
        raise ValueError(f"--seeds {text!r}: an experiment needs at least one seed per strategy")
    return tuple(seeds)


def split_seeds_for(splits: int, first: int) -> tuple[int | None, ...]:
    """`--splits K`: the warehouse's split alone for 1, else K split seeds from `first` on."""
    if splits < 1:
        raise ValueError(f"--splits {splits}: an experiment needs at least one split")
    return (None,) if splits == 1 else tuple(range(first, first + splits))


def check_splits(con: duckdb.DuckDBPyConnection, config: ExperimentConfig) -> None:
    """Several splits need a dataset that is both pool and eval (it is what the split seed cuts
    by anchor); otherwise every split would run the same cells again."""
    if len(config.split_seeds) < 2:
        return
    roles = without_absent_defaults(con, config.cell)
    if not set(roles.pool_labels) & set(roles.eval_labels):
        raise UsageError(
            f"--splits {len(config.split_seeds)}: no labelled dataset is both pool and eval in these runs "
            f"(pool: {','.join(roles.pool_labels) or 'none'}, eval: {','.join(roles.eval_labels) or 'none'}), so "
            "there is nothing to split and every split would repeat the same runs. Use --splits 1, or name a "
            "dataset in both --pool-labels and --eval-labels.")


def run_experiment(con: duckdb.DuckDBPyConnection, config: ExperimentConfig,
                   log: Callable[[str], None] = print, show_progress: bool = True,
                   progress_for: Callable[[RunConfig], RunProgress] | None = None,
                   engine: EngineSettings | None = None) -> float:
    """Run (or resume) every cell; returns the seconds it took. Cells already complete are skipped.
    `progress_for(cell)` gives a cell its published progress (reporting/progress.py). With the
    Spark engine every cell runs as `karl --engine spark run` does (its rows published to Spark
    after every step), and the marts are built on Spark once, after the last cell."""
    started = time.perf_counter()
    check_splits(con, config)
    cells = config.cells()
    pool = worker_pool(config.cell.workers) if config.cell.workers > 1 else None
    # The cells of one seed share a candidate pool: the memo spares rebuilding it for each.
    pool_memo = CandidatePoolMemo()
    ceilings: dict[str, dict] = {}  # the cells of one split and seed share their ceiling
    last: Orchestrator | None = None
    try:
        for number, cell in enumerate(cells, start=1):
            log(f"[{number}/{len(cells)}] {cell.run_id}")
            # One closing build for all cells (below), not one per cell.
            last = Orchestrator(con, cell, show_progress=show_progress, log=log, pool=pool, closing_build=False,
                                pool_memo=pool_memo, progress=progress_for(cell) if progress_for else None,
                                engine=engine)
            last.run()
            record_ceiling(last, ceilings)
            if last.spark_run is not None:  # the ceiling artifact, stored after the run's last publish
                last.spark_run.publish()
    except Exception:
        # The cells done so far still reach the marts; the error that stopped the experiment is
        # the one reported, not a test the same cause fails again in this build.
        result = warehouse.run_dbt(RUN_BUILD_ARGS, dbt_vars=closing_vars(last, config.cell), raise_on_failure=False)
        if not result.success:
            log("the closing build after the failure failed too: " + "; ".join(result.failures))
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    warehouse.run_dbt(RUN_BUILD_ARGS, dbt_vars=closing_vars(last, config.cell))
    if last is not None and last.spark_run is not None:
        # The Spark selection is every mart downstream of the run tables: all cells' at once.
        last.spark_run.build_marts(last.dbt_vars())
    return time.perf_counter() - started


def closing_vars(last: Orchestrator | None, cell: RunConfig) -> dict[str, object]:
    """The dbt vars of the closing build: the cells' dataset roles (as the runs resolved them) and
    candidate source, so the marts and invariants see the labels the runs trained on."""
    config = last.config if last is not None else cell
    return {"karl_candidate_source": config.candidate_source, "karl_k_calls": config.k_calls, **role_vars(config)}


def experiment_summary(con: duckdb.DuckDBPyConnection, experiment_id: str) -> list[dict]:
    frame = con.execute(
        "select * from marts.rpt_experiment_summary where experiment_id = ? order by strategy", [experiment_id]
    ).df()
    return frame.to_dict(orient="records")
