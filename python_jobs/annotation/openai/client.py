"""The `openai` annotator: K independent chat-completion calls per pair, every call recorded.

Works with any OpenAI-compatible endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp). Design:

- AsyncOpenAI with `max_retries=0`: retries are ours, so each call's `retries` column is true.
  Only retryable failures are retried (429 honouring retry-after, 408/409, 5xx, timeouts,
  dropped or cut connections), with exponential backoff and a retry budget shared by the round.
- Anything else is a recorded invalid vote with an `error_class`, never retried into a label:
  non-retryable HTTP errors, unparsable bodies or answers, refusals, truncated output, labels
  outside 1..9.
- `c` workers pull the missing (pair, attempt) calls; each call is recorded through the sink as
  soon as it completes, before the worker takes the next call. So at most `c` calls are ever
  "sent but not recorded" - the only calls a kill -9 can make us send twice.
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
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from email.utils import parsedate_to_datetime
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

import openai

try:  # the openai client's HTTP library: httpx, or its successor httpx2 in openai >= 3
    import httpx2 as _httpx
except ImportError:  # pragma: no cover
    import httpx as _httpx  # type: ignore[no-redef]

from python_jobs.annotation import prompt
from python_jobs.annotation.base import (
    BudgetExhausted,
    CallContext,
    CallRecord,
    CallSink,
    PairToAnnotate,
    call_id_for,
)
from python_jobs.testing.fake_llm_server import CALL_ID_HEADER
from python_jobs.annotation.pricing import PriceTable

log = logging.getLogger(__name__)

RESPONSE_FORMAT_MODES = ("auto", "json_schema", "json_object", "none")
RETRYABLE_STATUS = {408, 409, 429}
MAX_STORED_TEXT = 20_000


@dataclass(frozen=True)
class OpenAIAnnotatorConfig:
    model: str = "gpt-4o-mini"
    attempt_models: tuple[str, ...] = ()  # a heterogeneous panel: attempt i uses [(i-1) % n]
    base_url: str | None = None  # None: the openai default (api.openai.com)
    temperature: float = 0.7
    top_p: float | None = None
    seed: int = 0  # base of the per-call seeds; deliberately not the run seed, so runs share the cache
    send_seed: bool = True  # some servers reject `seed`
    max_tokens: int = 200
    timeout_s: float = 60.0
    concurrency: int = 8
    max_retries: int = 4  # per call
    retry_budget: int | None = None  # per annotate(); None: max(10, 20% of the calls)
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0
    response_format: str = "auto"  # auto: json_schema, falling back to json_object, then none
    max_cost_usd: float | None = None  # for the whole run (spend recorded in raw.llm_calls counts)
    use_cache: bool = True
    # After a crash, calls that were sent but never recorded are re-sent (True: at-least-once,
    # at most `concurrency` duplicates) or recorded as invalid `lost_in_flight` votes without a
    # request (False: at-most-once; costs one journal write per call).
    resend_in_flight: bool = True

    def __post_init__(self) -> None:
        if self.response_format not in RESPONSE_FORMAT_MODES:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMAT_MODES}")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")

    def model_for(self, attempt_index: int) -> str:
        if self.attempt_models:
            return self.attempt_models[(attempt_index - 1) % len(self.attempt_models)]
        return self.model

    def models(self) -> tuple[str, ...]:
        return self.attempt_models or (self.model,)


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


def per_call_seed(base_seed: int, pair_key: str, attempt_index: int) -> int:
    digest = hashlib.sha256(f"{base_seed}|{pair_key}|{attempt_index}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def sanitize_url(url: str | None) -> str | None:
    """Scheme, host and path only: no user:password@ and no query (Azure keys can live there)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def response_format_for(mode: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "fbl_label", "strict": True, "schema": prompt.answer_schema()}}
    if mode == "json_object":
        # llama.cpp's server constrains output with a schema given here.
        return {"type": "json_object", "schema": prompt.answer_schema()}
    return None


def _next_format(mode: str) -> str | None:
    return {"json_schema": "json_object", "json_object": "none"}.get(mode)


def _rejects_response_format(status: int, text: str) -> bool:
    lowered = text.lower()
    return status in (400, 422, 500) and ("response_format" in lowered or "json_schema" in lowered)


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@dataclass
class _Outcome:
    """The end of one call: a server answer (possibly invalid) or a give-up."""

    is_valid: bool
    error_class: str | None = None
    fbl_label: int | None = None
    raw_response: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    answered: bool = False  # the server returned a 200 body: cacheable
    note: str | None = None


class _RoundState:
    def __init__(self, config: OpenAIAnnotatorConfig, n_calls: int, spent_usd: float):
        self.format_mode = "json_schema" if config.response_format == "auto" else config.response_format
        self.retry_budget = config.retry_budget if config.retry_budget is not None else max(10, n_calls // 5)
        self.retries_used = 0
        self.spent_usd = spent_usd
        self.reserved_usd = 0.0
        self.stopped_for_budget = False
        self.budget_changed = asyncio.Condition()
        self.stats = RoundStats(calls_planned=n_calls)
        self.writer: ThreadPoolExecutor | None = None
        self.cached: dict[str, CallRecord] = {}


class OpenAIAnnotator:
    kind = "openai"

    def __init__(
        self,
        config: OpenAIAnnotatorConfig,
        api_key: str,
        prices: PriceTable | None = None,
    ):
        if not api_key:
            raise ValueError("an API key is required (OPENAI_API_KEY)")
        self.config = config
        self._api_key = api_key
        self.prices = prices or PriceTable()
        self.last_stats: RoundStats | None = None
        if config.max_cost_usd is not None:
            unpriced = [m for m in config.models() if self.prices.price_for(m) is None]
            if unpriced:
                raise ValueError(
                    f"no price for model(s) {unpriced}: a cost budget needs prices "
                    "(add them to a KARL_LLM_PRICES JSON file, '*' for a default)"
                )

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIAnnotator(config={self.config!r})"

    # --- construction from the environment ----------------------------------------------
    @classmethod
    def from_env(
        cls,
        overrides: Mapping[str, Any] | Any | None = None,
        env: Mapping[str, str] | None = None,
    ) -> "OpenAIAnnotator":
        """Build from the environment: OPENAI_API_KEY, OPENAI_BASE_URL, KARL_LLM_MODEL (and the
        optional KARL_LLM_CONCURRENCY, KARL_LLM_TIMEOUT_S, KARL_LLM_RESPONSE_FORMAT,
        KARL_LLM_ATTEMPT_MODELS (comma-separated panel), KARL_LLM_RESEND_IN_FLIGHT (0 for
        at-most-once), KARL_LLM_PRICES).

        `overrides` is either a mapping of OpenAIAnnotatorConfig fields (e.g. max_cost_usd,
        concurrency, temperature, attempt_models) or a run config object: from that, its
        `max_cost_usd` and any `llm_<field>` attributes are taken. None values are ignored."""
        env = os.environ if env is None else env
        if overrides is not None and not isinstance(overrides, Mapping):
            run_config = overrides
            overrides = {"max_cost_usd": getattr(run_config, "max_cost_usd", None)}
            for item in fields(OpenAIAnnotatorConfig):
                if hasattr(run_config, f"llm_{item.name}"):
                    overrides[item.name] = getattr(run_config, f"llm_{item.name}")
        values: dict[str, Any] = {}
        if env.get("OPENAI_BASE_URL"):
            values["base_url"] = env["OPENAI_BASE_URL"]
        if env.get("KARL_LLM_MODEL"):
            values["model"] = env["KARL_LLM_MODEL"]
        if env.get("KARL_LLM_CONCURRENCY"):
            values["concurrency"] = int(env["KARL_LLM_CONCURRENCY"])
        if env.get("KARL_LLM_TIMEOUT_S"):
            values["timeout_s"] = float(env["KARL_LLM_TIMEOUT_S"])
        if env.get("KARL_LLM_RESPONSE_FORMAT"):
            values["response_format"] = env["KARL_LLM_RESPONSE_FORMAT"]
        if env.get("KARL_LLM_ATTEMPT_MODELS"):
            values["attempt_models"] = tuple(m.strip() for m in env["KARL_LLM_ATTEMPT_MODELS"].split(",") if m.strip())
        if env.get("KARL_LLM_RESEND_IN_FLIGHT"):
            values["resend_in_flight"] = env["KARL_LLM_RESEND_IN_FLIGHT"].strip().lower() not in ("0", "false", "no")
        known = {f.name for f in fields(OpenAIAnnotatorConfig)}
        for name, value in (overrides or {}).items():
            if name not in known:
                raise ValueError(f"unknown openai annotator setting {name!r}; known: {sorted(known)}")
            if value is not None:
                values[name] = tuple(value) if name == "attempt_models" else value
        config = OpenAIAnnotatorConfig(**values)
        api_key = env.get("OPENAI_API_KEY", "")
        if not api_key:
            if config.base_url and urlsplit(config.base_url).hostname in ("127.0.0.1", "localhost", "::1"):
                api_key = "not-needed-for-a-local-server"
            else:
                raise ValueError("OPENAI_API_KEY is not set (needed unless OPENAI_BASE_URL is a local server)")
        return cls(config, api_key=api_key, prices=PriceTable.from_env(env))

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
            if not hasattr(sink, "mark_sending"):
                raise ValueError("resend_in_flight=False needs a sink with a send journal (DuckDBCallSink)")
            lost = sink.sent_unrecorded(context)
            for pair, attempt in [item for item in missing if self._call_id(context, *item) in lost]:
                sink.record(self._lost_in_flight(pair, attempt, context))
            missing = [item for item in missing if self._call_id(context, *item) not in lost]
        spent = sink.spent_usd(context.run_id) if hasattr(sink, "spent_usd") else 0.0
        state = _RoundState(self.config, len(missing), spent)
        self.last_stats = state.stats
        if not missing:
            return
        queue: asyncio.Queue[tuple[PairToAnnotate, int]] = asyncio.Queue()
        for item in missing:
            queue.put_nowait(item)
        client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.config.base_url,
            max_retries=0,
            timeout=self.config.timeout_s,
        )
        if self.config.use_cache:
            keys = [self.cache_key(pair, attempt) for pair, attempt in missing]
            if hasattr(sink, "find_cached_many"):
                state.cached = sink.find_cached_many(keys)
            elif hasattr(sink, "find_cached"):
                state.cached = {k: hit for k in keys if (hit := sink.find_cached(k)) is not None}
        # One writer thread: records are written without blocking the loop, calls that complete
        # together in one commit.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="karl-call-writer")
        state.writer = writer
        recorder = _GroupRecorder(sink, writer)
        try:
            workers = [
                asyncio.create_task(self._worker(queue, context, sink, client, recorder, state))
                for _ in range(min(self.config.concurrency, len(missing)))
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
        return CallRecord(
            run_id=context.run_id,
            round_index=context.round_index,
            pair_key=pair.pair_key,
            item_a_id=pair.item_a_id,
            item_b_id=pair.item_b_id,
            attempt_index=attempt,
            annotator_kind=self.kind,
            model=self.config.model_for(attempt),
            prompt_version=prompt.PROMPT_VERSION,
            prompt_hash=prompt.template_hash(),
            is_valid=False,
        )

    def _lost_in_flight(self, pair: PairToAnnotate, attempt: int, context: CallContext) -> CallRecord:
        note = "sent before the process died, answer never recorded; not re-sent (resend_in_flight=false)"
        return replace(self._base_record(pair, attempt, context), error_class="lost_in_flight",
                       request_params=json.dumps({"note": note}))

    def estimate_call_cost(self, pair: PairToAnnotate, attempt_index: int) -> float:
        """Upper-ish estimate used to reserve budget: ~3 chars a token in, max_tokens out."""
        chars = sum(len(m["content"]) for m in prompt.build_messages(pair))
        return self.prices.cost(self.config.model_for(attempt_index), chars // 3 + 1, self.config.max_tokens) or 0.0

    async def _worker(self, queue, context, sink, client, recorder: "_GroupRecorder", state: _RoundState) -> None:  # noqa: ANN001
        while not state.stopped_for_budget:
            try:
                pair, attempt = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            reserve = 0.0
            answered_by_cache = self.config.use_cache and self.cache_key(pair, attempt) in state.cached
            if self.config.max_cost_usd is not None and not answered_by_cache:
                reserve = self.estimate_call_cost(pair, attempt)
                if not await self._reserve(state, reserve):
                    queue.put_nowait((pair, attempt))
                    return
            record = None
            try:
                record = await self._call(pair, attempt, context, sink, client, state)
            finally:
                state.reserved_usd -= reserve
                state.spent_usd += (record.cost_usd or 0.0) if record else 0.0
                async with state.budget_changed:
                    state.budget_changed.notify_all()
            await recorder.record(record)  # committed before this worker takes another call
            stats = state.stats
            stats.calls_recorded += 1
            stats.cost_usd += record.cost_usd or 0.0
            if not record.is_valid:
                stats.invalid += 1
                stats.error_classes[record.error_class or "?"] = stats.error_classes.get(record.error_class or "?", 0) + 1

    async def _reserve(self, state: _RoundState, reserve: float) -> bool:
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

    def cache_key(self, pair: PairToAnnotate, attempt_index: int) -> str:
        model = self.config.model_for(attempt_index)
        seed = per_call_seed(self.config.seed, pair.pair_key, attempt_index) if self.config.send_seed else None
        material = {
            "endpoint": sanitize_url(self.config.base_url) or "openai-default",
            "request": self._request_params(model, seed),
            "messages": prompt.build_messages(pair),
            "prompt_version": prompt.PROMPT_VERSION,
            "prompt_hash": prompt.template_hash(),
            "response_format": self.config.response_format,
            "attempt_index": attempt_index,
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]

    def _redact(self, text: str | None) -> str | None:
        if text is None:
            return None
        return text.replace(self._api_key, "[redacted]")[:MAX_STORED_TEXT]

    async def _call(self, pair, attempt, context, sink, client, state: _RoundState) -> CallRecord:  # noqa: ANN001
        config = self.config
        model = config.model_for(attempt)
        seed = per_call_seed(config.seed, pair.pair_key, attempt) if config.send_seed else None
        messages = prompt.build_messages(pair)
        call_id = self._call_id(context, pair, attempt)
        cache_key = self.cache_key(pair, attempt)
        base = self._base_record(pair, attempt, context)
        params: dict[str, Any] = {
            **self._request_params(model, seed),
            "endpoint": sanitize_url(config.base_url),
            "timeout_s": config.timeout_s,
            "messages_sha256": prompt.messages_hash(messages),
        }
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
                )
        if not config.resend_in_flight:
            await asyncio.get_running_loop().run_in_executor(
                state.writer, sink.mark_sending, call_id, context, pair.pair_key, attempt)
        started = time.perf_counter()
        outcome, retries, http_requests, mode = await self._send_with_retries(client, call_id, params, messages, state)
        state.stats.http_requests += http_requests
        state.stats.retries += retries
        params.update(response_format=mode, http_requests=http_requests)
        if outcome.note:
            params["note"] = outcome.note
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
        )

    async def _send_with_retries(self, client, call_id, params, messages, state: _RoundState):  # noqa: ANN001
        """Send one call until it has an outcome. Returns (outcome, retries, http_requests, format)."""
        config = self.config
        retries = 0
        http_requests = 0
        while True:
            mode = state.format_mode
            kwargs: dict[str, Any] = {k: params[k] for k in ("model", "temperature", "max_tokens", "top_p", "seed") if k in params}
            response_format = response_format_for(mode)
            if response_format is not None:
                kwargs["response_format"] = response_format
            http_requests += 1
            delay_hint: float | None = None
            try:
                # The client's generic post: same transport, auth and typed errors as
                # chat.completions.create, without its per-call parameter transformation (a few
                # ms of CPU per call, which caps throughput at high concurrency).
                raw = await client.post(
                    "/chat/completions",
                    cast_to=_httpx.Response,
                    body={"messages": messages, **kwargs},
                    options={"headers": {CALL_ID_HEADER: call_id}},
                )
                return _outcome_from_body(raw.text), retries, http_requests, mode
            except openai.APITimeoutError:
                error_class, body_text = "timeout", None
            except openai.APIConnectionError as error:
                error_class, body_text = "connection_error", f"{type(error.__cause__ or error).__name__}"
            except openai.APIStatusError as error:
                status = error.status_code
                body_text = _response_text(error)
                if config.response_format == "auto" and mode != "none" and _rejects_response_format(status, body_text):
                    next_mode = _next_format(mode)
                    if next_mode and state.format_mode == mode:
                        log.warning("server rejected response_format %s (HTTP %d); falling back to %s", mode, status, next_mode)
                        state.format_mode = next_mode
                    continue  # a negotiation, not a retry of a failure
                if status == 429:
                    error_class = "rate_limited"
                    delay_hint = _retry_after_seconds(error.response.headers)
                elif status >= 500 or status in RETRYABLE_STATUS:
                    error_class = "server_error" if status >= 500 else f"http_{status}"
                    delay_hint = _retry_after_seconds(error.response.headers)
                else:
                    return (
                        _Outcome(False, f"http_{status}", raw_response=body_text, note="non-retryable HTTP status"),
                        retries, http_requests, mode,
                    )
            # Retryable failure.
            if retries >= config.max_retries:
                return _Outcome(False, error_class, raw_response=body_text, note="retries exhausted"), retries, http_requests, mode
            if state.retries_used >= state.retry_budget:
                return _Outcome(False, error_class, raw_response=body_text, note="retry budget exhausted"), retries, http_requests, mode
            state.retries_used += 1
            retries += 1
            await asyncio.sleep(self._backoff(retries, delay_hint))

    def _backoff(self, retry_number: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.config.max_retry_after_s)
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (retry_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class _GroupRecorder:
    """Hands completed calls to the sink from one writer thread. Calls completing while a write
    is under way are written together next (one commit), via `record_many` when the sink has it.
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
        if len(calls) > 1 and hasattr(self._sink, "record_many"):
            self._sink.record_many(calls)
        else:
            for call in calls:
                self._sink.record(call)

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


def _response_text(error: openai.APIStatusError) -> str:
    try:
        return error.response.text
    except Exception:  # noqa: BLE001 - a body we cannot read is just unknown
        return str(error.message)


def _outcome_from_body(text: str) -> _Outcome:
    """Judge a 200 response body: a valid vote, or an invalid one with its error class."""
    try:
        body = json.loads(text)
        choice = body["choices"][0]
        message = choice.get("message") or {}
        finish_reason = choice.get("finish_reason")
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return _Outcome(False, "malformed_response", raw_response=text, answered=True)
    usage = body.get("usage") or {}
    tokens = {"tokens_in": usage.get("prompt_tokens"), "tokens_out": usage.get("completion_tokens")}
    if message.get("refusal") or finish_reason == "content_filter":
        return _Outcome(False, "refusal", raw_response=text, answered=True, **tokens)
    if finish_reason == "length":
        return _Outcome(False, "truncated_output", raw_response=text, answered=True, **tokens)
    parsed = prompt.parse_answer(message.get("content"))
    return _Outcome(parsed.is_valid, parsed.error_class, parsed.fbl_label, raw_response=text, answered=True, **tokens)


def config_as_dict(config: OpenAIAnnotatorConfig) -> dict[str, Any]:
    """The config for runs.config_json: no secrets live in it, the endpoint is sanitised."""
    data = asdict(config)
    data["base_url"] = sanitize_url(config.base_url)
    return data
