"""Sending one chat call until it has an outcome: retries only on retryable failures (429 with
retry-after, 408/409, 5xx, timeouts, dropped or cut connections; `x-should-retry` overrules the
status), with exponential backoff and the round's retry budget; response-format and logprobs
negotiation with servers that reject them. Each request has the whole of `timeout_s`
(deadline.py): a server answering a byte at a time cannot hold a call."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import openai

try:  # the openai client's HTTP library: httpx, or its successor httpx2 in openai >= 3
    import httpx2 as _httpx
except ImportError:  # pragma: no cover
    import httpx as _httpx  # type: ignore[no-redef]

from python_jobs.annotation.openai.deadline import within
from python_jobs.annotation.openai.protocol import (
    CALL_ID_HEADER,
    RETRYABLE_STATUS,
    Outcome,
    next_format,
    outcome_from_body,
    rejects_response_format,
    response_format_for,
    response_text,
    retry_after_seconds,
    should_retry_header,
)
from python_jobs.annotation.openai.round_state import RoundState
from python_jobs.config import LLMSettings

log = logging.getLogger("python_jobs.annotation.openai.client")


async def send_with_retries(client, config: LLMSettings, call_id: str, params: dict[str, Any],  # noqa: ANN001, ANN201
                            messages: list[dict[str, str]], state: RoundState):
    """Send one call until it has an outcome. Returns (outcome, retries, http_requests, format)."""
    retries = 0
    http_requests = 0
    errors: list[str] = []
    starts = state.response_starts
    while True:
        mode = state.format_mode
        kwargs: dict[str, Any] = {k: params[k] for k in ("model", "temperature", "max_tokens", "top_p", "seed") if k in params}
        response_format = response_format_for(mode)
        if response_format is not None:
            kwargs["response_format"] = response_format
        if state.logprobs:
            kwargs.update(logprobs_params())
        http_requests += 1
        delay_hint: float | None = None
        starts.begin(call_id)
        try:
            # The client's generic post: same transport, auth and typed errors as
            # chat.completions.create, without its per-call parameter transformation (a few
            # ms of CPU per call, which caps throughput at high concurrency).
            raw = await within(config.timeout_s, client.post(
                "/chat/completions",
                cast_to=_httpx.Response,
                body={"messages": messages, **kwargs},
                options={"headers": {CALL_ID_HEADER: call_id}},
            ))
            outcome = outcome_from_body(raw.text, constrained=response_format is not None)
            outcome.request_errors = tuple(errors)
            return outcome, retries, http_requests, mode
        except asyncio.TimeoutError:
            error_class, body_text = starts.timeout_kind(call_id), None
        except openai.APITimeoutError as error:
            error_class, body_text = (starts.timeout_kind(call_id), None) if timed_out(error) else (
                starts.connection_kind(call_id), type(_root_cause(error)).__name__)
        except openai.APIConnectionError as error:
            error_class, body_text = starts.connection_kind(call_id), f"{type(error.__cause__ or error).__name__}"
        except openai.APIStatusError as error:
            status = error.status_code
            body_text = response_text(error)
            if state.logprobs and status in (400, 422) and "logprobs" in body_text.lower():
                log.warning("server rejected logprobs (HTTP %d); asking without them", status)
                state.logprobs = False
                continue  # a negotiation, not a retry of a failure
            should_retry = should_retry_header(error.response.headers)
            if config.response_format == "auto" and mode != "none" and rejects_response_format(status, body_text):
                next_mode = next_format(mode)
                if next_mode and state.format_mode == mode:
                    log.warning("server rejected response_format %s (HTTP %d); falling back to %s", mode, status, next_mode)
                    state.format_mode = next_mode
                continue  # a negotiation, not a retry of a failure
            retryable = status >= 500 or status in RETRYABLE_STATUS
            if should_retry is not None:  # the server's word overrules the status code
                retryable = should_retry
            if retryable and status == 429:
                error_class = "rate_limited"
                delay_hint = retry_after_seconds(error.response.headers)
            elif retryable:
                error_class = "server_error" if status >= 500 else f"http_{status}"
                delay_hint = retry_after_seconds(error.response.headers)
            else:
                note = "x-should-retry: false" if should_retry is False else "non-retryable HTTP status"
                return (
                    Outcome(False, f"http_{status}", raw_response=body_text, note=note, retryable=False,
                            request_errors=tuple(errors)),
                    retries, http_requests, mode,
                )
        # Retryable failure.
        if retries >= config.max_retries or state.retries_used >= state.retry_budget:
            note = "retries exhausted" if retries >= config.max_retries else "retry budget exhausted"
            return (Outcome(False, error_class, raw_response=body_text, note=note, retryable=True,
                            request_errors=tuple(errors)), retries, http_requests, mode)
        errors.append(error_class)
        state.retries_used += 1
        retries += 1
        await asyncio.sleep(backoff(config, retries, delay_hint))


def logprobs_params() -> dict[str, Any]:
    """Token logprobs, asked so that every server answers them (logprobs.py): a llama.cpp server
    returns none unless `top_logprobs` is named, and 0 asks for no alternatives."""
    return {"logprobs": True, "top_logprobs": 0}


def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def timed_out(error: openai.APITimeoutError) -> bool:
    """Whether a timeout error is one. The aiohttp transport reports a connection the server
    closed (aiohttp's ServerDisconnectedError) as httpx's ConnectTimeout, which the openai client
    raises as a timeout; aiohttp's own timeouts are TimeoutErrors."""
    cause: BaseException | None = error
    while cause is not None:
        if type(cause).__module__.split(".")[0] == "aiohttp":
            return isinstance(cause, TimeoutError)
        cause = cause.__cause__
    return True


def backoff(config: LLMSettings, retry_number: int, retry_after: float | None) -> float:
    """Seconds before a retry: the server's retry-after when it gave one, else jittered exponential."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), config.max_retry_after_s)
    ceiling = min(config.backoff_max_s, config.backoff_base_s * 2 ** (retry_number - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
