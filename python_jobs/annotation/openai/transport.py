"""The HTTP client under the openai client: aiohttp when installed (the `openai[aiohttp]` extra),
else the openai client's default httpx.

Measured (c = 64, L = 0.5 s, calls recorded in memory, interleaved runs): client CPU 2.4-2.6 ms
a call over httpx, a quarter of it in the pool's bookkeeping, which walks every connection twice
a request (probing idle sockets), so it grows with c; 1.7-1.9 ms over aiohttp, whose pool does
not walk. That CPU is the event loop's, which every response waits on: it sets how far below
c/L a round falls at high concurrency (docs/llm_annotator.md, Throughput)."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import openai

try:  # the openai client's HTTP library: httpx, or its successor httpx2 in openai >= 3
    import httpx2 as _httpx
except ImportError:  # pragma: no cover
    import httpx as _httpx  # type: ignore[no-redef]

log = logging.getLogger("python_jobs.annotation.openai.client")


def aiohttp_available() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return hasattr(openai, "DefaultAioHttpClient")


def http_client_for(concurrency: int,
                    on_response: Callable[[Any], Awaitable[None]] | None = None) -> _httpx.AsyncClient:
    """An aiohttp-backed client with room for `concurrency` connections kept alive; the openai
    client's own httpx default when aiohttp is not installed. `on_response` is called with each
    response once its headers are in (deadline.ResponseStarts)."""
    hooks = {"response": [on_response]} if on_response is not None else {}
    if not aiohttp_available():
        log.info("aiohttp not installed: the openai client's default httpx transport (slower at high concurrency)")
        return openai.DefaultAsyncHttpxClient(event_hooks=hooks)
    limits = _httpx.Limits(max_connections=max(100, 2 * concurrency),
                           max_keepalive_connections=max(20, concurrency), keepalive_expiry=5.0)
    return openai.DefaultAioHttpClient(limits=limits, event_hooks=hooks)
