"""Replay annotator: a pair's recorded human judgements served as its K calls.

Real annotator disagreement then meets the unanimity rule exactly as LLM votes would. A pair
with fewer recorded judgements than K gets the missing attempts recorded as invalid votes
(`no_recorded_judgement`), so it can never be accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

from python_jobs.annotation.base import (
    CallContext,
    CallRecord,
    CallSink,
    PairToAnnotate,
)

REPLAY_PROMPT_VERSION = "replay-v1"


@dataclass(frozen=True)
class RecordedJudgement:
    annotator_id: str
    relation_label: str | None
    fbl_label: int | None = None


class ReplayAnnotator:
    kind = "replay"

    def __init__(self, judgements: Mapping[str, Sequence[RecordedJudgement]], source: str = "fbl"):
        self._judgements = judgements
        self._source = source

    def annotate(self, pairs: Sequence[PairToAnnotate], context: CallContext, sink: CallSink) -> None:
        # Answers are instant and free: the round's calls land in one statement (one commit).
        calls: list[CallRecord] = []
        for pair, attempt in sink.missing_attempts(context, pairs):
            recorded = list(self._judgements.get(pair.pair_key, ()))
            judgement = recorded[attempt - 1] if attempt <= len(recorded) else None
            valid = judgement is not None and judgement.relation_label is not None
            calls.append(
                CallRecord.for_attempt(
                    context, pair, attempt, self.kind,
                    model=f"human:{judgement.annotator_id}" if judgement else "human:none",
                    prompt_version=REPLAY_PROMPT_VERSION,
                    prompt_hash=self._source,
                    request_params=json.dumps({"source": self._source}),
                    raw_response=json.dumps(judgement.__dict__) if judgement else None,
                    fbl_label=judgement.fbl_label if valid else None,
                    relation_label=judgement.relation_label if valid else None,
                    is_valid=valid,
                    error_class=None if valid else "no_recorded_judgement",
                )
            )
        sink.record_many(calls)
