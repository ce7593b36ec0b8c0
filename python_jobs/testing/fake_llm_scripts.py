"""What the fake OpenAI-compatible server answers: scripted faults per call, the default label
of a pair, the label's log-probabilities, and how a scripted batch ends (testing/fake_llm_server.py
serves them)."""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from typing import Any

LLAMA_CPP_SCHEMA_ERROR = 'response_format type must be one of "text" or "json_object", but got: json_schema'
# What llama-cpp-python's server (0.3.x) answers, with HTTP 500, seen against a real one.
LLAMA_CPP_PYTHON_SCHEMA_ERROR = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


@dataclass(frozen=True)
class Fault:
    """One scripted reaction to one request.

    kind: status (HTTP error `status`, optional retry-after) | slow (sleep `seconds`, then a normal
    answer) | malformed_body (200 with a body that is not JSON) | content (a 200 answer whose
    message text is `content`) | refusal (message.refusal set) | truncated_output (finish_reason
    length, cut JSON) | truncated_body (Content-Length promises more than is sent, then close: a
    server that closes mid-body) | drop (close the connection without a response) | echo_auth (401
    quoting the API key back) | hang (accept the request and never answer, until the client goes
    away or the server stops; `seconds` > 0 bounds it) | trickle (headers at once, then the body
    one byte every `seconds`, 1 s by default: each read is quick, the whole never arrives in time).
    """

    kind: str
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    content: str | None = None
    should_retry: bool | None = None  # sent as the x-should-retry header when set

    @staticmethod
    def http(status: int, retry_after: float | None = None, should_retry: bool | None = None) -> "Fault":
        return Fault("status", status=status, retry_after=retry_after, should_retry=should_retry)

    @staticmethod
    def label(value: Any, reason: str = "scripted") -> "Fault":
        return Fault("content", content=json.dumps({"label": value, "reason": reason}))


def hang() -> Fault:
    return Fault("hang")


def trickle(seconds_per_byte: float = 1.0) -> Fault:
    return Fault("trickle", seconds=seconds_per_byte)


@dataclass(frozen=True)
class ServerFault:
    """A fault the whole server plays, for demos and `karl run` tests where call ids are not known
    in advance: the calls whose id hashes below `share` get `fault` on their first `requests`
    requests (None: every request), then normal answers. A request without a call id (the
    preflight) gets it only when every call does (share 1)."""

    fault: Fault
    share: float = 1.0
    requests: int | None = None

    def applies(self, call_id: str | None, request_number: int) -> bool:
        if self.requests is not None and request_number > self.requests:
            return False
        if self.share >= 1.0:
            return True
        if not call_id:
            return False
        fraction = int(hashlib.sha256(f"fault|{call_id}".encode()).hexdigest()[:8], 16) / 0x100000000
        return fraction < self.share


@dataclass
class RequestLog:
    call_id: str | None
    received_at: float
    body: dict[str, Any] | None
    authorization: str | None


def default_label(body: dict[str, Any], noise: float = 0.0) -> int:
    """Deterministic pseudo-answer: a hash of the user message, flipped with probability noise."""
    user = "".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
    label = 1 + int(hashlib.sha256(user.encode()).hexdigest(), 16) % 9
    if noise > 0:
        rng = random.Random(f"{user}|{body.get('seed')}|{body.get('model')}")
        if rng.random() < noise:
            label = 1 + (label + rng.randrange(1, 9) - 1) % 9
    return label


def label_probability(body: dict[str, Any]) -> float:
    """The fake model's probability of the label it answers, in [0.40, 0.99]: from the pair text,
    so the same pair always has the same confidence and tests can compute it."""
    user = "".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
    fraction = int(hashlib.sha256(f"p|{user}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return round(0.40 + 0.59 * fraction, 4)


def logprobs_for(content: str, label_probability: float, top_n: int = 0) -> dict[str, Any]:
    """OpenAI's `choices[].logprobs` for a JSON answer: the label digit is one token (as in the
    real tokenizers), every other token certain. top_logprobs spreads the rest over other codes."""
    tokens: list[dict[str, Any]] = []
    marker = '"label": '
    cut = content.find(marker)
    pieces = [content] if cut < 0 else [content[: cut + len(marker)], content[cut + len(marker)], content[cut + len(marker) + 1:]]
    for index, piece in enumerate(pieces):
        if not piece:
            continue
        is_label = cut >= 0 and index == 1
        logprob = math.log(label_probability) if is_label else 0.0
        entry: dict[str, Any] = {"token": piece, "logprob": logprob, "bytes": list(piece.encode())}
        if top_n:
            top = [{"token": piece, "logprob": logprob, "bytes": list(piece.encode())}]
            if is_label and top_n > 1:
                rest = (1 - label_probability) / (top_n - 1)
                others = [str(code) for code in range(1, 10) if str(code) != piece][: top_n - 1]
                top += [{"token": o, "logprob": math.log(rest), "bytes": list(o.encode())} for o in others]
            entry["top_logprobs"] = top
        else:
            entry["top_logprobs"] = []
        tokens.append(entry)
    return {"content": tokens, "refusal": None}


# What a llama.cpp server reports for the tokens of a grammar-constrained answer: the model's
# unconstrained logprobs, so the forced opening brace (which the model on its own would rarely
# write first) comes out far below 0 - seen at -10.5 against llama-cpp-python 0.3.x.
LLAMA_CPP_FORCED_BRACE_LOGPROB = -10.5
LLAMA_CPP_UNCONSTRAINED_LABEL_LOGPROB = -3.2


def unconstrained_logprobs_for(content: str, top_n: int = 0) -> dict[str, Any]:
    """`choices[].logprobs` as a llama.cpp server gives them under a grammar: the label digit is
    still a token of its own, but every logprob is the unconstrained model's."""
    marker = '"label": '
    cut = content.find(marker)
    if not content.startswith("{") or cut < 0:
        pieces = [(content, -1.0)]
    else:
        digit_at = cut + len(marker)
        pieces = [("{", LLAMA_CPP_FORCED_BRACE_LOGPROB), (content[1:digit_at], -0.7),
                  (content[digit_at], LLAMA_CPP_UNCONSTRAINED_LABEL_LOGPROB), (content[digit_at + 1:], -0.4)]
    tokens = []
    for piece, logprob in pieces:
        if not piece:
            continue
        entry: dict[str, Any] = {"token": piece, "logprob": logprob, "bytes": list(piece.encode())}
        entry["top_logprobs"] = [dict(entry)] if top_n else []
        tokens.append(entry)
    return {"content": tokens, "refusal": None}


def is_constrained(body: dict[str, Any]) -> bool:
    """Whether a request asks for grammar-constrained output (a JSON schema or JSON mode)."""
    return (body.get("response_format") or {}).get("type") in ("json_schema", "json_object")


@dataclass
class BatchScript:
    """How one batch ends: completed | failed | expired | stuck (never finishes)."""

    outcome: str = "completed"
    partial_lines: int = 0  # expired: lines answered before the window closed
