"""Preflight: one tiny request finds a bad key, a wrong URL, an unknown model or an endpoint that
never finishes answering, with a message naming the setting to fix, never the key. Its speed is
asserted through what makes it fast - one request, no retries, a deadline for the whole request -
never in seconds, which a loaded machine stretches."""

from __future__ import annotations

import socket

import pytest
from llm_fixtures import fast_annotator

from python_jobs.annotation.openai.logprobs import LABEL_TOKEN_LOGPROB, NONE_NO_LOGPROBS
from python_jobs.annotation.openai.preflight import PreflightError, preflight
from python_jobs.testing.fake_llm_server import FakeLLMServer, Fault, ServerFault, hang, trickle


def test_preflight_passes_and_reports_format_and_logprobs() -> None:
    with FakeLLMServer() as server:
        result = preflight(fast_annotator(server.base_url))
        assert len(server.requests) == 1
    assert result.response_format == "json_schema" and result.logprobs
    assert result.confidence == LABEL_TOKEN_LOGPROB


def test_preflight_finds_the_working_format_on_a_llama_cpp_style_server() -> None:
    with FakeLLMServer(reject_json_schema=True, supports_logprobs=False) as server:
        result = preflight(fast_annotator(server.base_url))
    assert result.response_format == "json_object" and not result.logprobs
    assert result.confidence == NONE_NO_LOGPROBS


def test_a_bad_key_fails_at_the_first_request_naming_the_setting_not_the_key() -> None:
    with FakeLLMServer(api_key="sk-right") as server:
        with pytest.raises(PreflightError, match="OPENAI_API_KEY") as caught:
            preflight(fast_annotator(server.base_url, api_key="sk-wrong-secret"))
        assert len(server.requests) == 1  # no retry of a refused key
    assert "sk-wrong-secret" not in str(caught.value)


def test_an_unknown_model_fails_naming_the_model() -> None:
    with FakeLLMServer(known_models=("fake-llm",)) as server:
        with pytest.raises(PreflightError, match="'gpt-9'.*KARL_LLM_MODEL"):
            preflight(fast_annotator(server.base_url, model="gpt-9"))


def test_a_wrong_path_fails_saying_the_url_should_be_the_api_root() -> None:
    with FakeLLMServer() as server, pytest.raises(PreflightError, match="/v1"):
        preflight(fast_annotator(server.base_url.removesuffix("/v1") + "/nope"))


def test_an_unreachable_endpoint_fails_naming_the_url_setting() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PreflightError, match="cannot reach.*OPENAI_BASE_URL"):
        preflight(fast_annotator(f"http://127.0.0.1:{port}/v1"))


# Each endpoint below would hold the preflight for a minute or forever; the deadline (0.5 s here)
# ends it, and the message says what the server did. One request each: nothing is retried.
@pytest.mark.parametrize(("fault", "message"), [
    (hang(), "did not answer within 0.5 s"),
    (trickle(0.1), r"began answering \(HTTP 200\) but had not finished within 0.5 s"),
    (Fault("truncated_body"), "closed the connection in the middle of its answer"),
], ids=["never_answers", "trickle", "closes_mid_body"])
def test_a_faulty_endpoint_fails_the_preflight_by_its_deadline_saying_what_it_did(fault: Fault, message: str) -> None:
    with FakeLLMServer(server_fault=ServerFault(fault)) as server:
        with pytest.raises(PreflightError, match=message) as caught:
            preflight(fast_annotator(server.base_url), timeout_s=0.5)
        assert len(server.requests) == 1
    assert "\n" not in str(caught.value)
