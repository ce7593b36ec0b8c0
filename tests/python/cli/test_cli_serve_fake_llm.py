"""`karl serve-fake-llm` plays the faulty servers the fault tests use, for a user to try karl
against: the real openai client meets a server that closes mid-body, and an unknown fault is a
usage error."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import openai
import pytest
from hostile_fixtures import karl, one_line

from python_jobs.cli import app  # noqa: F401 - the commands register on import


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, at_most_s: float = 60.0) -> None:
    deadline = time.monotonic() + at_most_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listened on {port}")


def test_a_server_that_closes_mid_body_fails_the_call_it_answers() -> None:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "python_jobs.cli", "serve-fake-llm", "--port", str(port),
                                "--fault", "cut", "--dialect", "llama.cpp"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(port, process)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=10)
        with pytest.raises(openai.APIError):
            client.chat.completions.create(model="fake-llm", messages=[{"role": "user", "content": "pair"}])
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.parametrize("flag", [["--fault", "explode"], ["--dialect", "vllm2"]])
def test_an_unknown_fault_or_dialect_is_a_usage_error(flag: list[str]) -> None:
    result = karl("serve-fake-llm", "--port", str(_free_port()), *flag, expect=2)
    assert "one of" in one_line(result.output)
