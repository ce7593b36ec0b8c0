"""The openai annotator's behaviour beyond single faults: response_format negotiation, the call
cache, the cost budget, the retry budget, a heterogeneous panel, and secrets. Real HTTP on
127.0.0.1, the real openai client, real DuckDB files."""

from __future__ import annotations

import json
import logging

import pytest
from llm_fixtures import calls, fast_annotator, first_call_id, synthetic_pair

from python_jobs import warehouse
from python_jobs.annotation.base import BudgetExhausted, CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.pricing import ModelPrice, PriceTable
from python_jobs.testing.fake_llm_server import FakeLLMServer, Fault


@pytest.fixture()
def server():
    with FakeLLMServer() as running:
        yield running


@pytest.fixture()
def con(db_path):
    connection = warehouse.connect(db_path)
    yield connection
    connection.close()


PAIRS = [synthetic_pair(f"p{i}") for i in range(6)]


@pytest.mark.parametrize("style", ["llama.cpp", "llama-cpp-python"])
def test_falls_back_when_server_rejects_json_schema(con, style) -> None:
    with FakeLLMServer(reject_json_schema=True, reject_style=style) as server:
        annotator = fast_annotator(server.base_url, concurrency=1)
        annotator.annotate(PAIRS[:2], CallContext("fallback", 1, 3), DuckDBCallSink(con))
        rows = calls(con, "fallback")
        assert all(row["is_valid"] and row["retries"] == 0 for row in rows.values())
        formats = [r.body.get("response_format", {}).get("type") for r in server.requests]
        # One rejected json_schema request, then json_object (with the schema) for every call.
        assert formats == ["json_schema"] + ["json_object"] * 6
        assert "schema" in server.requests[-1].body["response_format"]
        assert {json.loads(r["request_params"])["response_format"] for r in rows.values()} == {"json_object"}
        # Configured to insist on json_schema: the 500s are server errors, retried, then invalid votes.
        strict = fast_annotator(server.base_url, concurrency=1, response_format="json_schema")
        strict.annotate(PAIRS[:1], CallContext("strict", 1, 3), DuckDBCallSink(con))
        assert {r["error_class"] for r in calls(con, "strict").values()} == {"server_error"}


def test_cache_reuses_each_attempt_never_one_answer_three_times(con, server) -> None:
    sink = DuckDBCallSink(con)
    # Make the three attempts of pair 0 answer differently, so reuse of the wrong attempt shows.
    for attempt, label in zip((1, 2, 3), (2, 5, 8)):
        server.script(first_call_id("run-a", 1, PAIRS[0], attempt), Fault.label(label))
    fast_annotator(server.base_url).annotate(PAIRS[:3], CallContext("run-a", 1, 3), sink)
    assert len(server.requests) == 9
    # Another run asks the identical questions: answered from the cache, attempt by attempt, free.
    fast_annotator(server.base_url).annotate(PAIRS[:3], CallContext("run-b", 4, 3), sink)
    assert len(server.requests) == 9
    first, second = calls(con, "run-a"), calls(con, "run-b")
    assert [second[(PAIRS[0].pair_key, a)]["fbl_label"] for a in (1, 2, 3)] == [2, 5, 8]
    for key, row in second.items():
        params = json.loads(row["request_params"])
        assert params["cache_hit"] and row["cost_usd"] == 0.0
        assert params["cached_call_id"] == first[key]["call_id"]
    assert len({row["cache_key"] for row in first.values()}) == 9
    # A change that changes the answer (temperature) misses the cache.
    fast_annotator(server.base_url, temperature=0.2).annotate(PAIRS[:1], CallContext("run-c", 1, 3), sink)
    assert len(server.requests) == 12


def test_budget_stops_cleanly_and_resume_sends_only_missing(con, server) -> None:
    prices = PriceTable({"fake-llm": ModelPrice(1000.0, 1000.0)})  # dear, so a few calls spend it
    sink = DuckDBCallSink(con)
    context = CallContext("budget", 1, 3)
    cheap_run = fast_annotator(server.base_url, prices=prices, concurrency=2)
    probe = synthetic_pair("probe")
    cheap_run.annotate([probe], CallContext("probe", 1, 1), sink)
    per_call = calls(con, "probe")[(probe.pair_key, 1)]["cost_usd"]
    assert per_call > 0
    max_cost = per_call * 5.5
    annotator = fast_annotator(server.base_url, prices=prices, concurrency=2, max_cost_usd=max_cost)
    with pytest.raises(BudgetExhausted) as stopped:
        annotator.annotate(PAIRS, context, sink)
    recorded = calls(con, "budget")
    assert 0 < len(recorded) < 18 and stopped.value.calls_missing > 0
    spent = sum(row["cost_usd"] for row in recorded.values())
    assert spent <= max_cost
    # It stopped only when the next call (at its pessimistic estimate) no longer fit.
    assert max_cost - spent < annotator.estimate_call_cost(PAIRS[0], 1)
    sent = {r.call_id for r in server.requests} - {first_call_id("probe", 1, probe)}
    assert sent == {row["call_id"] for row in recorded.values()}  # every paid call recorded
    before = len(server.requests)
    # Resume with room to finish: only the missing calls go out.
    fast_annotator(server.base_url, prices=prices, max_cost_usd=per_call * 100).annotate(PAIRS, context, sink)
    assert len(calls(con, "budget")) == 18
    assert len(server.requests) - before == 18 - len(recorded)


def test_retry_budget_caps_retries_across_the_round(con, server) -> None:
    for pair in PAIRS[:4]:
        server.script(first_call_id("retry-budget", 1, pair), *(Fault.http(500),) * 5)
    annotator = fast_annotator(server.base_url, max_retries=4, retry_budget=3, concurrency=1)
    annotator.annotate(PAIRS[:4], CallContext("retry-budget", 1, 3), DuckDBCallSink(con))
    rows = calls(con, "retry-budget")
    assert sum(row["retries"] for row in rows.values()) == 3
    assert all(not rows[(p.pair_key, 1)]["is_valid"] for p in PAIRS[:4])
    notes = {json.loads(rows[(p.pair_key, 1)]["request_params"]).get("note") for p in PAIRS[:4]}
    assert "retry budget exhausted" in notes


def test_heterogeneous_panel_uses_one_model_per_attempt(con, server) -> None:
    annotator = fast_annotator(server.base_url, attempt_models=("fake-llm", "panel-b", "panel-c"))
    annotator.annotate(PAIRS[:2], CallContext("panel", 1, 3), DuckDBCallSink(con))
    rows = calls(con, "panel")
    assert [rows[(PAIRS[0].pair_key, a)]["model"] for a in (1, 2, 3)] == ["fake-llm", "panel-b", "panel-c"]
    assert sorted(r.body["model"] for r in server.requests) == sorted(["fake-llm", "panel-b", "panel-c"] * 2)


def test_api_key_reaches_the_server_only(db_path, server, caplog, capsys) -> None:
    secret = "sk-karl-test-SENTINEL-5f1d0c9a7e"
    env = {"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": server.base_url, "KARL_LLM_MODEL": "fake-llm",
           "KARL_LLM_TIMEOUT_S": "0.5"}
    caplog.set_level(logging.DEBUG)
    annotator = OpenAIAnnotator.from_env({"max_retries": 0, "backoff_base_s": 0.01}, env=env)
    assert secret not in repr(annotator) and secret not in repr(annotator.config)
    server.script(first_call_id("secret", 1, PAIRS[0]), Fault("echo_auth"))  # a 401 quoting the key
    con = warehouse.connect(db_path)
    annotator.annotate(PAIRS[:2], CallContext("secret", 1, 3), DuckDBCallSink(con))
    rows = calls(con, "secret")
    assert rows[(PAIRS[0].pair_key, 1)]["error_class"] == "http_401"
    assert "[redacted]" in rows[(PAIRS[0].pair_key, 1)]["raw_response"]
    text = con.execute("select string_agg(cast(columns(*) as varchar), '|') from raw.llm_calls").fetchall()
    assert secret not in repr(text)
    con.execute("checkpoint")
    con.close()
    assert {r.authorization for r in server.requests} == {f"Bearer {secret}"}  # it was used...
    stored = db_path.read_bytes() + (db_path.with_suffix(".duckdb.wal").read_bytes()
                                     if db_path.with_suffix(".duckdb.wal").exists() else b"")
    assert secret.encode() not in stored  # ...and never stored
    assert secret not in caplog.text
    captured = capsys.readouterr()
    assert secret not in captured.out + captured.err


def test_from_env_requires_a_key_for_remote_endpoints() -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIAnnotator.from_env(env={"OPENAI_BASE_URL": "https://api.example.com/v1"})
    local = OpenAIAnnotator.from_env(env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert local.config.base_url == "http://127.0.0.1:9/v1"
    panel = OpenAIAnnotator.from_env(env={"OPENAI_API_KEY": "x", "KARL_LLM_ATTEMPT_MODELS": "gpt-4o-mini, gpt-4o",
                                          "KARL_LLM_RESEND_IN_FLIGHT": "0"})
    assert panel.config.models() == ("gpt-4o-mini", "gpt-4o") and panel.config.model_for(3) == "gpt-4o-mini"
    assert panel.config.resend_in_flight is False
    with pytest.raises(ValueError, match="no price"):
        OpenAIAnnotator.from_env({"max_cost_usd": 1.0, "model": "unpriced-model"}, env={"OPENAI_API_KEY": "x"})
