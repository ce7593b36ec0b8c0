"""Batch API mode against the local server's /v1/files and /v1/batches: a round trip at the batch
price, a kill between submit and download (resumes the same batch, never submits twice), an
expired batch with partial results, a failed batch, a line with an HTTP error."""

from __future__ import annotations

import json

import pytest
from llm_fixtures import calls, fast_annotator, first_call_id, synthetic_pair

from python_jobs import warehouse
from python_jobs.annotation.base import BatchFailed, BatchPending, CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.openai.batch import BATCH_PRICE_FACTOR, BatchAnnotator
from python_jobs.annotation.pricing import ModelPrice, PriceTable
from python_jobs.testing.fake_llm_server import BatchScript, FakeLLMServer, Fault

PRICES = PriceTable({"fake-llm": ModelPrice(1.0, 2.0)})
PAIRS = [synthetic_pair(f"batch{i}") for i in range(4)]


def batch_annotator(server: FakeLLMServer, con, **kwargs) -> BatchAnnotator:
    live = fast_annotator(server.base_url, prices=PRICES)
    return BatchAnnotator(live, con, poll_interval_s=0.02, **kwargs)


def test_a_batch_round_trip_records_every_call_once_at_the_batch_price(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        annotator = batch_annotator(server, con)
        annotator.annotate(PAIRS, CallContext("b1", 1, 3), DuckDBCallSink(con))
        assert server.batch_count() == 1 and annotator.last_stats.submitted_calls == 12
        assert sorted(server.request_counts().values()) == [1] * 12  # each call asked once
        uploaded = [f for f in server.files.values() if f["meta"]["purpose"] == "batch"]
    rows = calls(con, "b1")
    assert len(rows) == 12 and all(r["is_valid"] and r["label_prob"] is not None for r in rows.values())
    for row in rows.values():
        full = PRICES.cost("fake-llm", row["tokens_in"], row["tokens_out"])
        assert row["cost_usd"] == pytest.approx(full * BATCH_PRICE_FACTOR)
        assert json.loads(row["request_params"])["batch"] is True
    line = json.loads(uploaded[0]["content"].decode().splitlines()[0])
    assert line["url"] == "/v1/chat/completions" and line["custom_id"] in {first_call_id("b1", 1, p) for p in PAIRS}
    assert con.execute("select status, provider_status from raw.llm_batches").fetchall() == [("recorded", "completed")]


def test_a_kill_after_submit_resumes_by_polling_the_same_batch(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer(batch_delay_s=0.3) as server:
        with pytest.raises(BatchPending):
            batch_annotator(server, con, max_wait_s=0.0).annotate(PAIRS, CallContext("b2", 1, 3), DuckDBCallSink(con))
        assert calls(con, "b2") == {}
        resumed = batch_annotator(server, con)  # a new process: only the journal remembers
        resumed.annotate(PAIRS, CallContext("b2", 1, 3), DuckDBCallSink(con))
        assert server.batch_count() == 1 and resumed.last_stats.adopted and resumed.last_stats.submitted_calls == 0
    assert len(calls(con, "b2")) == 12


class _KilledAfterCreate(BatchAnnotator):
    """Dies right after the provider created the batch, before its id reaches the journal."""

    def _set(self, batch_key, **values):
        if values.get("status") == "submitted" and not getattr(self, "_dead", False):
            self._dead = True
            raise SystemExit("killed")
        super()._set(batch_key, **values)


def test_a_kill_before_the_batch_id_is_journalled_adopts_the_batch_by_its_metadata(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        live = fast_annotator(server.base_url, prices=PRICES)
        with pytest.raises(SystemExit):
            _KilledAfterCreate(live, con, poll_interval_s=0.02).annotate(PAIRS, CallContext("b3", 1, 3), DuckDBCallSink(con))
        assert con.execute("select batch_id, status from raw.llm_batches").fetchall() == [(None, "submitting")]
        batch_annotator(server, con).annotate(PAIRS, CallContext("b3", 1, 3), DuckDBCallSink(con))
        assert server.batch_count() == 1
    assert len(calls(con, "b3")) == 12


def test_an_expired_batch_records_its_answers_and_the_rest_go_into_one_new_batch(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer(batch_scripts=[BatchScript("expired", partial_lines=5)]) as server:
        batch_annotator(server, con).annotate(PAIRS, CallContext("b4", 1, 3), DuckDBCallSink(con))
        assert len(calls(con, "b4")) == 5
        second = batch_annotator(server, con)
        second.annotate(PAIRS, CallContext("b4", 1, 3), DuckDBCallSink(con))
        assert server.batch_count() == 2 and second.last_stats.submitted_calls == 7
        assert sorted(server.request_counts().values()) == [1] * 12
    assert len(calls(con, "b4")) == 12


def test_a_failed_batch_records_nothing_and_says_why(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer(batch_scripts=[BatchScript("failed")]) as server:
        with pytest.raises(BatchFailed, match="scripted validation failure"):
            batch_annotator(server, con).annotate(PAIRS, CallContext("b5", 1, 3), DuckDBCallSink(con))
    assert calls(con, "b5") == {}
    assert con.execute("select status from raw.llm_batches").fetchall() == [("failed",)]


def test_a_line_answered_with_an_http_error_is_an_invalid_vote(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        server.script(first_call_id("b6", 1, PAIRS[0]), Fault.http(500))
        batch_annotator(server, con).annotate(PAIRS[:1], CallContext("b6", 1, 3), DuckDBCallSink(con))
    row = calls(con, "b6")[(PAIRS[0].pair_key, 1)]
    assert not row["is_valid"] and row["error_class"] == "http_500"


def test_a_second_run_asking_the_same_calls_is_answered_by_the_cache_without_a_batch(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        batch_annotator(server, con).annotate(PAIRS, CallContext("b7", 1, 3), DuckDBCallSink(con))
        again = batch_annotator(server, con)
        again.annotate(PAIRS, CallContext("b7-again", 1, 3), DuckDBCallSink(con))
        assert server.batch_count() == 1 and again.last_stats.cache_hits == 12


@pytest.mark.slow
def test_karl_run_batch_annotates_a_round_through_one_batch(tmp_path, fbl_warehouse_template, monkeypatch) -> None:
    import shutil

    from typer.testing import CliRunner

    from python_jobs.cli import app

    db_path = tmp_path / "karl.duckdb"
    shutil.copyfile(fbl_warehouse_template, db_path)
    monkeypatch.setenv("KARL_DUCKDB_PATH", str(db_path))
    monkeypatch.setenv("KARL_DBT_TARGET_PATH", str(tmp_path / "target"))
    with FakeLLMServer(noise=0.2) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("KARL_LLM_MODEL", "fake-llm")
        result = CliRunner().invoke(app, ["run", "--workers", "1", "--annotator", "openai", "--batch", "--rounds", "1", "--budget", "5",
                                          "--members", "3", "--tuning-trials", "2", "--run-id", "batch-run",
                                          "--db", str(db_path)])
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
        assert server.batch_count() == 1
    con = warehouse.connect(db_path)
    rows = con.execute("select count(*), bool_and(json_extract(request_params, '$.batch')::boolean) "
                       "from raw.llm_calls where run_id = 'batch-run'").fetchone()
    assert rows == (15, True)
    assert con.execute("select count(*) from marts.fct_consensus_labels where run_id = 'batch-run'").fetchone()[0] == 5
