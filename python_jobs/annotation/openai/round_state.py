"""What one annotate() call tracks while its workers run: formats, retries, spend, statistics."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from python_jobs.annotation.base import CallRecord
from python_jobs.annotation.openai.deadline import ResponseStarts
from python_jobs.config import LLMSettings


@dataclass
class RoundStats:
    calls_planned: int = 0
    calls_recorded: int = 0
    http_requests: int = 0
    retries: int = 0
    cache_hits: int = 0
    invalid: int = 0
    cost_usd: float = 0.0
    response_format: str = ""
    error_classes: dict[str, int] = field(default_factory=dict)


class RoundState:
    def __init__(self, config: LLMSettings, n_calls: int, spent_usd: float):
        self.format_mode = "json_schema" if config.response_format == "auto" else config.response_format
        self.logprobs = config.logprobs  # switched off for the round if the server rejects the parameter
        self.retry_budget = config.retry_budget if config.retry_budget is not None else max(10, n_calls // 5)
        self.retries_used = 0
        self.spent_usd = spent_usd
        self.reserved_usd = 0.0
        self.stopped_for_budget = False
        self.budget_changed = asyncio.Condition()
        self.stats = RoundStats(calls_planned=n_calls)
        self.writer: ThreadPoolExecutor | None = None
        self.cached: dict[str, CallRecord] = {}
        self.response_starts = ResponseStarts()  # the HTTP client's response hook (deadline.py)
