"""One KARL round through the warehouse next to a plain in-memory loop doing the same math.

karl's round: train (ensemble from fct_training_labels) -> select (score the candidate mart,
write selections and pool predictions) -> annotate (replay, K = 3 calls recorded in
raw.llm_calls) -> build (in-process dbt: consensus + training marts and their invariant tests)
-> evaluate (ID 5-fold CV + OOD, written to raw.round_metrics).
The in-memory round (benchmarks/inmemory_loop.py): the same ensemble, acquisition, replay and
evaluation on numpy arrays. Set-up (ingest, build, features, tuning) is excluded from both.

Target: karl / in-memory <= 1.5 (the warehouse must not dominate the round).

Usage: .venv/bin/python benchmarks/round_overhead.py [--rounds 2] [--members 10] [--budget 50]
    [--workers 2] [--tuning-trials 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "benchmarks"))

from inmemory_loop import LoopConfig, load_loop_data, run_inmemory_round, start_loop  # noqa: E402

from python_jobs import warehouse  # noqa: E402
from python_jobs.annotation.factory import make_annotator  # noqa: E402
from python_jobs.config import RunConfig, TuningConfig  # noqa: E402
from python_jobs.ingest.fbl import ingest_fbl  # noqa: E402
from python_jobs.loop.runner import Orchestrator  # noqa: E402
from python_jobs.loop.steps import ROUND_STEPS  # noqa: E402


def karl_rounds(folder: Path, rounds: int, members: int, budget: int, strategy: str,
                workers: int, tuning_trials: int = 12) -> dict[str, list[float]]:
    db = folder / "karl.duckdb"
    os.environ["KARL_DUCKDB_PATH"] = str(db)
    os.environ.setdefault("KARL_DBT_TARGET_PATH", str(folder / "target"))
    con = warehouse.connect(db)
    try:
        ingest_fbl(con, None)
        warehouse.run_dbt(["build", "--exclude", "resource_type:unit_test"], db_path=db)
        # The in-memory loop trains on the SVD pair features: karl on the same set, like for like.
        config = RunConfig(strategy=strategy, rounds=rounds, annotator="replay", budget=budget, members=members,
                           seed=0, run_id="round-overhead", workers=workers, features="svd",
                           tuning_trials=tuning_trials)
        Orchestrator(con, config, annotator_factory=lambda o: make_annotator(o.con, o.config),
                     show_progress=False, log=lambda _: None).run()
        rows = con.execute("""
            select round_index, step, seconds from raw.run_steps
            where run_id = 'round-overhead' and round_index between 0 and ? - 1
        """, [rounds]).fetchall()
    finally:
        con.close()
    per_step: dict[str, list[float]] = {step: [0.0] * rounds for step in ROUND_STEPS}
    for round_index, step, seconds in rows:
        per_step[step][round_index] = float(seconds)
    return per_step


def inmemory_rounds(rounds: int, members: int, budget: int, strategy: str, tuning_trials: int = 12) -> list[float]:
    data = load_loop_data(seed=0)
    config = replace(LoopConfig(), strategy=strategy, budget=budget, n_members=members, n_groups=60,
                     tuning=TuningConfig(n_trials=tuning_trials))
    state = start_loop(data, config)
    seconds = []
    for round_index in range(rounds):
        started = time.perf_counter()
        run_inmemory_round(data, state, config, round_index)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--workers", type=int, default=2,
                        help="karl's ID-CV worker processes (1: all in the main process, as the in-memory loop)")
    parser.add_argument("--tuning-trials", type=int, default=TuningConfig().n_trials,
                        help="hyperparameter search trials (set-up, not timed) on both sides")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="karl-round-overhead-") as folder:
        per_step = karl_rounds(Path(folder), args.rounds, args.members, args.budget, args.strategy, args.workers,
                               args.tuning_trials)
    memory = inmemory_rounds(args.rounds, args.members, args.budget, args.strategy, args.tuning_trials)

    karl_total = [sum(per_step[step][r] for step in ROUND_STEPS) for r in range(args.rounds)]
    print(f"{'round':>5} {'karl s':>8} {'in-memory s':>12} {'ratio':>6}   karl steps (s)")
    for r in range(args.rounds):
        steps = "  ".join(f"{step} {per_step[step][r]:.2f}" for step in ROUND_STEPS)
        print(f"{r:>5} {karl_total[r]:>8.2f} {memory[r]:>12.2f} {karl_total[r] / memory[r]:>6.2f}   {steps}")
    mean_karl = sum(karl_total) / len(karl_total)
    mean_memory = sum(memory) / len(memory)
    warehouse_share = sum(per_step["build"]) / sum(karl_total)
    print(f"karl with --workers {args.workers}; the in-memory loop runs in one process")
    print(f"mean round: karl {mean_karl:.2f} s, in-memory {mean_memory:.2f} s, "
          f"ratio {mean_karl / mean_memory:.2f} (target <= 1.5); dbt build is {warehouse_share:.0%} of karl's round")


if __name__ == "__main__":
    main()
