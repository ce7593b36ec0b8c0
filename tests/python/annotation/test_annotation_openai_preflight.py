"""Preflight: one tiny request finds a bad key, a wrong URL or an unknown model in seconds, with
a message naming the setting to fix, never the key."""

from __future__ import annotations

import socket
import time

import pytest
from llm_fixtures import fast_annotator

from python_jobs.annotation.openai.preflight import PreflightError, preflight
from python_jobs.testing.fake_llm_server import FakeLLMServer


def test_preflight_passes_and_reports_format_and_logprobs() -> None:
    with FakeLLMServer() as server:
        result = preflight(fast_annotator(server.base_url))
    assert result.response_format == "json_schema" and result.logprobs
    assert result.seconds < 2


def test_preflight_finds_the_working_format_on_a_llama_cpp_style_server() -> None:
    with FakeLLMServer(reject_json_schema=True, supports_logprobs=False) as server:
        result = preflight(fast_annotator(server.base_url))
    assert result.response_format == "json_object" and not result.logprobs


def test_a_bad_key_fails_in_seconds_naming_the_setting_not_the_key() -> None:
    with FakeLLMServer(api_key="sk-right") as server:
        started = time.perf_counter()
        with pytest.raises(PreflightError, match="OPENAI_API_KEY") as caught:
            preflight(fast_annotator(server.base_url, api_key="sk-wrong-secret"))
    assert time.perf_counter() - started < 3
    assert "sk-wrong-secret" not in str(caught.value)


def test_an_unknown_model_fails_naming_the_model() -> None:
    with FakeLLMServer(known_models=("fake-llm",)) as server:
        with pytest.raises(PreflightError, match="'gpt-9'.*KARL_LLM_MODEL"):
            preflight(fast_annotator(server.base_url, model="gpt-9"))


def test_a_wrong_path_fails_saying_the_url_should_be_the_api_root() -> None:
    with FakeLLMServer() as server, pytest.raises(PreflightError, match="/v1"):
        preflight(fast_annotator(server.base_url.removesuffix("/v1") + "/nope"))


def test_an_unreachable_endpoint_fails_in_seconds() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(PreflightError, match="cannot reach.*OPENAI_BASE_URL"):
        preflight(fast_annotator(f"http://127.0.0.1:{port}/v1"))
    assert time.perf_counter() - started < 3
