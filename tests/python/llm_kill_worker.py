"""Subprocess of the kill -9 test: annotate a round of synthetic pairs into a DuckDB file.

usage: python llm_kill_worker.py DB_PATH BASE_URL N_PAIRS CONCURRENCY RUN_ID RESEND_IN_FLIGHT(0|1)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llm_fixtures import fast_annotator, synthetic_pair  # noqa: E402

from python_jobs import warehouse  # noqa: E402
from python_jobs.annotation.base import CallContext  # noqa: E402
from python_jobs.annotation.call_log import DuckDBCallSink  # noqa: E402


def main(db_path: str, base_url: str, n_pairs: int, concurrency: int, run_id: str, resend: bool) -> None:
    pairs = [synthetic_pair(f"kill{i:03d}") for i in range(n_pairs)]
    con = warehouse.connect(db_path)
    annotator = fast_annotator(base_url, concurrency=concurrency, timeout_s=10.0, resend_in_flight=resend)
    annotator.annotate(pairs, CallContext(run_id, 1, 3), DuckDBCallSink(con))
    con.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6] == "1")
