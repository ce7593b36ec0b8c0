"""kill -9 in the middle of a round of 120 calls, then resume - in both in-flight policies.

Checked against the server's own request log, keyed by the X-Karl-Call-Id header each call
carries. Both policies guarantee:
- every call of the round ends up recorded exactly once (call_id is the primary key, and the
  resumed round asks the sink for the missing attempts only);
- no call recorded before the kill is sent again.
They differ in the calls in flight at the kill (received by the server, record not committed;
a worker sends its next call while its last one commits, and waits for that commit before
handing over another: so at most 2 x `concurrency` of them):
- resend_in_flight=True (default, at-least-once): they are sent again on resume, so the server
  sees exactly those twice;
- resend_in_flight=False (at-most-once): each request was journalled in raw.llm_call_intents
  before it was sent; on resume they are recorded as invalid `lost_in_flight` votes without a
  request, so the server sees no call twice (and those pairs get no label this round).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_fixtures import synthetic_pair

from python_jobs import warehouse
from python_jobs.annotation.base import call_id_for
from python_jobs.testing.fake_llm_server import FakeLLMServer

N_PAIRS = 40  # x 3 attempts = 120 calls
CONCURRENCY = 6
RUN_ID = "kill9"
WORKER = Path(__file__).resolve().parents[1] / "llm_kill_worker.py"


def _worker(db_path: Path, base_url: str, resend: bool) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), str(db_path), base_url, str(N_PAIRS),
                             str(CONCURRENCY), RUN_ID, "1" if resend else "0"])


def _recorded(db_path: Path) -> dict[str, str | None]:
    con = warehouse.connect(db_path)
    try:
        rows = con.execute("select call_id, error_class from raw.llm_calls where run_id = ?", [RUN_ID]).fetchall()
    finally:
        con.close()
    assert len(rows) == len({r[0] for r in rows})
    return dict(rows)


@pytest.mark.parametrize("resend", [True, False], ids=["at_least_once", "at_most_once"])
def test_kill9_mid_round_then_resume_sends_only_missing(tmp_path: Path, resend: bool) -> None:
    db_path = tmp_path / "karl.duckdb"
    warehouse.connect(db_path).close()
    expected = {call_id_for(RUN_ID, 1, synthetic_pair(f"kill{i:03d}").pair_key, a)
                for i in range(N_PAIRS) for a in (1, 2, 3)}
    with FakeLLMServer(latency_s=0.05) as server:
        process = _worker(db_path, server.base_url, resend)
        deadline = time.time() + 60
        while len(server.requests) < 50 and time.time() < deadline and process.poll() is None:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        seen_before_kill = set(server.request_counts())
        recorded_before = set(_recorded(db_path))
        assert 0 < len(recorded_before) < 120, "the kill must land mid-round"
        in_flight = seen_before_kill - recorded_before
        assert len(in_flight) <= 2 * CONCURRENCY

        resumed = _worker(db_path, server.base_url, resend)
        assert resumed.wait(timeout=120) == 0
        counts = server.request_counts()

    recorded_after = _recorded(db_path)
    assert set(recorded_after) == expected  # every call recorded, exactly once
    sent_twice = {call_id for call_id, n in counts.items() if n > 1}
    assert not sent_twice & recorded_before  # nothing recorded was paid again
    lost = {call_id for call_id, error in recorded_after.items() if error == "lost_in_flight"}
    if resend:
        assert sent_twice == in_flight and not lost
        assert set(counts) == expected and sum(counts.values()) == 120 + len(in_flight)
    else:
        assert not sent_twice and in_flight <= lost and len(lost) <= 2 * CONCURRENCY
        assert set(counts) == expected - (lost - seen_before_kill) and sum(counts.values()) == len(set(counts))
    print(f"\n[{'at-least-once' if resend else 'at-most-once'}] kill -9 after {len(recorded_before)} recorded "
          f"calls, {len(in_flight)} in flight (bound {2 * CONCURRENCY}); server requests {sum(counts.values())} "
          f"for 120 calls; lost_in_flight votes {len(lost)}")
