"""The HTTP side of an OpenAI-compatible chat call: request options, response formats, retry
hints, and how a response body becomes a vote (`outcome_from_body`)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

import openai

from python_jobs.annotation import prompt
from python_jobs.annotation.openai.logprobs import label_confidence

# Sent with every request, so a server log (the local test server's) can count calls by id.
CALL_ID_HEADER = "X-Karl-Call-Id"
RETRYABLE_STATUS = {408, 409, 429}
MAX_STORED_TEXT = 20_000


def per_call_seed(base_seed: int, pair_key: str, attempt_index: int) -> int:
    digest = hashlib.sha256(f"{base_seed}|{pair_key}|{attempt_index}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def sanitize_url(url: str | None) -> str | None:
    """Scheme, host and path only: no user:password@ and no query (Azure keys can live there)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def response_format_for(mode: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "fbl_label", "strict": True, "schema": prompt.answer_schema()}}
    if mode == "json_object":
        # llama.cpp's server constrains output with a schema given here.
        return {"type": "json_object", "schema": prompt.answer_schema()}
    return None


def next_format(mode: str) -> str | None:
    return {"json_schema": "json_object", "json_object": "none"}.get(mode)


def rejects_response_format(status: int, text: str) -> bool:
    lowered = text.lower()
    return status in (400, 422, 500) and ("response_format" in lowered or "json_schema" in lowered)


def should_retry_header(headers: Mapping[str, str]) -> bool | None:
    """OpenAI's `x-should-retry: true|false`: the server's own verdict, which overrules the status
    code's usual rule (the openai client follows it too). None when absent or unreadable."""
    value = (headers.get("x-should-retry") or "").strip().lower()
    return {"true": True, "false": False}.get(value)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@dataclass
class Outcome:
    """The end of one call: a server answer (possibly invalid) or a give-up."""

    is_valid: bool
    error_class: str | None = None
    fbl_label: int | None = None
    raw_response: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    answered: bool = False  # the server returned a 200 body: cacheable
    note: str | None = None
    label_prob: float | None = None  # exp(logprob) of the label token, when the server gave logprobs
    confidence_kind: str | None = None  # what label_prob is (logprobs.py); None when no valid label
    retryable: bool | None = None  # for a failure: was it of a kind that is retried (it was, per policy)
    request_errors: tuple[str, ...] = ()  # the failure of each earlier request of this call, in order


def response_text(error: openai.APIStatusError) -> str:
    try:
        return error.response.text
    except Exception:  # noqa: BLE001 - a body we cannot read is just unknown
        return str(error.message)


def outcome_from_body(text: str, constrained: bool = False) -> Outcome:
    """Judge a 200 response body: a valid vote, or an invalid one with its error class (never
    retried: the server answered). `constrained`: the request carried a response_format."""
    try:
        body = json.loads(text)
        choice = body["choices"][0]
        message = choice.get("message") or {}
        finish_reason = choice.get("finish_reason")
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return Outcome(False, "malformed_response", raw_response=text, answered=True, retryable=False)
    usage = body.get("usage") or {}
    tokens = {"tokens_in": usage.get("prompt_tokens"), "tokens_out": usage.get("completion_tokens")}
    if message.get("refusal") or finish_reason == "content_filter":
        return Outcome(False, "refusal", raw_response=text, answered=True, retryable=False, **tokens)
    if finish_reason == "length":
        return Outcome(False, "truncated_output", raw_response=text, answered=True, retryable=False, **tokens)
    parsed = prompt.parse_answer(message.get("content"))
    if not parsed.is_valid:
        return Outcome(False, parsed.error_class, raw_response=text, answered=True, retryable=False, **tokens)
    label_prob, confidence_kind = label_confidence(choice, parsed.fbl_label, constrained)
    return Outcome(True, None, parsed.fbl_label, raw_response=text, answered=True,
                   label_prob=label_prob, confidence_kind=confidence_kind, **tokens)
