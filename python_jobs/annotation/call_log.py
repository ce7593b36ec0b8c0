"""Records annotator calls in raw.llm_calls, one row per call, the moment each completes."""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Sequence

import duckdb

from python_jobs.annotation.base import (
    CallContext,
    CallRecord,
    PairToAnnotate,
    call_id_for,
)
from python_jobs.warehouse import insert_rows

_COLUMNS = ["call_id"] + [f.name for f in fields(CallRecord)]


class DuckDBCallSink:
    """CallSink over the warehouse connection. Inserts are idempotent on call_id."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con
        self._lock = threading.Lock()

    def missing_attempts(
        self, context: CallContext, pairs: Sequence[PairToAnnotate]
    ) -> list[tuple[PairToAnnotate, int]]:
        with self._lock:
            rows = self._con.execute(
                "select call_id from raw.llm_calls where run_id = ? and round_index = ?",
                [context.run_id, context.round_index],
            ).fetchall()
        done = {row[0] for row in rows}
        return [
            (pair, attempt)
            for pair in pairs
            for attempt in range(1, context.k_calls + 1)
            if call_id_for(context.run_id, context.round_index, pair.pair_key, attempt) not in done
        ]

    def record(self, call: CallRecord) -> None:
        values = [call.call_id] + [getattr(call, name) for name in _COLUMNS[1:]]
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._lock:
            self._con.execute(
                f"insert into raw.llm_calls ({', '.join(_COLUMNS)}) values ({placeholders}) "
                "on conflict (call_id) do nothing",
                values,
            )

    def record_many(self, calls: Sequence[CallRecord]) -> None:
        """Record several completed calls in one statement (one commit): a group commit for
        annotators whose concurrent calls complete together."""
        if not calls:
            return
        rows = [tuple([call.call_id] + [getattr(call, name) for name in _COLUMNS[1:]]) for call in calls]
        with self._lock:
            try:
                # The plain insert is about twice as cheap as one with an on-conflict clause;
                # a duplicate (a call recorded already) fails it whole, and the idempotent
                # form then skips the duplicates.
                insert_rows(self._con, "raw.llm_calls", _COLUMNS, rows, on_conflict_do_nothing=False)
            except duckdb.ConstraintException:
                insert_rows(self._con, "raw.llm_calls", _COLUMNS, rows)

    def find_cached_many(self, cache_keys: Sequence[str]) -> dict[str, CallRecord]:
        """For each cache key already answered (any run), its earliest call."""
        if not cache_keys:
            return {}
        names = _COLUMNS[1:]
        with self._lock:
            rows = self._con.execute(
                f"select {', '.join(names)} from raw.llm_calls "
                "where cache_key in (select unnest(?::varchar[])) "
                "qualify row_number() over (partition by cache_key order by created_at, call_id) = 1",
                [list(cache_keys)],
            ).fetchall()
        found = [CallRecord(**dict(zip(names, row))) for row in rows]
        return {call.cache_key: call for call in found if call.cache_key}

    def find_cached(self, cache_key: str) -> CallRecord | None:
        """The earliest call with this cache key (any run). Only calls the server answered carry one."""
        names = _COLUMNS[1:]
        with self._lock:
            row = self._con.execute(
                f"select {', '.join(names)} from raw.llm_calls "
                "where cache_key = ? order by created_at, call_id limit 1",
                [cache_key],
            ).fetchone()
        return None if row is None else CallRecord(**dict(zip(names, row)))

    def spent_usd(self, run_id: str) -> float:
        with self._lock:
            row = self._con.execute(
                "select coalesce(sum(cost_usd), 0) from raw.llm_calls where run_id = ?", [run_id]
            ).fetchone()
        return float(row[0]) if row else 0.0

    def mark_sending(self, call_id: str, context: CallContext, pair_key: str, attempt_index: int) -> None:
        """Journal a request before it is sent (at-most-once mode of the openai annotator)."""
        with self._lock:
            self._con.execute(
                "insert into raw.llm_call_intents values (?, ?, ?, ?, ?, now()::timestamp) "
                "on conflict (call_id) do nothing",
                [call_id, context.run_id, context.round_index, pair_key, attempt_index],
            )

    def sent_unrecorded(self, context: CallContext) -> set[str]:
        """Calls journalled as sent that never got a row: in flight when a process died."""
        with self._lock:
            rows = self._con.execute(
                "select i.call_id from raw.llm_call_intents as i "
                "left join raw.llm_calls as c on c.call_id = i.call_id "
                "where i.run_id = ? and i.round_index = ? and c.call_id is null",
                [context.run_id, context.round_index],
            ).fetchall()
        return {row[0] for row in rows}
