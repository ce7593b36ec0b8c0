"""Logprob confidence and x-should-retry, against the local server through the real client."""

from __future__ import annotations

import json
import math

from llm_fixtures import calls, fast_annotator, first_call_id, synthetic_pair

from python_jobs import warehouse
from python_jobs.annotation import prompt
from python_jobs.annotation.base import CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.openai.logprobs import label_probability
from python_jobs.testing.fake_llm_server import FakeLLMServer, Fault
from python_jobs.testing.fake_llm_server import label_probability as server_probability


def test_label_probability_is_the_probability_of_the_label_digit_token() -> None:
    choice = {"logprobs": {"content": [
        {"token": '{"label": ', "logprob": 0.0}, {"token": "3", "logprob": math.log(0.8)},
        {"token": ', "reason": "x"}', "logprob": -0.01}]}}
    assert label_probability(choice, 3) == 0.8
    assert label_probability(choice, 4) is None  # the text says 3
    assert label_probability({"logprobs": None}, 3) is None
    merged = {"logprobs": {"content": [{"token": '{"label": 3,', "logprob": -0.1}]}}
    assert label_probability(merged, 3) is None  # a token wider than the digit: no confidence


def test_each_vote_records_the_label_probability_the_server_gave(tmp_path) -> None:
    pairs = [synthetic_pair(f"conf{i}") for i in range(3)]
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        fast_annotator(server.base_url).annotate(pairs, CallContext("conf", 1, 3), DuckDBCallSink(con))
        asked = [r.body for r in server.requests]
    assert all(body.get("logprobs") is True for body in asked)
    rows = calls(con, "conf")
    for pair in pairs:
        expected = server_probability({"messages": prompt.build_messages(pair)})
        assert [round(rows[(pair.pair_key, k)]["label_prob"], 4) for k in (1, 2, 3)] == [expected] * 3


def test_a_server_without_logprobs_leaves_confidence_null(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer(supports_logprobs=False) as server:
        fast_annotator(server.base_url).annotate([synthetic_pair("nolp")], CallContext("nolp", 1, 3), DuckDBCallSink(con))
    assert all(row["label_prob"] is None and row["is_valid"] for row in calls(con, "nolp").values())


def test_x_should_retry_overrules_the_status_code(tmp_path) -> None:
    retry_400, stop_503 = synthetic_pair("retry400"), synthetic_pair("stop503")
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        server.script(first_call_id("xsr", 1, retry_400), Fault.http(400, should_retry=True))
        server.script(first_call_id("xsr", 1, stop_503), Fault.http(503, should_retry=False))
        fast_annotator(server.base_url).annotate([retry_400, stop_503], CallContext("xsr", 1, 3), DuckDBCallSink(con))
        counts = server.request_counts()
    rows = calls(con, "xsr")
    assert counts[first_call_id("xsr", 1, retry_400)] == 2 and rows[(retry_400.pair_key, 1)]["is_valid"]
    assert rows[(retry_400.pair_key, 1)]["retries"] == 1
    assert counts[first_call_id("xsr", 1, stop_503)] == 1
    stopped = rows[(stop_503.pair_key, 1)]
    assert not stopped["is_valid"] and stopped["error_class"] == "http_503"
    assert json.loads(stopped["request_params"])["note"] == "x-should-retry: false"


def test_the_review_queue_can_put_the_least_confident_votes_first() -> None:
    import duckdb

    from python_jobs.reporting.export import load_queue

    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("""
        create table marts.fct_review_queue as select * from (values
            ('a~b', 'a', 'b', 'A', 'B', 'x', 'other', 'disagreement', 'r', 0, 0.9, 'c1', 0.95, false),
            ('c~d', 'c', 'd', 'C', 'D', 'x', 'other', 'disagreement', 'r', 0, 0.1, 'c2', 0.41, false),
            ('e~f', 'e', 'f', 'E', 'F', 'x', 'other', 'invalid_vote', 'r', 0, 0.5, 'c3', null, false)
        ) as t(pair_key, item_a_id, item_b_id, item_a_title, item_b_title, votes, suggested_relation_label,
               review_reason, run_id, round_index, uncertainty_score, call_ids, label_confidence, is_reviewed)
    """)
    assert [p.pair_key for p in load_queue(con)] == ["a~b", "e~f", "c~d"]
    assert [p.pair_key for p in load_queue(con, sort="confidence")] == ["c~d", "a~b", "e~f"]
