"""Batch API mode of the openai annotator (`--batch`): half the price, results within 24 h.

One round's missing calls become one JSONL file (the same request bodies as the live path,
`custom_id` = call_id), uploaded with purpose `batch`; a batch is created, polled, and its output
and error files are downloaded and recorded as calls, at the batch price. Cache hits are recorded
first, at zero cost, as in the live path; validation, cache keys and records are the live path's.

Never submitted twice. Before anything is uploaded a journal row is committed in
`raw.llm_batches` with a deterministic `batch_key` (run, round, sequence number); the batch is
created with `metadata.karl_batch_key`; its id is written to the row as soon as it is known. A
process killed anywhere in between resumes by:
- a row with a batch id and no result recorded: poll that batch;
- a row without a batch id (killed between the upload and the write): list the server's batches
  and adopt the one whose metadata carries the key; submit only if there is none.

Ends: completed (all lines recorded; lines with an HTTP error are invalid votes `http_<status>`,
not retried: a batch has no retries), expired (the answered lines are recorded, the rest stay
missing and go into the next batch on resume), failed (nothing recorded; `BatchFailed` with the
server's reasons), still running after `batch_max_wait_s` (`BatchPending`: resume later, nothing
is lost or resent).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import openai

from python_jobs.annotation import prompt
from python_jobs.annotation.base import (
    BatchFailed,
    BatchPending,
    BudgetExhausted,
    CallContext,
    CallRecord,
    CallSink,
    PairToAnnotate,
)
from python_jobs.annotation.few_shot import example_keys
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.openai.protocol import (
    outcome_from_body,
    per_call_seed,
    response_format_for,
    sanitize_url,
)
from python_jobs.annotation.openai.sending import logprobs_params
from python_jobs.warehouse.raw_schema import create_raw_tables

log = logging.getLogger(__name__)

BATCH_PRICE_FACTOR = 0.5  # OpenAI's Batch API: half the synchronous price, input and output
TERMINAL = ("completed", "failed", "expired", "cancelled")


@dataclass
class BatchStats:
    batch_id: str | None = None
    submitted_calls: int = 0
    recorded_calls: int = 0
    cache_hits: int = 0
    polls: int = 0
    status: str = ""
    adopted: bool = False  # resumed an existing batch instead of submitting


class BatchAnnotator:
    """The openai annotator through the Batch API. Needs the warehouse connection for its journal."""

    kind = "openai"

    def __init__(self, live: OpenAIAnnotator, con: duckdb.DuckDBPyConnection,
                 poll_interval_s: float = 5.0, max_wait_s: float = 24 * 3600.0):
        self.live = live
        self.config = live.config
        self.con = con
        self.poll_interval_s = poll_interval_s
        self.max_wait_s = max_wait_s
        self.last_stats = BatchStats()
        create_raw_tables(con)  # raw.llm_batches, the journal, in a warehouse made before it existed

    # --- requests -----------------------------------------------------------------------
    def request_line(self, pair: PairToAnnotate, attempt: int, call_id: str) -> dict[str, Any]:
        config = self.config
        seed = per_call_seed(config.seed, pair.pair_key, attempt) if config.send_seed else None
        body: dict[str, Any] = {"messages": self.live.messages_for(pair), **self.live._request_params(config.model_for(attempt), seed)}
        mode = "json_schema" if config.response_format == "auto" else config.response_format
        if response_format_for(mode) is not None:
            body["response_format"] = response_format_for(mode)
        if config.logprobs:
            body.update(logprobs_params())
        return {"custom_id": call_id, "method": "POST", "url": "/v1/chat/completions", "body": body}

    # --- journal ------------------------------------------------------------------------
    def _open_batches(self, context: CallContext) -> list[tuple[str, int, str | None, list[str]]]:
        rows = self.con.execute(
            "select batch_key, sequence, batch_id, call_ids from raw.llm_batches "
            "where run_id = ? and round_index = ? and status in ('submitting', 'submitted') order by sequence",
            [context.run_id, context.round_index]).fetchall()
        return [(key, seq, batch_id, json.loads(ids)) for key, seq, batch_id, ids in rows]

    def _next_sequence(self, context: CallContext) -> int:
        row = self.con.execute("select coalesce(max(sequence), 0) from raw.llm_batches where run_id = ? and round_index = ?",
                               [context.run_id, context.round_index]).fetchone()
        return int(row[0]) + 1

    def _set(self, batch_key: str, **values: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.con.execute(f"update raw.llm_batches set {assignments} where batch_key = ?", [*values.values(), batch_key])

    # --- the interface ------------------------------------------------------------------
    def annotate(self, pairs: Sequence[PairToAnnotate], context: CallContext, sink: CallSink) -> None:
        stats = self.last_stats = BatchStats()
        client = openai.OpenAI(api_key=self.live._api_key, base_url=self.config.base_url,
                               max_retries=3, timeout=self.config.timeout_s)
        try:
            for batch_key, _, batch_id, call_ids in self._open_batches(context):
                if batch_id is None:
                    batch_id = self._adopt(client, batch_key)
                    if batch_id is None:  # never created: the journal row is reused for a fresh submit
                        self.con.execute("delete from raw.llm_batches where batch_key = ?", [batch_key])
                        continue
                    self._set(batch_key, batch_id=batch_id, status="submitted")
                stats.adopted = True
                self._finish(client, batch_key, batch_id, pairs, context, sink, stats)
            missing = sink.missing_attempts(context, pairs)
            missing = self._record_cache_hits(missing, context, sink, stats)
            missing = self._within_budget(missing, context, sink)
            if missing:
                batch_key, batch_id = self._submit(client, missing, context, stats)
                self._finish(client, batch_key, batch_id, pairs, context, sink, stats)
        finally:
            client.close()

    def _adopt(self, client: openai.OpenAI, batch_key: str) -> str | None:
        for batch in client.batches.list(limit=100):
            if (batch.metadata or {}).get("karl_batch_key") == batch_key:
                log.info("adopting batch %s created before a crash", batch.id)
                return batch.id
        return None

    def _record_cache_hits(self, missing, context, sink, stats):
        if not self.config.use_cache:
            return missing
        keys = {self.live.cache_key(pair, attempt): (pair, attempt) for pair, attempt in missing}
        cached = sink.find_cached_many(list(keys))
        hits = []
        for key, record in cached.items():
            pair, attempt = keys[key]
            params = {"cache_hit": True, "cached_call_id": record.call_id, "batch": True}
            hits.append(replace(self.live._base_record(pair, attempt, context), model=record.model,
                                request_params=json.dumps(params), raw_response=record.raw_response,
                                fbl_label=record.fbl_label, relation_label=record.relation_label,
                                is_valid=record.is_valid, error_class=record.error_class, tokens_in=record.tokens_in,
                                tokens_out=record.tokens_out, cost_usd=0.0, latency_ms=0.0, cache_key=key,
                                label_prob=record.label_prob, confidence_kind=record.confidence_kind,
                                error_retryable=record.error_retryable))
        if hits:
            sink.record_many(hits)
            stats.cache_hits += len(hits)
        return [(pair, attempt) for key, (pair, attempt) in keys.items() if key not in cached]

    def _within_budget(self, missing, context, sink):
        budget = self.config.max_cost_usd
        if budget is None:
            return missing
        spent = sink.spent_usd(context.run_id)
        fitting, reserved = [], 0.0
        for pair, attempt in missing:
            estimate = self.live.estimate_call_cost(pair, attempt) * BATCH_PRICE_FACTOR
            if spent + reserved + estimate > budget:
                break
            fitting.append((pair, attempt))
            reserved += estimate
        if not fitting:
            raise BudgetExhausted(spent, budget, len(missing))
        return fitting

    def _submit(self, client, missing, context, stats) -> tuple[str, str]:
        sequence = self._next_sequence(context)
        batch_key = hashlib.sha256(f"{context.run_id}|{context.round_index}|{sequence}".encode()).hexdigest()[:32]
        call_ids = [self.live._call_id(context, pair, attempt) for pair, attempt in missing]
        self.con.execute("insert into raw.llm_batches values (?, ?, ?, ?, ?, null, 'submitting', null, now()::timestamp, null)",
                         [batch_key, context.run_id, context.round_index, sequence, json.dumps(call_ids)])
        lines = [self.request_line(pair, attempt, call_id) for (pair, attempt), call_id in zip(missing, call_ids)]
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        uploaded = client.files.create(file=(f"karl-{batch_key}.jsonl", io.BytesIO(data)), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
                                      metadata={"karl_batch_key": batch_key, "karl_run_id": context.run_id[:500]})
        self._set(batch_key, batch_id=batch.id, status="submitted", provider_status=batch.status)
        stats.submitted_calls += len(lines)
        log.info("batch %s submitted: %d calls", batch.id, len(lines))
        return batch_key, batch.id

    def _finish(self, client, batch_key, batch_id, pairs, context, sink, stats) -> None:
        stats.batch_id = batch_id
        deadline = time.monotonic() + self.max_wait_s
        while True:
            batch = client.batches.retrieve(batch_id)
            stats.polls += 1
            self._set(batch_key, provider_status=batch.status)
            if batch.status in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise BatchPending(f"batch {batch_id} is still {batch.status}; run again to poll the same batch "
                                   "(nothing is resubmitted)")
            time.sleep(self.poll_interval_s)
        stats.status = batch.status
        if batch.status == "failed":
            self._set(batch_key, status="failed", finished_at=_now())
            reasons = "; ".join(f"{e.code}: {e.message}" for e in ((batch.errors.data if batch.errors else None) or []))
            raise BatchFailed(f"batch {batch_id} failed validation, nothing recorded: {reasons or 'no reason given'}")
        by_call = {self.live._call_id(context, pair, attempt): (pair, attempt)
                   for pair in pairs for attempt in range(1, context.k_calls + 1)}
        records = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for line in client.files.content(file_id).text.splitlines():
                if line.strip():
                    record = self._record_for(json.loads(line), by_call, context, batch_id)
                    if record is not None:
                        records.append(record)
        if records:
            sink.record_many(records)
        stats.recorded_calls += len(records)
        self._set(batch_key, status="recorded", finished_at=_now())
        log.info("batch %s %s: %d calls recorded", batch_id, batch.status, len(records))

    def _record_for(self, line: dict[str, Any], by_call, context, batch_id) -> CallRecord | None:
        """One output or error line as a call; None for a request the batch never ran (expired,
        cancelled): it stays missing and goes into the next batch."""
        target = by_call.get(line.get("custom_id"))
        if target is None:
            return None
        pair, attempt = target
        error = line.get("error") or {}
        if error.get("code") in ("batch_expired", "batch_cancelled"):
            return None
        config = self.config
        model = config.model_for(attempt)
        examples = self.live.selector.select(pair)
        params: dict[str, Any] = {
            **self.live._request_params(model, per_call_seed(config.seed, pair.pair_key, attempt) if config.send_seed else None),
            "endpoint": sanitize_url(config.base_url), "batch": True, "batch_id": batch_id,
            "messages_sha256": prompt.messages_hash(prompt.build_messages(pair, examples)),
        }
        if examples:
            params["few_shot"] = {"selector": self.live.selector.name, "pair_keys": example_keys(examples)}
        base = self.live._base_record(pair, attempt, context)
        response = line.get("response") or {}
        status = int(response.get("status_code") or 0)
        if status != 200:
            text = json.dumps(response.get("body") or error)
            return replace(base, request_params=json.dumps(params), raw_response=self.live._redact(text),
                           error_class=f"http_{status}" if status else (error.get("code") or "batch_error"),
                           error_retryable=False)  # a batch line is never retried
        constrained = self.config.response_format != "none"  # request_line: json_schema under auto
        outcome = outcome_from_body(json.dumps(response.get("body")), constrained=constrained)
        valid = outcome.is_valid and outcome.fbl_label is not None
        cost = self.live.prices.cost(model, outcome.tokens_in, outcome.tokens_out)
        return replace(
            base, request_params=json.dumps(params), raw_response=self.live._redact(outcome.raw_response),
            fbl_label=outcome.fbl_label if valid else None,
            relation_label=prompt.relation_for(outcome.fbl_label) if valid and outcome.fbl_label else None,
            is_valid=valid, error_class=None if valid else (outcome.error_class or "invalid"),
            tokens_in=outcome.tokens_in, tokens_out=outcome.tokens_out,
            cost_usd=None if cost is None else cost * BATCH_PRICE_FACTOR,
            cache_key=self.live.cache_key(pair, attempt) if outcome.answered else None,
            label_prob=outcome.label_prob if valid else None,
            confidence_kind=outcome.confidence_kind if valid else None,
            error_retryable=None if valid else outcome.retryable,
        )


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(tzinfo=None)
