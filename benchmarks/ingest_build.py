"""Seconds to ingest the FBL files and run a full `dbt build` in-process, on a fresh warehouse.

Target (issue 2): under 15 s together on 2 cores, dbt run in-process.

    KARL_FBL_DIR=../shared/data/fbl_askul .venv/bin/python benchmarks/ingest_build.py [--repeat N]

Each repeat uses a new DuckDB file and a new dbt target folder. Wall seconds depend on what else
runs on the machine (the load average is printed); CPU seconds of this process are printed too. The first ingest of a process
pays for importing great-expectations (~3-4 s) and the first dbt call for importing dbt; the
figures split those out so the cost of each part is visible.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from python_jobs import warehouse  # noqa: E402
from python_jobs.ingest.fbl import ingest_fbl  # noqa: E402
from python_jobs.ingest.validation import Validator  # noqa: E402
from python_jobs.warehouse import PRODUCTION_BUILD_ARGS  # noqa: E402

TARGET_SECONDS = 15.0


def one_run(fbl_dir: Path | None, workdir: Path, target: Path) -> dict[str, float]:
    db_path = workdir / "karl.duckdb"
    started, cpu_started = time.perf_counter(), time.process_time()
    con = warehouse.connect(db_path)
    validator = Validator()
    result = ingest_fbl(con, fbl_dir, validator=validator)
    ingest_seconds, ingest_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    loaded = sum(outcome.rows_loaded for outcome in result.outcomes)
    quarantined = sum(len(outcome.quarantined) for outcome in result.outcomes)
    started, cpu_started = time.perf_counter(), time.process_time()
    # `karl build`: seeds, models, snapshots and every data test; unit tests (SQL logic, not
    # data) run in `make test`, as dbt recommends for production builds.
    outcome = warehouse.run_dbt(PRODUCTION_BUILD_ARGS, db_path=db_path, target_path=target, raise_on_failure=False)
    build_seconds, build_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    con.close()
    if not outcome.success:
        print("dbt build FAILED:\n  " + "\n  ".join(outcome.failures[:20]))
    return {
        "ingest": ingest_seconds,
        "ingest_cpu": ingest_cpu,
        "build_cpu": build_cpu,
        "gx_setup": validator.seconds_setup,
        "build": build_seconds,
        "build_ok": float(outcome.success),
        "loaded": float(loaded),
        "quarantined": float(quarantined),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="FBL folder (default: $KARL_FBL_DIR)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average before: {' '.join(f'{load:.1f}' for load in os.getloadavg())}")
    # dbt's target folder is kept across repeats: run 1 parses the project from scratch (a fresh
    # clone), later runs use dbt's partial parse (every later `karl build` / round of a run).
    with tempfile.TemporaryDirectory(prefix="karl_bench_target_") as target:
        for index in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="karl_bench_") as folder:
                figures = one_run(args.dir, Path(folder), Path(target))
            report(index, figures)


def report(index: int, figures: dict[str, float]) -> None:
    total = figures["ingest"] + figures["build"]
    if not figures["build_ok"]:
        verdict = "BUILD FAILED"
    else:
        verdict = "OK" if total < TARGET_SECONDS else "OVER TARGET"
    parse = "full dbt parse" if index == 0 else "dbt partial parse"
    print(
        f"run {index + 1}: ingest FBL {figures['ingest']:.2f} s (of which great-expectations import+context "
        f"{figures['gx_setup']:.2f} s; {figures['loaded']:.0f} judgements loaded, {figures['quarantined']:.0f} "
        f"quarantine rows; {figures['ingest_cpu']:.2f} s CPU) | dbt build {figures['build']:.2f} s "
        f"({figures['build_cpu']:.2f} s CPU, {parse}) | total {total:.2f} s vs target {TARGET_SECONDS:.0f} s: "
        f"{verdict} (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
