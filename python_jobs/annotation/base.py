"""The one interface every annotator implements, and the record each call leaves behind.

An annotator receives the pairs selected in a round and, for each pair, makes K independent
calls (attempt_index 1..K). Every call - valid or not - is handed to `CallSink.record` (or `record_many`) as
soon as it completes, before anything else happens, so a crash never loses a paid call. Before
calling, an annotator asks the sink which (pair, attempt) calls are still missing, so a
resumed round never pays twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol, Sequence

from python_jobs.errors import KarlError


@dataclass(frozen=True)
class PairToAnnotate:
    pair_key: str
    item_a_id: str
    item_a_title: str
    item_b_id: str
    item_b_title: str
    item_a_category: str | None = None   # 'dept > category > type' when the catalogue has one
    item_b_category: str | None = None


@dataclass(frozen=True)
class CallContext:
    run_id: str
    round_index: int
    k_calls: int = 3


def call_id_for(run_id: str, round_index: int, pair_key: str, attempt_index: int) -> str:
    """Deterministic id of one call: the same call in a resumed run has the same id."""
    text = f"{run_id}|{round_index}|{pair_key}|{attempt_index}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class CallRecord:
    """One row of raw.llm_calls."""

    run_id: str
    round_index: int
    pair_key: str
    item_a_id: str
    item_b_id: str
    attempt_index: int
    annotator_kind: str
    model: str
    prompt_version: str
    prompt_hash: str
    is_valid: bool
    request_params: str | None = None
    raw_response: str | None = None
    fbl_label: int | None = None
    relation_label: str | None = None
    error_class: str | None = None
    retries: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))
    cache_key: str | None = None  # openai annotator: hash of everything that changes the answer
    label_prob: float | None = None  # the model's probability of its label (token logprobs), when given
    confidence_kind: str | None = None  # openai: what label_prob is, or why there is none (openai/logprobs.py)
    error_retryable: bool | None = None  # openai: a failure of a retried kind (retries ran out); null when valid

    @classmethod
    def for_attempt(cls, context: CallContext, pair: PairToAnnotate, attempt_index: int, annotator_kind: str,
                    **fields: object) -> CallRecord:
        """The record of call `attempt_index` on `pair` in the context's run and round."""
        return cls(run_id=context.run_id, round_index=context.round_index, pair_key=pair.pair_key,
                   item_a_id=pair.item_a_id, item_b_id=pair.item_b_id, attempt_index=attempt_index,
                   annotator_kind=annotator_kind, **fields)

    @property
    def call_id(self) -> str:
        return call_id_for(self.run_id, self.round_index, self.pair_key, self.attempt_index)


class CallSink(Protocol):
    """Where an annotator's calls go (annotation/call_log.DuckDBCallSink in a run): what is still
    missing, each completed call, and for the openai annotator its cache, the run's spend and
    the send journal of at-most-once mode."""

    def missing_attempts(
        self, context: CallContext, pairs: Sequence[PairToAnnotate]
    ) -> list[tuple[PairToAnnotate, int]]: ...

    def record(self, call: CallRecord) -> None: ...

    def record_many(self, calls: Sequence[CallRecord]) -> None:
        """Record calls that completed together in one statement (one commit)."""
        ...

    def find_cached_many(self, cache_keys: Sequence[str]) -> dict[str, CallRecord]:
        """Earlier answers to identical requests (same cache key)."""
        ...

    def spent_usd(self, run_id: str) -> float:
        """What a run has spent so far (USD, recorded calls)."""
        ...

    def mark_sending(self, call_id: str, context: CallContext, pair_key: str, attempt_index: int) -> None:
        """Journal a call about to be sent (at-most-once mode)."""
        ...

    def sent_unrecorded(self, context: CallContext) -> set[str]:
        """Calls journalled as sent but never recorded (lost in flight by a crash)."""
        ...


class BatchPending(KarlError):
    """A Batch API batch is still running; run again (or `--resume`) to poll the same batch."""


class BatchFailed(KarlError):
    """The provider rejected a batch (validation); nothing was recorded."""


class BudgetExhausted(RuntimeError):
    """An annotator stopped because the cost budget is spent. Every completed call is recorded;
    the missing calls of the round are sent when the run resumes with a larger budget."""

    def __init__(self, spent_usd: float, max_cost_usd: float, calls_missing: int):
        super().__init__(
            f"cost budget exhausted: spent ${spent_usd:.4f} of ${max_cost_usd:.4f}; "
            f"{calls_missing} call(s) of this round not sent (resume with a larger --max-cost)"
        )
        self.spent_usd = spent_usd
        self.max_cost_usd = max_cost_usd
        self.calls_missing = calls_missing


class Annotator(Protocol):
    kind: str

    def annotate(
        self, pairs: Sequence[PairToAnnotate], context: CallContext, sink: CallSink
    ) -> None:
        """Make the missing K calls per pair and record each one through `sink` as it completes."""
        ...
