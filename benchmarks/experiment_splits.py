"""Strategies over several pool/test splits: `karl experiment --splits K` on the real FBL data, then
the figures of issue 23 from the marts.

Builds a warehouse in --workdir (ingest FBL, dbt build) unless one is there, runs the experiment
(resumable: run it again with the same --experiment-id), and prints

- per strategy, mean ± sd over splits x seeds: round-0 OOD macro-F1, OOD at the half-way and
  last rounds, the ceiling (the same model on every labelled pool pair), the normalised area
  under the OOD curve, the labels to 50% / 80% of the ceiling's gain (and how many runs got
  there), the lowest ID gain over round 0;
- per split: floor, ceiling and each strategy's last-round OOD;
- wall and CPU seconds of the experiment.

    .venv/bin/python benchmarks/experiment_splits.py [--splits 5] [--seeds 3] [--rounds 20]
        [--strategies margin,breaking_ties,random] [--workdir DIR] [--fbl-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
KARL = [sys.executable, "-m", "python_jobs.cli"]


def karl(*args: str, env: dict[str, str]) -> None:
    subprocess.run([*KARL, *args], cwd=ROOT, env=env, check=True)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_summary(con: duckdb.DuckDBPyConnection, experiment_id: str) -> None:
    rows = con.execute("""
        select strategy, n_runs, n_splits,
               mean_ood_macro_f1_round0, sd_ood_macro_f1_round0, mean_ood_macro_f1_half, sd_ood_macro_f1_half,
               mean_ood_macro_f1_final, sd_ood_macro_f1_final, mean_ceiling_ood_macro_f1, sd_ceiling_ood_macro_f1,
               mean_normalised_ood_area, sd_normalised_ood_area,
               mean_labels_to_half_ceiling_gain, n_runs_reaching_half_ceiling_gain,
               mean_labels_to_80pct_ceiling_gain, n_runs_reaching_80pct_ceiling_gain, mean_min_id_gain
        from marts.rpt_experiment_summary where experiment_id = ? order by strategy
    """, [experiment_id]).fetchall()
    print("| strategy | runs | splits | OOD r0 | OOD half-way | OOD last | ceiling | area | labels to 50% (runs) "
          "| labels to 80% (runs) | lowest ID gain |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def pm(mean: float | None, sd: float | None) -> str:
        return "–" if mean is None else f"{mean:.3f} ± {sd or 0:.3f}"

    def reached(mean: float | None, runs: int) -> str:
        return f"– ({runs})" if mean is None else f"{mean:.0f} ({runs})"

    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {pm(r[3], r[4])} | {pm(r[5], r[6])} | {pm(r[7], r[8])} | {pm(r[9], r[10])} "
              f"| {pm(r[11], r[12])} | {reached(r[13], r[14])} | {reached(r[15], r[16])} | {r[17]:+.3f} |")


def print_splits(con: duckdb.DuckDBPyConnection, experiment_id: str) -> None:
    frame = con.execute("""
        select split_seed, strategy, floor_ood_macro_f1, ceiling_ood_macro_f1, n_ceiling_pool_labels,
               mean_ood_macro_f1_final
        from marts.rpt_experiment_splits where experiment_id = ? order by split_seed, strategy
    """, [experiment_id]).df()
    strategies = sorted(frame["strategy"].unique())
    print("| split seed | pool labels | floor | ceiling | " + " | ".join(f"{s} last" for s in strategies) + " |")
    print("|---|---|---|---|" + "---|" * len(strategies))
    for split_seed, part in frame.groupby("split_seed"):
        last = dict(zip(part["strategy"], part["mean_ood_macro_f1_final"]))
        print(f"| {split_seed} | {int(part['n_ceiling_pool_labels'].max())} | {part['floor_ood_macro_f1'].mean():.3f} "
              f"| {part['ceiling_ood_macro_f1'].mean():.3f} | " + " | ".join(f"{last[s]:.3f}" for s in strategies) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--strategies", default="margin,breaking_ties,random")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--experiment-id", default="splits")
    parser.add_argument("--workdir", type=Path, default=ROOT / "warehouse" / "benchmarks")
    parser.add_argument("--fbl-dir", type=Path, default=Path(os.environ.get("KARL_FBL_DIR", ROOT.parent / "shared/data/fbl_askul")))
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    db = args.workdir / "experiment_splits.duckdb"
    env = {**os.environ, "KARL_FBL_DIR": str(args.fbl_dir), "GX_ANALYTICS_ENABLED": "false",
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if not db.exists():
        print(f"building the FBL warehouse {db} ...", flush=True)
        karl("ingest", "fbl", "--db", str(db), env=env)
        karl("build", "--db", str(db), env=env)
    started, cpu_before = time.perf_counter(), children_cpu_seconds()
    karl("experiment", "--splits", str(args.splits), "--seeds", f"0-{args.seeds - 1}", "--rounds", str(args.rounds),
         "--strategies", args.strategies, "--workers", str(args.workers), "--experiment-id", args.experiment_id,
         "--db", str(db), env=env)
    wall, cpu = time.perf_counter() - started, children_cpu_seconds() - cpu_before
    with duckdb.connect(str(db), read_only=True) as con:
        print(f"\n## {args.experiment_id}: {args.splits} splits x {args.seeds} seeds x {args.rounds} rounds, "
              f"{args.strategies}\n")
        print_summary(con, args.experiment_id)
        print()
        print_splits(con, args.experiment_id)
    print(f"\nexperiment: {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU (this call; a resumed "
          "experiment counts only what it ran)")


if __name__ == "__main__":
    main()
