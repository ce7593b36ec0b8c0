"""The model's own probability of the label it answered, from the token logprobs of a response.

Servers that support `logprobs: true` (OpenAI, vLLM, llama.cpp) return one entry per generated
token. The answer is `{"label": 3, ...}`: every tokenizer karl has met (o200k, cl100k, Llama,
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
