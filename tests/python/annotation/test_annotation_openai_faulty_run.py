"""`karl run --annotator openai` end to end against endpoints that never finish answering.

Real FBL data (the session's built warehouse, copied), the CLI in-process, the real openai client
over HTTP on 127.0.0.1. The server plays one fault for a fixed share of the calls (by call id,
every request of theirs) - never answering, trickling a byte every 0.2 s, or closing mid-body -
with KARL_LLM_TIMEOUT_S=1. The round must go on: each faulty call recorded as the failure it
was, retried per the policy, never a label; the others answered once. `karl run --resume` then
sends no call again. A server faulty for every request (the preflight's included) stops the run
before anything is spent, with one line saying what the server did. No assertion is on seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from hostile_fixtures import karl, one_line

from python_jobs.testing.fake_llm_server import FakeLLMServer, Fault, ServerFault, hang, trickle

pytestmark = pytest.mark.slow

SHARE = 0.4
MAX_RETRIES = 4  # LLMSettings' default: the policy a run uses
FAULTS = [
    ("never_answers", hang(), "timeout", "did not answer within"),
    ("trickle", trickle(0.2), "body_timeout", "began answering"),
    ("closes_mid_body", Fault("truncated_body"), "body_cut", "closed the connection in the middle of its answer"),
]
IDS = [name for name, *_ in FAULTS]


@pytest.fixture()
def db(fbl_warehouse_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, path)
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(path))
    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs none
    monkeypatch.setenv("KARL_LLM_MODEL", "fake-llm")
    monkeypatch.setenv("KARL_LLM_TIMEOUT_S", "1")
    return path


def _calls(db: Path, run_id: str) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cursor = con.execute("select * from raw.llm_calls where run_id = ?", [run_id])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
        accepted_with_an_invalid_vote = con.execute("""
            select count(*) from marts.fct_consensus_labels as c
            where c.run_id = ? and c.is_accepted and exists (
                select 1 from raw.llm_calls as l
                where l.run_id = c.run_id and l.round_index = c.round_index and l.pair_key = c.pair_key and not l.is_valid)
        """, [run_id]).fetchone()[0]
    finally:
        con.close()
    assert accepted_with_an_invalid_vote == 0
    return rows


@pytest.mark.parametrize(("name", "fault", "kind", "message"), FAULTS, ids=IDS)
def test_the_round_goes_on_past_faulty_calls_and_a_resume_sends_none_again(
        db: Path, monkeypatch: pytest.MonkeyPatch, name: str, fault: Fault, kind: str, message: str) -> None:
    run_id = f"faulty-{name}"
    server_fault = ServerFault(fault, share=SHARE)
    with FakeLLMServer(server_fault=server_fault) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        karl("run", "--annotator", "openai", "--rounds", "1", "--budget", "6", "--strategy", "margin", "--workers", "1",
             "--members", "3", "--tuning-trials", "2", "--run-id", run_id, "--db", db, expect=0)
        counts = server.request_counts()
        sent = len(server.requests)
        karl("run", "--resume", run_id, "--db", db, expect=0)
        resent = [log.call_id for log in server.requests[sent:] if log.call_id]
    assert resent == []  # the resume's preflight only: no call paid for twice

    rows = _calls(db, run_id)
    faulty = [row for row in rows if server_fault.applies(row["call_id"], 1)]
    healthy = [row for row in rows if not server_fault.applies(row["call_id"], 1)]
    assert faulty and healthy
    for row in healthy:
        assert row["is_valid"] and counts[row["call_id"]] == 1
    for row in faulty:
        params = json.loads(row["request_params"])
        assert not row["is_valid"] and row["fbl_label"] is None and row["relation_label"] is None
        assert row["error_class"] == kind and row["error_retryable"] is True
        assert counts[row["call_id"]] == params["http_requests"] == row["retries"] + 1
        assert params.get("request_errors", []) == [kind] * row["retries"]
        assert row["retries"] <= MAX_RETRIES
        assert params["note"] == ("retries exhausted" if row["retries"] == MAX_RETRIES else "retry budget exhausted")
    assert sum(row["retries"] for row in faulty) <= max(10, len(rows) // 5)  # the round's retry budget


@pytest.mark.parametrize(("name", "fault", "kind", "message"), FAULTS, ids=IDS)
def test_an_endpoint_faulty_for_every_request_stops_the_run_with_one_line(
        db: Path, monkeypatch: pytest.MonkeyPatch, name: str, fault: Fault, kind: str, message: str) -> None:
    with FakeLLMServer(server_fault=ServerFault(fault)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        result = karl("run", "--annotator", "openai", "--rounds", "1", "--budget", "6", "--run-id", f"down-{name}",
                      "--db", db)
        calls_sent = [log for log in server.requests if log.call_id]
    assert result.exit_code != 0
    assert message in one_line(result.output)
    assert calls_sent == []  # stopped by the preflight, before any call
