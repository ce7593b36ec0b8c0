"""What the next openai round will cost, before anything is spent (`karl plan`).

Calls: K per pair, minus calls already recorded (a resumed round) and calls the cache answers.
Tokens per call: the mean usage of recorded calls with the same prompt template and model when
there are any ("observed"), otherwise the prompt's messages counted by the model's tokenizer when
one ships offline ("exact", annotation/tokens.py), else a character heuristic ("estimate"); and
`DEFAULT_OUTPUT_TOKENS` out. Few-shot examples are in the messages counted.
Cost: tokens x the price table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import duckdb

from python_jobs.annotation import prompt
from python_jobs.annotation.base import CallContext, PairToAnnotate
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.tokens import counter_for, heuristic_tokens  # noqa: F401 - heuristic_tokens re-exported
from python_jobs.warehouse.live_rows import LIVE_CATALOG_ITEMS, LIVE_LABELLED_JUDGEMENTS

DEFAULT_OUTPUT_TOKENS = 60


@dataclass
class ModelPlan:
    model: str
    calls: int
    cached_calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float | None  # None: no price for the model
    token_source: str  # observed (n calls) | exact (tokenizer) | estimate (characters)


@dataclass
class RoundPlan:
    description: str
    pairs: int
    models: list[ModelPlan]
    sample_messages: list[dict[str, str]] | None = None  # one rendered prompt, as it would be sent
    sample_tokens: int | None = None
    sample_token_source: str = ""

    @property
    def calls(self) -> int:
        return sum(m.calls for m in self.models)

    @property
    def cost_usd(self) -> float | None:
        costs = [m.cost_usd for m in self.models]
        return None if any(c is None for c in costs) else sum(costs)  # type: ignore[misc]


def _observed(con: duckdb.DuckDBPyConnection, model: str) -> tuple[float, float, int] | None:
    row = con.execute(
        "select avg(tokens_in), avg(tokens_out), count(*) from raw.llm_calls "
        "where annotator_kind = 'openai' and prompt_hash = ? and model = ? and tokens_in is not null",
        [prompt.template_hash(), model],
    ).fetchone()
    return (float(row[0]), float(row[1]), int(row[2])) if row and row[2] else None


def plan_calls(con: duckdb.DuckDBPyConnection, annotator: OpenAIAnnotator, calls: Sequence[tuple[PairToAnnotate, int]],
               description: str, n_pairs: int) -> RoundPlan:
    config = annotator.config
    cached = set()
    if config.use_cache:
        keys = {annotator.cache_key(pair, attempt): (pair.pair_key, attempt) for pair, attempt in calls}
        cached = {keys[k] for k in DuckDBCallSink(con).find_cached_many(list(keys))}
    plans = []
    for model in config.models():
        mine = [(pair, attempt) for pair, attempt in calls if config.model_for(attempt) == model]
        to_send = [(pair, attempt) for pair, attempt in mine if (pair.pair_key, attempt) not in cached]
        observed = _observed(con, model)
        if observed:
            tokens_in = round(observed[0] * len(to_send))
            tokens_out = round(observed[1] * len(to_send))
            source = f"observed ({observed[2]} calls)"
        else:
            counter = counter_for(model)
            tokens_in = sum(counter.messages(annotator.messages_for(pair)) for pair, _ in to_send)
            tokens_out = DEFAULT_OUTPUT_TOKENS * len(to_send)
            source = counter.source
        plans.append(ModelPlan(model, len(to_send), len(mine) - len(to_send), tokens_in, tokens_out,
                               annotator.prices.cost(model, tokens_in, tokens_out), source))
    result = RoundPlan(description, n_pairs, plans)
    if calls:
        counter = counter_for(config.model_for(calls[0][1]))
        result.sample_messages = annotator.messages_for(calls[0][0])
        result.sample_tokens = counter.messages(result.sample_messages)
        result.sample_token_source = counter.source
    return result


def pending_round(con: duckdb.DuckDBPyConnection, run_id: str, k_calls: int) -> tuple[int, list[PairToAnnotate]] | None:
    """The latest round of a run with selected pairs still missing calls, with those pairs."""
    row = con.execute(
        """
        select s.round_index
        from raw.selections as s
        where s.run_id = ?
        group by s.round_index
        having count(*) * ? > (select count(*) from raw.llm_calls as c
                               where c.run_id = ? and c.round_index = s.round_index)
        order by s.round_index desc
        limit 1
        """,
        [run_id, k_calls, run_id],
    ).fetchone()
    if row is None:
        return None
    round_index = int(row[0])
    titles = _titles(con)
    rows = con.execute(
        "select pair_key, item_a_id, item_b_id from raw.selections where run_id = ? and round_index = ? order by pair_key",
        [run_id, round_index],
    ).fetchall()
    pairs = [PairToAnnotate(key, a, titles.get(a, ("", None))[0], b, titles.get(b, ("", None))[0],
                            titles.get(a, ("", None))[1], titles.get(b, ("", None))[1]) for key, a, b in rows]
    return round_index, pairs


def _titles(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str | None]]:
    """item_id -> (title, category path), from the items mart when built, else the raw tables."""
    try:
        rows = con.execute(
            "select item_id, title, concat_ws(' > ', category_l1, category_l2, category_l3) from marts.dim_items"
        ).fetchall()
    except duckdb.Error:
        rows = con.execute(
            f"""
            select item_a_id, any_value(item_a_title), null from {LIVE_LABELLED_JUDGEMENTS} as j group by 1
            union all
            select item_b_id, any_value(item_b_title), null from {LIVE_LABELLED_JUDGEMENTS} as j group by 1
            union all
            select item_id, title, concat_ws(' > ', category_l1, category_l2, category_l3) from {LIVE_CATALOG_ITEMS} as items
            """
        ).fetchall()
    return {r[0]: (r[1] or "", r[2] or None) for r in rows}


def typical_pairs(con: duckdb.DuckDBPyConnection, n_pairs: int, seed: int = 0) -> list[PairToAnnotate]:
    """n pairs of real item titles from the warehouse (random, seeded), standing in for pairs not
    selected yet; made-up titles of typical length when the warehouse holds no items."""
    titles = sorted(_titles(con).items())
    if not titles:
        return [PairToAnnotate(f"x{i}~y{i}", f"x{i}", "a product title " * 3, f"y{i}", "another product title " * 3)
                for i in range(n_pairs)]

    rng = random.Random(seed)
    pairs = []
    for i in range(n_pairs):
        (a, (title_a, cat_a)), (b, (title_b, cat_b)) = rng.choice(titles), rng.choice(titles)
        pairs.append(PairToAnnotate(f"plan{i}:{a}~{b}", a, title_a, b, title_b, cat_a, cat_b))
    return pairs


def plan(con: duckdb.DuckDBPyConnection, annotator: OpenAIAnnotator, k_calls: int = 3, budget: int = 50,
         rounds: int = 1, run_id: str | None = None) -> RoundPlan:
    """Plan the pending round of `run_id` exactly (pairs selected, calls missing), or else
    `rounds` rounds of `budget` pairs with titles drawn from the warehouse."""
    if run_id:
        pending = pending_round(con, run_id, k_calls)
        if pending is not None:
            round_index, pairs = pending
            missing = DuckDBCallSink(con).missing_attempts(CallContext(run_id, round_index, k_calls), pairs)
            return plan_calls(con, annotator, missing, f"run {run_id}, round {round_index} (selected pairs)", len(pairs))
    pairs = typical_pairs(con, budget * rounds)
    calls = [(pair, attempt) for pair in pairs for attempt in range(1, k_calls + 1)]
    what = f"{rounds} round(s) of {budget} pairs x {k_calls} calls (titles sampled from the warehouse)"
    return plan_calls(con, annotator, calls, what, len(pairs))
