"""A whole-request deadline (`KARL_LLM_TIMEOUT_S`), and what a failed request had received.

The openai client's timeout bounds each read and each connect, not the request: over httpx and
over aiohttp alike, a server that sends its body one byte a second keeps every read short and the
request alive for as long as the body lasts. So each request runs under `asyncio.wait_for` with
the whole timeout, and a response hook on the HTTP client notes which calls have had their status
line and headers, so a failure is recorded as what it was:

- `timeout`: nothing came back by the deadline (a server that accepts and never answers);
- `body_timeout`: the headers came, the body was not complete by the deadline (a trickle);
- `connection_error`: the connection was refused or closed before any response;
- `body_cut`: the server closed the connection in the middle of its response.

All four are retryable.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

from python_jobs.annotation.openai.protocol import CALL_ID_HEADER

T = TypeVar("T")

TIMEOUT = "timeout"
BODY_TIMEOUT = "body_timeout"
CONNECTION_ERROR = "connection_error"
BODY_CUT = "body_cut"


class ResponseStarts:
    """Which calls' current request has had its response headers: an httpx response event hook
    (it runs once the headers are in, before the body is read), keyed by the call id header."""

    def __init__(self) -> None:
        self._started: set[str] = set()

    async def hook(self, response: Any) -> None:  # an httpx(2) Response
        call_id = response.request.headers.get(CALL_ID_HEADER)
        if call_id:
            self._started.add(call_id)

    def begin(self, call_id: str) -> None:
        """A new request of this call is about to be sent."""
        self._started.discard(call_id)

    def started(self, call_id: str) -> bool:
        return call_id in self._started

    def timeout_kind(self, call_id: str) -> str:
        return BODY_TIMEOUT if self.started(call_id) else TIMEOUT

    def connection_kind(self, call_id: str) -> str:
        return BODY_CUT if self.started(call_id) else CONNECTION_ERROR


async def within(seconds: float, request: Awaitable[T]) -> T:
    """The request's result, or asyncio.TimeoutError once `seconds` have passed in all (the
    request is cancelled, which closes its connection)."""
    return await asyncio.wait_for(request, timeout=seconds)
