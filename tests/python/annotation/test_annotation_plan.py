"""`karl plan`: calls, tokens and cost of the next round before anything is spent - and how
close it is to what the round then costs against the local server."""

from __future__ import annotations

from llm_fixtures import fast_annotator
from typer.testing import CliRunner

from python_jobs import warehouse
from python_jobs.annotation import plan as llm_plan
from python_jobs.annotation.base import CallContext
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.pricing import ModelPrice, PriceTable
from python_jobs.cli import app
from python_jobs.testing.fake_llm_server import FakeLLMServer
from python_jobs.warehouse.keys import pair_key

PRICES = PriceTable({"fake-llm": ModelPrice(1.0, 4.0)})


def _seed_run(con, run_id: str, n_pairs: int) -> None:
    for i in range(2 * n_pairs):
        con.execute("insert into raw.catalog_items values ('synthetic', ?, ?, 'Office', 'Desk', null, 'b1', now()::timestamp)",
                    [f"syn:{i}", f"Made-up desk item number {i} with a longer descriptive title"])
    for i in range(n_pairs):
        a, b = f"syn:{2 * i}", f"syn:{2 * i + 1}"
        con.execute("insert into raw.selections values (?, 0, ?, ?, ?, null, 'random', 0.5, null, now()::timestamp)",
                    [run_id, pair_key(a, b), a, b])


def test_plan_counts_missing_calls_and_matches_spend(db_path) -> None:
    con = warehouse.connect(db_path)
    _seed_run(con, "plan-run", 10)
    with FakeLLMServer() as server:
        annotator = fast_annotator(server.base_url, prices=PRICES)
        before = llm_plan.plan(con, annotator, k_calls=3, run_id="plan-run")
        assert before.pairs == 10 and before.calls == 30
        assert before.models[0].token_source.startswith("estimate") and before.cost_usd > 0  # no tokenizer for fake-llm
        assert len(server.requests) == 0  # planning spends nothing
        pairs = llm_plan.pending_round(con, "plan-run", 3)[1]
        annotator.annotate(pairs[:4], CallContext("plan-run", 0, 3), DuckDBCallSink(con))
        spent = con.execute("select sum(cost_usd) from raw.llm_calls").fetchone()[0]
        after = llm_plan.plan(con, annotator, k_calls=3, run_id="plan-run")
        assert after.calls == 18  # the 12 recorded calls are not planned again
        assert after.models[0].token_source.startswith("observed")
        # With observed usage the plan of the rest is the spend rate times the calls left.
        assert abs(after.cost_usd - spent / 12 * 18) < 1e-9
        # The heuristic estimate is within a factor of two of the real spend per call here.
        assert 0.5 < (before.cost_usd / 30) / (spent / 12) < 2.0
    con.close()


def test_karl_plan_command_prints_the_estimate(db_path, monkeypatch) -> None:
    con = warehouse.connect(db_path)
    _seed_run(con, "cli-run", 5)
    con.close()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("KARL_LLM_MODEL", "gpt-4o-mini")
    result = CliRunner().invoke(app, ["plan", "--run-id", "cli-run", "--max-cost", "0.0001", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "15 calls to send" in result.output and "exceeds" in result.output
    # One rendered prompt, counted by the model's own tokenizer (shipped in the bpe-openai wheel).
    assert "--- system ---" in result.output and "--- user ---" in result.output
    assert "exact (o200k_base" in result.output


def test_exact_counts_are_the_tokenizer_counts_plus_the_chat_framing() -> None:
    import bpe_openai
    from llm_fixtures import synthetic_pair

    from python_jobs.annotation import prompt
    from python_jobs.annotation.tokens import (
        REPLY_PRIMING,
        TOKENS_PER_MESSAGE,
        counter_for,
    )

    messages = prompt.build_messages(synthetic_pair("tok", "ホッチキス 針 1000本入り", "Made-up staples"))
    encoding = bpe_openai.encoding_for_model("gpt-4o-mini")
    expected = sum(len(encoding.encode(m["content"])) + TOKENS_PER_MESSAGE for m in messages) + REPLY_PRIMING
    assert counter_for("gpt-4o-mini").messages(messages) == expected
    assert not counter_for("some-local-model").exact
