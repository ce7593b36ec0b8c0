"""One cheap request before anything is spent: is the key accepted, the URL an OpenAI-compatible
endpoint, the model known, and which response format and logprobs does the server take?

The request is the real one in shape (system + user message, the answer schema as
`response_format`, `logprobs`), cut to `max_tokens=1`, so a server that accepts it accepts the
round's calls; with a short timeout and no retries (a 429 or 5xx once is retried after one second)
it fails in seconds. Each failure says what is wrong and which setting to change; the API key is
never in a message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import openai

from python_jobs.annotation import prompt
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.openai.protocol import (
    next_format,
    rejects_response_format,
    response_format_for,
    sanitize_url,
)
from python_jobs.errors import KarlError

try:
    import httpx2 as _httpx
except ImportError:  # pragma: no cover
    import httpx as _httpx  # type: ignore[no-redef]

PREFLIGHT_TIMEOUT_S = 10.0


class PreflightError(KarlError):
    """The endpoint cannot serve the configured annotator; the message says why and what to set."""


@dataclass(frozen=True)
class PreflightResult:
    endpoint: str
    models: tuple[str, ...]
    response_format: str  # the first format the server accepted (json_schema | json_object | none)
    logprobs: bool  # the server returned token logprobs
    seconds: float


def _message(error: openai.APIStatusError) -> str:
    try:
        body = error.response.json()
        return str((body.get("error") or {}).get("message") or body)[:300]
    except Exception:  # noqa: BLE001 - any body: show a bit of its text
        return (error.response.text or "")[:300]


def preflight(annotator: OpenAIAnnotator, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> PreflightResult:
    """Check every model of the annotator's panel with one tiny request each. Raises PreflightError."""
    config = annotator.config
    endpoint = sanitize_url(config.base_url) or "https://api.openai.com/v1"
    started = time.perf_counter()
    client = openai.OpenAI(api_key=annotator._api_key, base_url=config.base_url, max_retries=0, timeout=timeout_s)
    mode = "json_schema" if config.response_format == "auto" else config.response_format
    logprobs_ok = False
    messages = [{"role": "system", "content": prompt.system_text()},
                {"role": "user", "content": "Preflight check: answer with any valid label."}]
    try:
        for model in config.models():
            ask_logprobs = config.logprobs
            attempts = 0
            while True:
                attempts += 1
                body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": 1}
                if response_format_for(mode) is not None:
                    body["response_format"] = response_format_for(mode)
                if ask_logprobs:
                    body["logprobs"] = True
                try:
                    raw = client.post("/chat/completions", cast_to=_httpx.Response, body=body)
                except openai.APITimeoutError as error:
                    raise PreflightError(f"{endpoint} did not answer within {timeout_s:g} s: is the server up? "
                                         "(OPENAI_BASE_URL, KARL_LLM_TIMEOUT_S)") from error
                except openai.APIConnectionError as error:
                    cause = type(error.__cause__ or error).__name__
                    raise PreflightError(f"cannot reach {endpoint} ({cause}): check OPENAI_BASE_URL") from error
                except openai.APIStatusError as error:
                    status, text = error.status_code, _message(error).replace(annotator._api_key, "[redacted]")
                    if status in (401, 403):
                        raise PreflightError(f"{endpoint} refused the API key (HTTP {status}: {text}): check OPENAI_API_KEY") from error
                    lowered = text.lower()
                    if status == 404 and ("model" in lowered):
                        raise PreflightError(f"model {model!r} is not served at {endpoint} (HTTP 404: {text}): "
                                             "check KARL_LLM_MODEL / KARL_LLM_ATTEMPT_MODELS") from error
                    if status in (404, 405):
                        raise PreflightError(f"{endpoint}/chat/completions does not exist (HTTP {status}): "
                                             "OPENAI_BASE_URL should be the API root, usually ending in /v1") from error
                    if ask_logprobs and status in (400, 422) and "logprobs" in lowered:
                        ask_logprobs = False
                        continue
                    if config.response_format == "auto" and rejects_response_format(status, text) and next_format(mode):
                        mode = next_format(mode)  # type: ignore[assignment]
                        continue
                    if (status == 429 or status >= 500) and attempts < 2:
                        time.sleep(1.0)
                        continue
                    raise PreflightError(f"{endpoint} answered HTTP {status} to a one-token request for {model!r}: {text}") from error
                try:
                    choice = raw.json()["choices"][0]
                except (ValueError, KeyError, IndexError, TypeError) as error:
                    raise PreflightError(f"{endpoint} answered 200 but not with a chat completion: is OPENAI_BASE_URL "
                                         "an OpenAI-compatible API root (…/v1)?") from error
                logprobs_ok = bool(ask_logprobs and (choice.get("logprobs") or {}).get("content"))
                break
    finally:
        client.close()
    return PreflightResult(endpoint, config.models(), mode, logprobs_ok, time.perf_counter() - started)
