"""Real servers' logprobs dialects, through the real openai client over HTTP and the DuckDB sink.

A llama.cpp server (llama-cpp-python 0.3.x) returns token logprobs only when the request names
`top_logprobs` too, and under grammar-constrained decoding (a response_format) it reports the
unconstrained model's logprobs: the forced `{` far below 0, and a label logprob that is not the
probability of the constrained answer. The fake server plays that dialect; karl must ask in a way
every server answers, and record no confidence rather than a misleading one, saying why.
"""

from __future__ import annotations

import math

import openai
from llm_fixtures import calls, fast_annotator, synthetic_pair

from python_jobs import warehouse
from python_jobs.annotation import prompt
from python_jobs.annotation.base import CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.openai.logprobs import (
    LABEL_TOKEN_LOGPROB,
    NONE_UNCONSTRAINED,
    label_confidence,
)
from python_jobs.annotation.openai.preflight import preflight
from python_jobs.testing.fake_llm_server import FakeLLMServer
from python_jobs.testing.fake_llm_server import label_probability as server_probability


def _llama_cpp(**overrides) -> FakeLLMServer:  # noqa: ANN003
    settings = {"dialect": "llama.cpp", "reject_json_schema": True, "reject_style": "llama-cpp-python", **overrides}
    return FakeLLMServer(**settings)


def test_the_llama_cpp_dialect_gives_logprobs_only_when_top_logprobs_is_named() -> None:
    """The emulation itself: `logprobs: true` alone (what karl used to send) gets none."""
    body = {"model": "fake-llm", "messages": [{"role": "user", "content": "x"}], "logprobs": True}
    with _llama_cpp() as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0)
        alone = client.chat.completions.create(**body)
        named = client.chat.completions.create(**body, top_logprobs=0)
    assert alone.choices[0].logprobs is None
    assert named.choices[0].logprobs is not None and named.choices[0].logprobs.content


def test_every_request_names_top_logprobs_0_with_logprobs(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with FakeLLMServer() as server:
        fast_annotator(server.base_url).annotate([synthetic_pair("ask")], CallContext("ask", 1, 3), DuckDBCallSink(con))
        bodies = [r.body for r in server.requests]
    assert bodies and all(b["logprobs"] is True and b["top_logprobs"] == 0 for b in bodies)
    assert {row["confidence_kind"] for row in calls(con, "ask").values()} == {LABEL_TOKEN_LOGPROB}


def test_llama_cpp_under_a_grammar_records_no_confidence_and_says_why(tmp_path) -> None:
    pairs = [synthetic_pair(f"llama{i}") for i in range(2)]
    con = warehouse.connect(tmp_path / "w.duckdb")
    with _llama_cpp() as server:
        annotator = fast_annotator(server.base_url)
        found = preflight(annotator)
        annotator.annotate(pairs, CallContext("llama", 1, 3), DuckDBCallSink(con))
        constrained = [r.body for r in server.requests if (r.body.get("response_format") or {}).get("type") == "json_object"]
    assert found.response_format == "json_object" and found.logprobs
    assert found.confidence == NONE_UNCONSTRAINED
    assert constrained and all(b["top_logprobs"] == 0 for b in constrained)
    rows = calls(con, "llama").values()
    assert len(rows) == 6 and all(row["is_valid"] for row in rows)
    assert {row["confidence_kind"] for row in rows} == {NONE_UNCONSTRAINED}
    assert all(row["label_prob"] is None for row in rows)


def test_llama_cpp_without_a_grammar_gives_the_label_probability(tmp_path) -> None:
    """Unconstrained decoding: the logprobs are those of the sampled answer, so they are kept."""
    pair = synthetic_pair("free")
    con = warehouse.connect(tmp_path / "w.duckdb")
    with _llama_cpp() as server:
        annotator = fast_annotator(server.base_url, response_format="none")
        found = preflight(annotator)
        annotator.annotate([pair], CallContext("free", 1, 3), DuckDBCallSink(con))
    assert found.confidence == LABEL_TOKEN_LOGPROB
    expected = server_probability({"messages": prompt.build_messages(pair)})
    rows = calls(con, "free").values()
    assert {row["confidence_kind"] for row in rows} == {LABEL_TOKEN_LOGPROB}
    assert [round(row["label_prob"], 4) for row in rows] == [expected] * 3


def test_forced_structure_far_from_certain_means_no_confidence_under_a_grammar_only() -> None:
    choice = {"logprobs": {"content": [
        {"token": "{", "logprob": -10.5}, {"token": '"label": ', "logprob": -0.7},
        {"token": "3", "logprob": math.log(0.04)}, {"token": ', "reason": "x"}', "logprob": -0.4}]}}
    assert label_confidence(choice, 3, constrained=True) == (None, NONE_UNCONSTRAINED)
    assert label_confidence(choice, 3, constrained=False) == (0.04, LABEL_TOKEN_LOGPROB)
    certain = {"logprobs": {"content": [{"token": '{"label": ', "logprob": -0.001},
                                        {"token": "3", "logprob": math.log(0.8)}]}}
    assert label_confidence(certain, 3, constrained=True) == (0.8, LABEL_TOKEN_LOGPROB)
