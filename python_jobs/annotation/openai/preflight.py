"""One cheap request before anything is spent: is the key accepted, the URL an OpenAI-compatible
endpoint, the model known, and which response format and logprobs does the server take?

The request is the real one in shape (system + user message, the answer schema as
`response_format`, `logprobs` with `top_logprobs`), cut to `max_tokens=1`, so a server that
accepts it accepts the round's calls; with a short deadline for the whole request (a server
trickling its answer a byte at a time cannot hold it) and no retries (a 429 or 5xx once is
retried after one second) it fails in seconds. Each failure says what is wrong and which setting
to change; the API key is never in a message. It also says what confidence the calls will carry:
the one token's logprob under the response_format shows whether the server reports constrained
logprobs (forced tokens ~0) or the unconstrained model's (llama.cpp), which would mislead.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import openai

from python_jobs.annotation import prompt
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.openai.logprobs import (
    LABEL_TOKEN_LOGPROB,
    NONE_NO_LOGPROBS,
    NONE_UNCONSTRAINED,
    forced_tokens_look_unconstrained,
)
from python_jobs.annotation.openai.protocol import (
    next_format,
    rejects_response_format,
    response_format_for,
    sanitize_url,
)
from python_jobs.annotation.openai.sending import logprobs_params
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
    # What each call's label_prob will be: label_token_logprob, or why there will be none
    # (logprobs.py: none_no_logprobs, none_unconstrained_logprobs_under_constraint).
    confidence: str = NONE_NO_LOGPROBS


def _message(error: openai.APIStatusError) -> str:
    try:
        body = error.response.json()
        return str((body.get("error") or {}).get("message") or body)[:300]
    except Exception:  # noqa: BLE001 - any body: show a bit of its text
        return (error.response.text or "")[:300]


def preflight(annotator: OpenAIAnnotator, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> PreflightResult:
    """Check every model of the annotator's panel with one tiny request each, each within
    `timeout_s` in all. Raises PreflightError."""
    checking = _preflight(annotator, timeout_s)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(checking)
    with ThreadPoolExecutor(max_workers=1) as pool:  # called from inside an event loop (a notebook)
        return pool.submit(asyncio.run, checking).result()


async def _preflight(annotator: OpenAIAnnotator, timeout_s: float) -> PreflightResult:
    config = annotator.config
    endpoint = sanitize_url(config.base_url) or "https://api.openai.com/v1"
    started = time.perf_counter()
    headers_in: list[int] = []  # the statuses of responses whose headers arrived

    async def note_headers(response: Any) -> None:
        headers_in.append(response.status_code)

    client = openai.AsyncOpenAI(api_key=annotator._api_key, base_url=config.base_url, max_retries=0, timeout=timeout_s,
                                http_client=openai.DefaultAsyncHttpxClient(event_hooks={"response": [note_headers]}))
    mode = "json_schema" if config.response_format == "auto" else config.response_format
    logprobs_ok = False
    confidence = NONE_NO_LOGPROBS
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
                    body.update(logprobs_params())
                headers_in.clear()
                try:
                    raw = await asyncio.wait_for(client.post("/chat/completions", cast_to=_httpx.Response, body=body),
                                                 timeout=timeout_s)
                except (asyncio.TimeoutError, openai.APITimeoutError) as error:
                    if headers_in:
                        raise PreflightError(f"{endpoint} began answering (HTTP {headers_in[0]}) but had not finished "
                                             f"within {timeout_s:g} s: a server sending its answer a trickle at a time? "
                                             "(OPENAI_BASE_URL, KARL_LLM_TIMEOUT_S)") from error
                    raise PreflightError(f"{endpoint} did not answer within {timeout_s:g} s: is the server up? "
                                         "(OPENAI_BASE_URL, KARL_LLM_TIMEOUT_S)") from error
                except openai.APIConnectionError as error:
                    cause = type(error.__cause__ or error).__name__
                    if headers_in:
                        raise PreflightError(f"{endpoint} closed the connection in the middle of its answer ({cause}): "
                                             "an overloaded server or a proxy cutting responses? (OPENAI_BASE_URL)") from error
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
                        await asyncio.sleep(1.0)
                        continue
                    raise PreflightError(f"{endpoint} answered HTTP {status} to a one-token request for {model!r}: {text}") from error
                try:
                    choice = raw.json()["choices"][0]
                except (ValueError, KeyError, IndexError, TypeError) as error:
                    raise PreflightError(f"{endpoint} answered 200 but not with a chat completion: is OPENAI_BASE_URL "
                                         "an OpenAI-compatible API root (…/v1)?") from error
                tokens = (choice.get("logprobs") or {}).get("content") if ask_logprobs else None
                logprobs_ok = bool(tokens)
                confidence = _confidence(tokens, constrained=response_format_for(mode) is not None)
                break
    finally:
        await client.close()
    return PreflightResult(endpoint, config.models(), mode, logprobs_ok, time.perf_counter() - started, confidence)


def _confidence(tokens: list[dict[str, Any]] | None, constrained: bool) -> str:
    """What the round's label_prob will be, from the one token of the preflight answer: under a
    response_format that token is forced, so a logprob far from 0 is the unconstrained model's."""
    if not tokens:
        return NONE_NO_LOGPROBS
    if constrained and forced_tokens_look_unconstrained(tokens):
        return NONE_UNCONSTRAINED
    return LABEL_TOKEN_LOGPROB
