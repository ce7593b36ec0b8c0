"""Records completed calls from one writer thread, so workers never wait on each other's commits."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from python_jobs.annotation.base import CallRecord, CallSink

# A commit to raw.llm_calls costs 4-7 ms of CPU whatever its size (1 row or 64, measured on the
# warehouse file), so committing back to back at c = 64 (128 calls/s, 1-3 rows a commit) spent
# about half a core on commits alone. Waiting for a group to form costs the workers nothing: a
# worker waits for a commit only before handing over its next call, one call latency later.
MAX_COMMIT_WAIT_S = 0.03


class GroupRecorder:
    """Hands completed calls to the sink from one writer thread, in groups (one commit each, via
    `record_many`). A group is written once it holds `group_size` calls, or once its oldest call
    has waited `max_wait_s`, whichever comes first; calls completing during a write join the next
    group. `record` returns only once the call is committed.

    `group_size` is meant to be about a quarter of the workers: each worker has at most one call
    waiting here, so with a fast server (workers blocked on their commits) a group fills at once,
    and with a slow one the wait bounds it (c = 64, L = 0.5 s: ~4 calls a commit instead of 1-2)."""

    def __init__(self, sink: CallSink, writer: ThreadPoolExecutor, group_size: int = 1,
                 max_wait_s: float = MAX_COMMIT_WAIT_S):
        self._sink = sink
        self._writer = writer
        self._group_size = max(1, group_size)
        self._max_wait_s = max_wait_s
        self._pending: list[tuple[CallRecord, asyncio.Future[None]]] = []
        self._oldest_at = 0.0
        self._grown = asyncio.Event()
        self._flushing = False

    async def record(self, call: CallRecord) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if not self._pending:
            self._oldest_at = loop.time()
        self._pending.append((call, future))
        if len(self._pending) >= self._group_size:
            self._grown.set()
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        await future

    def _write(self, calls: list[CallRecord]) -> None:
        if len(calls) > 1:
            self._sink.record_many(calls)
        else:
            self._sink.record(calls[0])

    async def _group_formed(self) -> None:
        """Wait until the pending calls fill a group or the oldest has waited long enough."""
        loop = asyncio.get_running_loop()
        while len(self._pending) < self._group_size:
            remaining = self._oldest_at + self._max_wait_s - loop.time()
            if remaining <= 0:
                return
            self._grown.clear()
            try:
                await asyncio.wait_for(self._grown.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                await self._group_formed()
                batch, self._pending = self._pending, []
                try:
                    await loop.run_in_executor(self._writer, self._write, [call for call, _ in batch])
                except Exception as error:  # noqa: BLE001 - handed to every waiting worker
                    for _, future in batch:
                        future.set_exception(error)
                else:
                    for _, future in batch:
                        future.set_result(None)
        finally:
            self._flushing = False
