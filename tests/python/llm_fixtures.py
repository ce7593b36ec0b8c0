"""Shared helpers of the openai-annotator tests: synthetic pairs (made-up titles, never FBL rows),
a fast annotator config against the local fake server, and reading back raw.llm_calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from python_jobs.annotation.base import PairToAnnotate, call_id_for
from python_jobs.annotation.openai.client import OpenAIAnnotator
from python_jobs.annotation.pricing import PriceTable
from python_jobs.config import LLMSettings
from python_jobs.warehouse.keys import pair_key

PROJECT_DIR = Path(__file__).resolve().parents[2]


def synthetic_pair(name: str, title_a: str | None = None, title_b: str | None = None) -> PairToAnnotate:
    a, b = f"test:{name}-a", f"test:{name}-b"
    return PairToAnnotate(
        pair_key=pair_key(a, b),
        item_a_id=a,
        item_a_title=title_a or f"Made-up gadget {name} (model A)",
        item_b_id=b,
        item_b_title=title_b or f"Made-up accessory {name} (model B)",
        item_a_category="Office > Desk > Gadgets",
        item_b_category=None,
    )


def fast_annotator(base_url: str, api_key: str = "sk-test-local", prices: PriceTable | None = None,
                   **overrides: Any) -> OpenAIAnnotator:
    settings: dict[str, Any] = {
        "model": "fake-llm",
        "base_url": base_url,
        "timeout_s": 0.5,
        "max_retries": 2,
        "backoff_base_s": 0.02,
        "backoff_max_s": 0.1,
        "concurrency": 4,
        "retry_budget": 1000,
    }
    settings.update(overrides)
    return OpenAIAnnotator(LLMSettings(**settings), api_key=api_key, prices=prices)


def first_call_id(run_id: str, round_index: int, pair: PairToAnnotate, attempt: int = 1) -> str:
    return call_id_for(run_id, round_index, pair.pair_key, attempt)


def calls(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    cursor = con.execute(
        "select * from raw.llm_calls where run_id = ? order by pair_key, attempt_index", [run_id]
    )
    names = [d[0] for d in cursor.description]
    return {(row[names.index("pair_key")], row[names.index("attempt_index")]): dict(zip(names, row))
            for row in cursor.fetchall()}


def consensus_model_exists() -> bool:
    return any((PROJECT_DIR / "models").rglob("fct_consensus_labels.sql"))

