"""Records completed calls from one writer thread, so workers never wait on each other's commits."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from python_jobs.annotation.base import CallRecord, CallSink


class GroupRecorder:
    """Hands completed calls to the sink from one writer thread. Calls completing while a write
    is under way are written together next (one commit), via `record_many`.
    `record` returns only once the call is committed."""

    def __init__(self, sink: CallSink, writer: ThreadPoolExecutor):
        self._sink = sink
        self._writer = writer
        self._pending: list[tuple[CallRecord, asyncio.Future[None]]] = []
        self._flushing = False

    async def record(self, call: CallRecord) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((call, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        await future

    def _write(self, calls: list[CallRecord]) -> None:
        if len(calls) > 1:
            self._sink.record_many(calls)
        else:
            self._sink.record(calls[0])

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
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
