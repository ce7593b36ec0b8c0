"""The model's own probability of the label it answered, from the token logprobs of a response,
and what kind of confidence that is.

Requests ask for `logprobs: true` with `top_logprobs: 0`: OpenAI and vLLM answer `logprobs`
alone, a llama.cpp server (llama-cpp-python 0.3.x) only when `top_logprobs` is named too; 0 is
within every server's range (OpenAI: 0-20) and asks for no alternatives. Servers return one entry
per generated token. The answer is `{"label": 3, ...}`: every tokenizer karl has met (o200k, cl100k, Llama,
SmolLM) makes a digit 1-9 a token of its own, possibly with a leading space, so the label's
probability is exp(logprob) of the token covering the label's digit. Anything else (no logprobs,
a token that spans more than the digit, a label not found) gives None: no confidence rather than
a wrong one.
"""

from __future__ import annotations

import math
import re
from typing import Any

_LABEL = re.compile(r'"label"\s*:\s*(\d)')

# What `confidence_kind` says of a valid call's `label_prob`.
LABEL_TOKEN_LOGPROB = "label_token_logprob"  # exp(logprob) of the label's digit token
NONE_NO_LOGPROBS = "none_no_logprobs"  # not asked, or the server returned none
NONE_AMBIGUOUS = "none_label_token_ambiguous"  # no token that is the label's digit alone
# Under grammar-constrained decoding (a response_format) the tokens before the label are forced,
# so a server reporting the distribution it sampled from gives them logprob ~0. A llama.cpp
# server reports the unconstrained model's instead (the forced `{` at -10.5): then the label's
# logprob is not the probability of the constrained answer either, and no confidence is kept.
NONE_UNCONSTRAINED = "none_unconstrained_logprobs_under_constraint"
FORCED_TOKEN_MIN_LOGPROB = math.log(0.5)


def label_confidence(choice: dict[str, Any], label: int | None, constrained: bool) -> tuple[float | None, str]:
    """(label_prob, confidence_kind) for one `choices[i]`; `constrained`: the request carried a
    response_format, so the tokens before the label were forced."""
    logprobs = choice.get("logprobs") or {}
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not tokens:
        return None, NONE_NO_LOGPROBS
    if constrained and forced_tokens_look_unconstrained(tokens):
        return None, NONE_UNCONSTRAINED
    probability = label_probability(choice, label)
    return (probability, LABEL_TOKEN_LOGPROB) if probability is not None else (None, NONE_AMBIGUOUS)


def forced_tokens_look_unconstrained(tokens: list[dict[str, Any]]) -> bool:
    """Whether a token wholly before the label's digit (structure the grammar forced) has a
    logprob far from 0."""
    offset = 0
    text = "".join(str(t.get("token", "")) for t in tokens)
    match = _LABEL.search(text)
    end = match.start(1) if match else len(text)
    for token in tokens:
        piece = str(token.get("token", ""))
        if offset + len(piece) > end:
            break
        logprob = token.get("logprob")
        if logprob is not None and float(logprob) < FORCED_TOKEN_MIN_LOGPROB:
            return True
        offset += len(piece)
    return False


def label_probability(choice: dict[str, Any], label: int | None) -> float | None:
    """exp(logprob) of the label's token in one `choices[i]` of a chat completion, or None."""
    if label is None:
        return None
    logprobs = choice.get("logprobs") or {}
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not tokens:
        return None
    text = "".join(str(t.get("token", "")) for t in tokens)
    match = _LABEL.search(text)
    if match is None or match.group(1) != str(label):
        return None
    position = match.start(1)
    offset = 0
    for token in tokens:
        piece = str(token.get("token", ""))
        if offset <= position < offset + len(piece):
            if piece.strip() != str(label) or token.get("logprob") is None:
                return None
            return round(math.exp(float(token["logprob"])), 6)
        offset += len(piece)
    return None
