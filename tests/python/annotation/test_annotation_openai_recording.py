"""How the openai annotator records and sends at speed: group commits to a real DuckDB file, and
the aiohttp transport under the real openai client. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from llm_fixtures import calls, fast_annotator, synthetic_pair

from python_jobs import warehouse
from python_jobs.annotation.base import CallContext, CallRecord
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.openai.recorder import GroupRecorder
from python_jobs.annotation.openai.transport import aiohttp_available, http_client_for
from python_jobs.testing.fake_llm_server import FakeLLMServer


class CommitCountingSink(DuckDBCallSink):
    """The real DuckDB sink, remembering how many calls each commit held."""

    def __init__(self, con) -> None:
        super().__init__(con)
        self.commits: list[int] = []

    def record(self, call: CallRecord) -> None:
        super().record(call)
        self.commits.append(1)

    def record_many(self, calls: Sequence[CallRecord]) -> None:
        super().record_many(calls)
        self.commits.append(len(calls))


def _records(n: int) -> list[CallRecord]:
    context = CallContext("group-commit", 1, 1)
    return [CallRecord.for_attempt(context, synthetic_pair(f"g{i}"), 1, "openai", model="fake-llm",
                                   prompt_version="v", prompt_hash="h", is_valid=True) for i in range(n)]


def _record_all(sink: DuckDBCallSink, records: list[CallRecord], group_size: int, max_wait_s: float,
                spacing_s: float = 0.0) -> None:
    async def run() -> None:
        writer = ThreadPoolExecutor(max_workers=1)
        recorder = GroupRecorder(sink, writer, group_size=group_size, max_wait_s=max_wait_s)

        async def one(i: int, record: CallRecord) -> None:
            await asyncio.sleep(i * spacing_s)
            await recorder.record(record)

        try:
            await asyncio.gather(*(one(i, record) for i, record in enumerate(records)))
        finally:
            writer.shutdown(wait=True)

    asyncio.run(run())


def test_calls_completing_together_are_committed_in_groups_and_all_land(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "karl.duckdb")
    try:
        sink = CommitCountingSink(con)
        _record_all(sink, _records(40), group_size=8, max_wait_s=5.0)
        rows = con.execute("select count(*) from raw.llm_calls where run_id = 'group-commit'").fetchone()[0]
    finally:
        con.close()
    assert rows == 40 and sum(sink.commits) == 40
    assert len(sink.commits) <= 40 // 8 + 1  # 8 calls a commit, not one


def test_a_lone_call_is_committed_after_the_wait_not_held_for_a_full_group(tmp_path) -> None:
    con = warehouse.connect(tmp_path / "karl.duckdb")
    try:
        sink = CommitCountingSink(con)
        _record_all(sink, _records(3), group_size=16, max_wait_s=0.05, spacing_s=0.2)
    finally:
        con.close()
    # Each call waited its 50 ms, then went alone: had the recorder held it for a full group of
    # 16, the three would have gone together in one commit (or never, and the test would hang).
    assert sink.commits == [1, 1, 1]


@pytest.mark.skipif(not aiohttp_available(), reason="aiohttp (the openai[aiohttp] extra) not installed")
def test_a_round_over_the_aiohttp_transport_records_every_call(tmp_path) -> None:
    assert isinstance(http_client_for(16), openai.DefaultAioHttpClient)
    pairs = [synthetic_pair(f"aio{i}") for i in range(20)]
    con = warehouse.connect(tmp_path / "karl.duckdb")
    try:
        with FakeLLMServer(latency_s=0.02) as server:
            # A timeout long enough that a loaded machine never times a call out: this test is
            # about the transport recording every call once, not about timeouts.
            annotator = fast_annotator(server.base_url, concurrency=16, timeout_s=30.0)
            annotator.annotate(pairs, CallContext("aio", 1, 3), DuckDBCallSink(con))
            counts = server.request_counts()
        rows = calls(con, "aio")
    finally:
        con.close()
    assert len(rows) == 60 and all(row["is_valid"] for row in rows.values())
    assert len(counts) == 60 and set(counts.values()) == {1}  # every call sent once
