"""The `openai` annotator: K independent chat-completion calls per pair, every call recorded.

Works with any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp). Design:

- AsyncOpenAI with `max_retries=0`: retries are ours, so each call's `retries` column is true.
  Only retryable failures are retried (429 honouring retry-after, 408/409, 5xx, timeouts,
  dropped or cut connections), with exponential backoff and a retry budget shared by the round.
- Anything else is a recorded invalid vote with an `error_class`, never retried into a label:
  non-retryable HTTP errors, unparsable bodies or answers, refusals, truncated output, labels
  outside 1..9.
- `c` workers pull the missing (pair, attempt) calls; each call is handed to the group recorder
  as soon as it completes and committed (in a group of about c/4 calls, or after 30 ms) while
  its worker sends the next one; the worker waits for that commit before handing over another.
  So at most 2c calls are ever "sent but not recorded" - the only calls a kill -9 can make us
  send twice - and a call counts only once committed.
- HTTP through aiohttp when installed (the `openai[aiohttp]` extra; transport.py): a third less
  client CPU a call than the default httpx pool at c = 64.
- `x-should-retry` from the server overrules the status code's retry rule either way.
- Token logprobs are asked for (`logprobs` with `top_logprobs: 0`, which llama.cpp needs), and
  the label's probability is recorded with what kind of confidence it is (logprobs.py).
- `timeout_s` is a deadline for each whole request, not only for each read (deadline.py).
- Few-shot examples from the human labels (annotation/few_shot.py), chosen per pair by the
  selector, are in the messages, the cache key and the call's request_params.
- A call cache keyed by everything that changes the answer, the attempt index included: an
  identical request made in another run reuses the recorded answer at zero cost.
- A cost budget checked before each call against spent + in-flight estimates; when spent, the
  round stops cleanly (in-flight calls finish and are recorded) and `BudgetExhausted` is raised.

Secrets: the API key comes from the environment and only ever goes to the HTTP client; it is
redacted from any server text we store and never enters request_params.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import openai

from python_jobs.annotation import prompt
from python_jobs.annotation.base import (
    BudgetExhausted,
    CallContext,
    CallRecord,
    CallSink,
    PairToAnnotate,
    call_id_for,
)
from python_jobs.annotation.few_shot import (
    ExamplePool,
    FewShotSelector,
    NoExamples,
    example_keys,
    make_selector,
)
from python_jobs.annotation.openai.protocol import (
    MAX_STORED_TEXT,
    per_call_seed,
    sanitize_url,
)
from python_jobs.annotation.openai.recorder import GroupRecorder
from python_jobs.annotation.openai.round_state import RoundState, RoundStats
from python_jobs.annotation.openai.sending import send_with_retries
from python_jobs.annotation.openai.transport import http_client_for
from python_jobs.annotation.pricing import PriceTable
from python_jobs.config import LLMSettings, llm_settings_from_env
from python_jobs.errors import KarlError

log = logging.getLogger(__name__)


class MissingApiKeyError(KarlError, ValueError):
    """The openai annotator needs a key and the environment has none."""


class MissingPriceError(KarlError, ValueError):
    """A cost budget was asked for a model without a price."""


class OpenAIAnnotator:
    kind = "openai"

    def __init__(
        self,
        config: LLMSettings,
        api_key: str,
        prices: PriceTable | None = None,
        selector: FewShotSelector | None = None,
    ):
        if not api_key:
            raise ValueError("an API key is required (OPENAI_API_KEY)")
        self.config = config
        self._api_key = api_key
        self.prices = prices or PriceTable()
        self.selector: FewShotSelector = selector or NoExamples()
        if config.few_shot != "none" and self.selector.name != config.few_shot:
            raise ValueError(f"few_shot={config.few_shot!r} needs a {config.few_shot} selector (annotation/few_shot_pool.py)")
        self.last_stats: RoundStats | None = None
        if config.max_cost_usd is not None:
            unpriced = [m for m in config.models() if self.prices.price_for(m) is None]
            if unpriced:
                raise MissingPriceError(
                    f"no price for model(s) {unpriced}: a cost budget needs prices "
                    "(add them to a KARL_LLM_PRICES JSON file, '*' for a default)"
                )

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIAnnotator(config={self.config!r})"

    # --- construction from the environment ----------------------------------------------
    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None,
                 env: Mapping[str, str] | None = None, example_pool: ExamplePool | None = None) -> OpenAIAnnotator:
        """Settings from the environment (config.LLM_ENVIRONMENT) with `overrides` (LLMSettings
        fields, e.g. a run's max_cost_usd); the key from OPENAI_API_KEY (none needed for a
        server on this machine); prices from KARL_LLM_PRICES. A few-shot setting needs
        `example_pool` (annotation/few_shot_pool.load_pool)."""
        env = os.environ if env is None else env
        config = llm_settings_from_env(env, overrides)
        selector = None
        if config.few_shot != "none":
            if example_pool is None:
                raise ValueError(f"few_shot={config.few_shot!r} needs the human-labelled example pool")
            selector = make_selector(config.few_shot, example_pool, config.few_shot_k, config.seed)
        api_key = env.get("OPENAI_API_KEY", "")
        if not api_key:
            if config.base_url and urlsplit(config.base_url).hostname in ("127.0.0.1", "localhost", "::1"):
                api_key = "not-needed-for-a-local-server"
            else:
                raise MissingApiKeyError(
                    "OPENAI_API_KEY is not set (needed unless OPENAI_BASE_URL is a local server)")
        return cls(config, api_key=api_key, prices=PriceTable.from_env(env), selector=selector)

    # --- the interface ------------------------------------------------------------------
    def annotate(self, pairs: Sequence[PairToAnnotate], context: CallContext, sink: CallSink) -> None:
        coroutine = self.annotate_async(pairs, context, sink)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(coroutine)
            return
        # Called from inside an event loop (a notebook): run ours in a thread of its own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, coroutine).result()

    async def annotate_async(self, pairs: Sequence[PairToAnnotate], context: CallContext, sink: CallSink) -> None:
        missing = sink.missing_attempts(context, pairs)
        if not self.config.resend_in_flight:
            lost = sink.sent_unrecorded(context)
            for pair, attempt in [item for item in missing if self._call_id(context, *item) in lost]:
                sink.record(self._lost_in_flight(pair, attempt, context))
            missing = [item for item in missing if self._call_id(context, *item) not in lost]
        spent = sink.spent_usd(context.run_id)
        state = RoundState(self.config, len(missing), spent)
        self.last_stats = state.stats
        if not missing:
            return
        queue: asyncio.Queue[tuple[PairToAnnotate, int]] = asyncio.Queue()
        for item in missing:
            queue.put_nowait(item)
        n_workers = min(self.config.concurrency, len(missing))
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.config.base_url,
            max_retries=0,
            timeout=self.config.timeout_s,
            http_client=http_client_for(n_workers, state.response_starts.hook),
        )
        if self.config.use_cache:
            keys = [self.cache_key(pair, attempt) for pair, attempt in missing]
            state.cached = sink.find_cached_many(keys)
        # One writer thread: records are written without blocking the loop, in group commits of
        # about a quarter of the workers' calls (recorder.py).
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="karl-call-writer")
        state.writer = writer
        recorder = GroupRecorder(sink, writer, group_size=n_workers // 4)
        try:
            workers = [
                asyncio.create_task(self._worker(queue, context, sink, client, recorder, state))
                for _ in range(n_workers)
            ]
            await asyncio.gather(*workers)
        finally:
            writer.shutdown(wait=True)
            await client.close()
        state.stats.response_format = state.format_mode
        log.info(
            "openai annotator: %d calls recorded, %d http requests, %d retries, %d cache hits, %d invalid, $%.4f",
            state.stats.calls_recorded, state.stats.http_requests, state.stats.retries,
            state.stats.cache_hits, state.stats.invalid, state.stats.cost_usd,
        )
        if state.stopped_for_budget:
            raise BudgetExhausted(state.spent_usd, self.config.max_cost_usd or 0.0, queue.qsize())

    # --- workers ------------------------------------------------------------------------
    @staticmethod
    def _call_id(context: CallContext, pair: PairToAnnotate, attempt: int) -> str:
        return call_id_for(context.run_id, context.round_index, pair.pair_key, attempt)

    def _base_record(self, pair: PairToAnnotate, attempt: int, context: CallContext) -> CallRecord:
        return CallRecord.for_attempt(
            context, pair, attempt, self.kind,
            model=self.config.model_for(attempt),
            prompt_version=prompt.PROMPT_VERSION,
            prompt_hash=prompt.template_hash(),
            is_valid=False,
        )

    def _lost_in_flight(self, pair: PairToAnnotate, attempt: int, context: CallContext) -> CallRecord:
        note = "sent before the process died, answer never recorded; not re-sent (resend_in_flight=false)"
        return replace(self._base_record(pair, attempt, context), error_class="lost_in_flight",
                       error_retryable=False, request_params=json.dumps({"note": note}))

    def estimate_call_cost(self, pair: PairToAnnotate, attempt_index: int) -> float:
        """Upper-ish estimate used to reserve budget: ~3 chars a token in, max_tokens out."""
        chars = sum(len(m["content"]) for m in self.messages_for(pair))
        return self.prices.cost(self.config.model_for(attempt_index), chars // 3 + 1, self.config.max_tokens) or 0.0

    async def _worker(self, queue, context, sink, client, recorder: GroupRecorder, state: RoundState) -> None:
        """Take calls until the queue is empty. A completed call is handed to the group recorder
        and the worker sends its next call while the commit runs; it waits for that commit
        before handing over the next record. So a worker has at most one call sent and one
        awaiting its commit: at most 2 x concurrency calls are unrecorded at any moment, and a
        call counts (stats, round end) only once committed. Measured: waiting for each commit
        before the next send cost 10-20 % of c/L at c = 32-64 (docs/llm_annotator.md)."""
        committing: asyncio.Future[None] | None = None
        try:
            while not state.stopped_for_budget:
                try:
                    pair, attempt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                record = await self._one_call(pair, attempt, queue, context, sink, client, state)
                if record is None:
                    return
                if committing is not None:
                    await committing
                committing = asyncio.ensure_future(self._commit(record, recorder, state))
        finally:
            if committing is not None:
                await committing

    async def _commit(self, record: CallRecord, recorder: GroupRecorder, state: RoundState) -> None:
        await recorder.record(record)
        stats = state.stats
        stats.calls_recorded += 1
        stats.cost_usd += record.cost_usd or 0.0
        if not record.is_valid:
            stats.invalid += 1
            stats.error_classes[record.error_class or "?"] = stats.error_classes.get(record.error_class or "?", 0) + 1

    async def _one_call(self, pair, attempt, queue, context, sink, client, state: RoundState) -> CallRecord | None:
        """Send one call, budget permitting; None when the budget stopped the round."""
        reserve = 0.0
        answered_by_cache = self.config.use_cache and self.cache_key(pair, attempt) in state.cached
        if self.config.max_cost_usd is not None and not answered_by_cache:
            reserve = self.estimate_call_cost(pair, attempt)
            if not await self._reserve(state, reserve):
                queue.put_nowait((pair, attempt))
                return None
        record = None
        try:
            record = await self._call(pair, attempt, context, sink, client, state)
        finally:
            state.reserved_usd -= reserve
            state.spent_usd += (record.cost_usd or 0.0) if record else 0.0
            async with state.budget_changed:
                state.budget_changed.notify_all()
        return record

    async def _reserve(self, state: RoundState, reserve: float) -> bool:
        """Reserve the estimate of one call within the budget. While calls are in flight, wait
        for their real cost (estimates are pessimistic); stop only when nothing is in flight and
        the call still does not fit."""
        budget = self.config.max_cost_usd or 0.0
        async with state.budget_changed:
            while not state.stopped_for_budget and state.spent_usd + state.reserved_usd + reserve > budget:
                if state.reserved_usd <= 1e-12:
                    state.stopped_for_budget = True
                    state.budget_changed.notify_all()
                    break
                await state.budget_changed.wait()
            if state.stopped_for_budget:
                return False
            state.reserved_usd += reserve
            return True

    def _request_params(self, model: str, seed: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"model": model, "temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        if self.config.top_p is not None:
            params["top_p"] = self.config.top_p
        if seed is not None:
            params["seed"] = seed
        return params

    def messages_for(self, pair: PairToAnnotate) -> list[dict[str, str]]:
        """The call's messages: the few-shot examples the selector picks for this pair, then the pair."""
        return prompt.build_messages(pair, self.selector.select(pair))

    def cache_key(self, pair: PairToAnnotate, attempt_index: int) -> str:
        model = self.config.model_for(attempt_index)
        seed = per_call_seed(self.config.seed, pair.pair_key, attempt_index) if self.config.send_seed else None
        material = {
            "endpoint": sanitize_url(self.config.base_url) or "openai-default",
            "request": self._request_params(model, seed),
            "messages": self.messages_for(pair),  # the few-shot examples included
            "prompt_version": prompt.PROMPT_VERSION,
            "prompt_hash": prompt.template_hash(),
            "response_format": self.config.response_format,
            "attempt_index": attempt_index,
            **({"logprobs": True} if self.config.logprobs else {}),
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]

    def _redact(self, text: str | None) -> str | None:
        if text is None:
            return None
        return text.replace(self._api_key, "[redacted]")[:MAX_STORED_TEXT]

    async def _call(self, pair, attempt, context, sink, client, state: RoundState) -> CallRecord:
        config = self.config
        model = config.model_for(attempt)
        seed = per_call_seed(config.seed, pair.pair_key, attempt) if config.send_seed else None
        examples = self.selector.select(pair)
        messages = prompt.build_messages(pair, examples)
        call_id = self._call_id(context, pair, attempt)
        cache_key = self.cache_key(pair, attempt)
        base = self._base_record(pair, attempt, context)
        params: dict[str, Any] = {
            **self._request_params(model, seed),
            "endpoint": sanitize_url(config.base_url),
            "timeout_s": config.timeout_s,
            "messages_sha256": prompt.messages_hash(messages),
        }
        if examples:
            params["few_shot"] = {"selector": self.selector.name, "pair_keys": example_keys(examples)}
        if config.use_cache:
            cached = state.cached.get(cache_key)
            if cached is not None:
                state.stats.cache_hits += 1
                params.update(cache_hit=True, cached_call_id=cached.call_id, response_format=None)
                return replace(
                    base,
                    model=cached.model,
                    request_params=json.dumps(params),
                    raw_response=cached.raw_response,
                    fbl_label=cached.fbl_label,
                    relation_label=cached.relation_label,
                    is_valid=cached.is_valid,
                    error_class=cached.error_class,
                    tokens_in=cached.tokens_in,
                    tokens_out=cached.tokens_out,
                    cost_usd=0.0,
                    latency_ms=0.0,
                    cache_key=cache_key,
                    label_prob=cached.label_prob,
                    confidence_kind=cached.confidence_kind,
                    error_retryable=cached.error_retryable,
                )
        if not config.resend_in_flight:
            await asyncio.get_running_loop().run_in_executor(
                state.writer, sink.mark_sending, call_id, context, pair.pair_key, attempt)
        started = time.perf_counter()
        outcome, retries, http_requests, mode = await send_with_retries(client, self.config, call_id, params, messages, state)
        state.stats.http_requests += http_requests
        state.stats.retries += retries
        params.update(response_format=mode, http_requests=http_requests)
        if outcome.note:
            params["note"] = outcome.note
        if outcome.request_errors:
            params["request_errors"] = list(outcome.request_errors)  # the failures the retries followed
        valid = outcome.is_valid and outcome.fbl_label is not None
        return replace(
            base,
            request_params=json.dumps(params),
            raw_response=self._redact(outcome.raw_response),
            fbl_label=outcome.fbl_label if valid else None,
            relation_label=prompt.relation_for(outcome.fbl_label) if valid and outcome.fbl_label else None,
            is_valid=valid,
            error_class=None if valid else (outcome.error_class or "invalid"),
            retries=retries,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            cost_usd=self.prices.cost(model, outcome.tokens_in, outcome.tokens_out),
            latency_ms=(time.perf_counter() - started) * 1000,
            cache_key=cache_key if outcome.answered else None,
            label_prob=outcome.label_prob if valid else None,
            confidence_kind=outcome.confidence_kind if valid else None,
            error_retryable=None if valid else outcome.retryable,
        )
