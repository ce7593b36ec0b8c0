"""Seconds to ingest the FBL files and run a full `dbt build` in-process, on a fresh warehouse.

Target (issue 2): under 15 s together on 2 cores, dbt run in-process.

    KARL_FBL_DIR=../shared/data/fbl_askul .venv/bin/python benchmarks/ingest_build.py [--repeat N]

Each repeat uses a new DuckDB file and a new dbt target folder. The first ingest of a process
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
from python_jobs.validation import Validator  # noqa: E402

TARGET_SECONDS = 15.0


def one_run(fbl_dir: Path | None, workdir: Path) -> dict[str, float]:
    db_path = workdir / "karl.duckdb"
    started = time.perf_counter()
    con = warehouse.connect(db_path)
    validator = Validator()
    result = ingest_fbl(con, fbl_dir, validator=validator)
    ingest_seconds = time.perf_counter() - started
    loaded = sum(outcome.rows_loaded for outcome in result.outcomes)
    quarantined = sum(len(outcome.quarantined) for outcome in result.outcomes)
    started = time.perf_counter()
    outcome = warehouse.run_dbt(["build"], db_path=db_path, target_path=workdir / "target", raise_on_failure=False)
    build_seconds = time.perf_counter() - started
    con.close()
    if not outcome.success:
        print("dbt build FAILED:\n  " + "\n  ".join(outcome.failures[:20]))
    return {
        "ingest": ingest_seconds,
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
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="karl_bench_") as folder:
            figures = one_run(args.dir, Path(folder))
        total = figures["ingest"] + figures["build"]
        verdict = "OK" if total < TARGET_SECONDS and figures["build_ok"] else "OVER TARGET" if figures["build_ok"] else "BUILD FAILED"
        print(
            f"run {index + 1}: ingest FBL {figures['ingest']:.2f} s (of which great-expectations import+context "
            f"{figures['gx_setup']:.2f} s; {figures['loaded']:.0f} judgements loaded, {figures['quarantined']:.0f} "
            f"quarantine rows) | dbt build {figures['build']:.2f} s | total {total:.2f} s vs target "
            f"{TARGET_SECONDS:.0f} s: {verdict} (load average {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
