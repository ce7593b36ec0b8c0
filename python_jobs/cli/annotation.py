"""`karl plan`, `karl judge`, `karl serve-fake-llm`: the LLM annotator before a budget is spent."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from python_jobs import warehouse
from python_jobs.cli.app import (
    RUN_DEFAULTS,
    DbOption,
    _out,
    app,
)
from python_jobs.errors import UsageError


@app.command()
def plan(
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Plan this run's pending round exactly (its selected pairs, missing calls)."),
    budget: int = typer.Option(RUN_DEFAULTS.budget, help="Pairs per round (when no pending round is given)."),
    rounds: int = typer.Option(1, help="Rounds to plan (when no pending round is given)."),
    k_calls: int = typer.Option(RUN_DEFAULTS.k_calls, "--k", help="Independent calls per pair."),
    model: Optional[str] = typer.Option(None, help="Model (default: $KARL_LLM_MODEL or gpt-4o-mini)."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Say whether the plan fits this budget (USD)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Estimate calls, tokens and cost of the next openai round(s) before anything is spent."""
    from python_jobs.annotation import plan as llm_plan
    from python_jobs.annotation.factory import openai_annotator
    from python_jobs.annotation.openai.preflight import PreflightError, preflight
    from python_jobs.reporting.console import print_plan

    with warehouse.connection(db) as con:
        # Planning spends nothing: no key is needed to estimate; with one (or a local server) the
        # endpoint is checked too, and a failure is reported without stopping the plan.
        has_endpoint = bool(os.environ.get("OPENAI_API_KEY")) or "127.0.0.1" in os.environ.get("OPENAI_BASE_URL", "") \
            or "localhost" in os.environ.get("OPENAI_BASE_URL", "")
        if has_endpoint:
            annotator = openai_annotator(con, {"model": model})
            try:
                found = preflight(annotator)
                _out().info(f"preflight: {found.endpoint} serves {', '.join(found.models)} in {found.seconds:.2f} s",
                            event="preflight", endpoint=str(found.endpoint))
            except PreflightError as error:
                _out().warning(f"preflight failed (the plan still stands): {error}", event="preflight_failed")
        else:
            annotator = openai_annotator(con, {"model": model}, env={"OPENAI_API_KEY": "unused-for-planning", **os.environ})
        result = llm_plan.plan(con, annotator, k_calls=k_calls, budget=budget, rounds=rounds, run_id=run_id)
    print_plan(result, _out().console, max_cost)


@app.command()
def judge(
    per_class: int = typer.Option(10, "--per-class", help="Pairs per stratum (each 9-class code of the train datasets, each relation of the others)."),
    k_calls: int = typer.Option(RUN_DEFAULTS.k_calls, "--k", help="Votes per pair."),
    seed: int = typer.Option(0, help="Seed of the sample (same seed, same pairs)."),
    model: Optional[str] = typer.Option(None, help="Model (default: $KARL_LLM_MODEL or gpt-4o-mini)."),
    few_shot: Optional[str] = typer.Option(None, "--few-shot", help="none, fixed, balanced or nearest (default: $KARL_LLM_FEW_SHOT)."),
    few_shot_k: Optional[int] = typer.Option(None, "--few-shot-k", help="Examples per prompt."),
    batch: bool = typer.Option(False, "--batch", help="Through the Batch API (half price)."),
    max_cost: Optional[float] = typer.Option(None, "--max-cost", help="Stop at this spend (USD); run again to resume."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Labelled datasets to sample (comma-separated; default: the train datasets' judge reserve and the others' pool half)."),
    train_labels: str = typer.Option(",".join(RUN_DEFAULTS.train_labels), "--train-labels", help="The datasets whose pairs outside the judge reserve are few-shot examples (as `karl run --train-labels`)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Measure the openai annotator against the human labels (never the OOD test half): accuracy,
    macro-F1, Cohen's kappa, 3x3 and 9x9 confusion, direction, unanimity, cost per correct label."""
    import python_jobs.judge as judge_job
    from python_jobs.annotation.factory import openai_annotator
    from python_jobs.annotation.openai.batch import BatchAnnotator
    from python_jobs.annotation.openai.preflight import preflight
    from python_jobs.annotation.prompt import PROMPT_VERSION
    from python_jobs.config import parse_datasets
    from python_jobs.reporting.console import print_judge

    overrides = {"model": model, "few_shot": few_shot, "few_shot_k": few_shot_k, "max_cost_usd": max_cost}
    try:
        examples_from = parse_datasets(train_labels)
    except ValueError as error:
        raise UsageError(f"--train-labels: {error}") from None
    with warehouse.connection(db) as con:
        warehouse.require_marts(con, "fct_human_labels", "fct_eval_sets", "dim_items")  # before any call is sent
        live = openai_annotator(con, overrides, example_datasets=examples_from)
        found = preflight(live)
        _out().info(f"preflight: {found.endpoint} serves {', '.join(found.models)} in {found.seconds:.2f} s",
                    event="preflight", endpoint=str(found.endpoint))
        annotator = BatchAnnotator(live, con) if batch or live.config.batch else live
        settings = judge_job.JudgeSettings(per_class=per_class, k_calls=k_calls, seed=seed,
                                           datasets=parse_datasets(dataset), train_datasets=examples_from)
        judge_id = judge_job.run_judge(con, annotator, settings, db_path=db)
        header = (f"model {','.join(live.config.models())}, prompt {PROMPT_VERSION}, "
                  f"few-shot {judge_job.few_shot_label(live)}, K = {k_calls}")
        grids = {level: judge_job.confusion(con, judge_id, level) for level in ("relation3", "fbl9")}
        print_judge(judge_id, header, judge_job.agreement(con, judge_id), grids, _out().console)


@app.command("serve-fake-llm")
def serve_fake_llm(
    port: int = typer.Option(8089, help="Port on 127.0.0.1."),
    latency: float = typer.Option(0.0, help="Seconds per response."),
    noise: float = typer.Option(0.1, help="Probability that a call flips its label (so some pairs disagree)."),
    reject_json_schema: bool = typer.Option(False, help="Answer response_format json_schema with a 500, like an old llama.cpp."),
    dialect: str = typer.Option("openai", help="openai, or llama.cpp: logprobs only when top_logprobs is named, "
                                                "and unconstrained under a response_format."),
    fault: Optional[str] = typer.Option(None, help="Play a faulty server: hang (accept, never answer), trickle (a "
                                                   "byte of the body per --fault-seconds), cut (close mid-body), "
                                                   "drop, slow, 500, 429."),
    fault_seconds: float = typer.Option(0.0, help="trickle: seconds per byte; slow: the delay; 429: Retry-After."),
    fault_share: float = typer.Option(1.0, help="Share of calls (by call id) given the fault; below 1 the preflight is spared."),
    fault_requests: Optional[int] = typer.Option(None, help="Only a call's first N requests get the fault (its retries then succeed)."),
) -> None:
    """A local OpenAI-compatible server for demos and tests (no network, no key): then
    OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 KARL_LLM_MODEL=fake-llm karl run --annotator openai."""
    from python_jobs.testing import fake_llm_serve
    from python_jobs.testing.fake_llm_scripts import ServerFault
    from python_jobs.testing.fake_llm_server import DIALECTS

    if dialect not in DIALECTS:
        raise UsageError(f"--dialect {dialect!r}: one of {', '.join(DIALECTS)}.")
    if fault is not None and fault not in fake_llm_serve.SERVER_FAULTS:
        raise UsageError(f"--fault {fault!r}: one of {', '.join(sorted(fake_llm_serve.SERVER_FAULTS))}.")
    server_fault = (ServerFault(fake_llm_serve.SERVER_FAULTS[fault](fault_seconds), fault_share, fault_requests)
                    if fault else None)
    _out().info(f"fake LLM on http://127.0.0.1:{port}/v1 ({dialect}{', fault ' + fault if fault else ''}; Ctrl-C to stop)",
                event="fake_llm_listening", port=port)
    fake_llm_serve.serve("127.0.0.1", port, latency, noise, reject_json_schema, dialect, server_fault)
