"""`karl judge`: how good is this annotator, with this prompt, on our kind of pairs?

The FBL paper's second question (LLM as a judge against the human labels), as a job:

1. Sample pairs with a human majority, stratified so small classes count: up to `per_class`
   pairs of each 9-class code from the FBL2023 judge reserve (evaluation_pairs.is_judge_reserved)
   and of each relation from FBL2024's pool half. Never the OOD test half (and a dbt test,
   assert_no_test_pair_judged, says so on every build). The draw is a seeded hash order, so the
   same settings always sample the same pairs.
2. Annotate them with the configured annotator, K votes each, exactly as a run would (live or
   `--batch`, few-shot, cache, budget): the calls are raw.llm_calls rows with run_id = judge_id,
   round 0. The judge_id is a hash of everything that defines the measurement, so a killed judge
   resumes its missing calls.
3. `dbt build` the judge marts: fct_judge_pairs, rpt_judge_agreement (accuracy, macro-F1,
   Cohen's kappa, per-class precision/recall/F1, unanimity, unanimous precision and coverage,
   direction of directional classes, cost per correct label), rpt_judge_confusion (3x3, 9x9).

What the marts say is read in `marts.py`; the report's judge section is `report_section.py`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from python_jobs.annotation import prompt
from python_jobs.annotation.base import BudgetExhausted, CallContext, PairToAnnotate
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.evaluation_pairs import is_judge_reserved
from python_jobs.annotation.openai.protocol import sanitize_url
from python_jobs.config import DEFAULT_TRAIN_LABELS
from python_jobs.errors import KarlError
from python_jobs.judge.marts import few_shot_label
from python_jobs.warehouse.connection import insert_rows

JUDGE_MODELS = [
    "stg_karl__judge_calls", "stg_karl__judge_runs", "stg_karl__judge_samples", "fct_judge_pairs",
    "int_judge_labels_long", "rpt_judge_agreement", "rpt_judge_confusion", "assert_no_test_pair_judged",
]


class JudgeStopped(KarlError):
    """The judge stopped at its cost budget; the same command with a larger one resumes it."""


@dataclass(frozen=True)
class JudgeSettings:
    per_class: int = 10
    k_calls: int = 3
    seed: int = 0
    # `karl judge --dataset`: sample these labelled datasets' pairs (stratified by 9-class code where
    # the pair has one, else by relation); () = the default (the train datasets' judge reserve, the
    # pool halves of the others: FBL2023's reserve and FBL2024's pool half by default).
    datasets: tuple[str, ...] = ()
    # `karl judge --train-labels`: the datasets whose pairs outside the judge reserve are few-shot
    # examples (so only their reserve is sampled).
    train_datasets: tuple[str, ...] = DEFAULT_TRAIN_LABELS


@dataclass(frozen=True)
class SampledPair:
    pair: PairToAnnotate
    dataset: str
    stratum: str


def config_as_dict(config) -> dict:
    """The settings for raw.judge_runs.config_json: no secrets live in them, the endpoint sanitised."""
    from dataclasses import asdict

    data = asdict(config)
    data["base_url"] = sanitize_url(config.base_url)
    return data


def sample_pairs(con: duckdb.DuckDBPyConnection, settings: JudgeSettings) -> list[SampledPair]:
    """The stratified sample: up to per_class pairs per stratum, in a seeded hash order."""
    rows = con.execute(
        """
        select h.dataset, h.pair_key, h.item_a_id, h.item_b_id, h.relation_label, h.fbl_label, e.eval_set,
               coalesce(a.title, ''), coalesce(b.title, ''),
               nullif(concat_ws(' > ', a.category_l1, a.category_l2, a.category_l3), ''),
               nullif(concat_ws(' > ', b.category_l1, b.category_l2, b.category_l3), '')
        from marts.fct_human_labels as h
        inner join marts.fct_eval_sets as e on e.pair_key = h.pair_key and e.dataset = h.dataset
        left join marts.dim_items as a on a.item_id = h.item_a_id
        left join marts.dim_items as b on b.item_id = h.item_b_id
        where h.has_majority and e.eval_set <> 'test'
        """
    ).fetchall()
    strata: dict[str, list[tuple[str, SampledPair]]] = {}
    for dataset, key, a, b, relation, fbl, eval_set, title_a, title_b, cat_a, cat_b in rows:
        if settings.datasets:
            if dataset not in settings.datasets or (
                    fbl is not None and dataset in settings.train_datasets and not is_judge_reserved(key)):
                continue  # train pairs outside the reserve are few-shot examples (evaluation_pairs.py)
            stratum = f"{dataset}:{fbl if fbl is not None else relation}"
        elif dataset in settings.train_datasets:
            if fbl is None or not is_judge_reserved(key):
                continue
            stratum = f"{dataset}:{fbl}"
        elif eval_set == "pool" and relation is not None:
            stratum = f"{dataset}:{relation}"
        else:
            continue
        rank = hashlib.sha256(f"{settings.seed}|{key}".encode()).hexdigest()
        sampled = SampledPair(PairToAnnotate(key, a, title_a, b, title_b, cat_a, cat_b), dataset, stratum)
        strata.setdefault(stratum, []).append((rank, sampled))
    chosen = []
    for stratum in sorted(strata):
        chosen += [sampled for _, sampled in sorted(strata[stratum], key=lambda item: item[0])[: settings.per_class]]
    if not chosen:
        raise ValueError("no human-labelled pairs to judge"
                         + (f" in {', '.join(settings.datasets)} outside the held-out test half" if settings.datasets
                            else ": run `karl ingest fbl` and `karl build` first"))
    return chosen


# The settings that change what the model answers; operational ones (endpoint, timeouts,
# concurrency, retries, budget) do not, so a judge resumed with another of them is the same judge.
ANSWER_SETTINGS = ("model", "attempt_models", "temperature", "top_p", "seed", "send_seed", "max_tokens",
                   "response_format", "logprobs", "few_shot", "few_shot_k")


def judge_id_for(annotator, settings: JudgeSettings) -> str:
    config = config_as_dict(annotator.config)
    material = json.dumps({
        "config": {name: config[name] for name in ANSWER_SETTINGS}, "prompt_hash": prompt.template_hash(),
        "settings": [settings.per_class, settings.k_calls, settings.seed] + ([list(settings.datasets)] if settings.datasets else [])
        + ([list(settings.train_datasets)] if settings.train_datasets != DEFAULT_TRAIN_LABELS else []),
        "batch": type(annotator).__name__,
    }, sort_keys=True, default=str)
    return "judge-" + hashlib.sha256(material.encode()).hexdigest()[:12]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def run_judge(con: duckdb.DuckDBPyConnection, annotator, settings: JudgeSettings,
              db_path: Path | str | None = None, build: bool = True) -> str:
    """Sample, annotate (resuming a killed judge), record, build the marts. Returns the judge_id."""
    sample = sample_pairs(con, settings)
    judge_id = judge_id_for(annotator, settings)
    config = annotator.config
    con.execute(
        "insert into raw.judge_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'annotating', ?, ?, null) on conflict do nothing",
        [judge_id, ",".join(config.models()), prompt.PROMPT_VERSION, prompt.template_hash(), few_shot_label(annotator),
         settings.k_calls, settings.per_class, settings.seed, len(sample),
         json.dumps(config_as_dict(config), default=str), _now()])
    insert_rows(con, "raw.judge_samples", ["judge_id", "pair_key", "dataset", "stratum", "item_a_id", "item_b_id"],
                [(judge_id, s.pair.pair_key, s.dataset, s.stratum, s.pair.item_a_id, s.pair.item_b_id) for s in sample])
    try:
        annotator.annotate([s.pair for s in sample], CallContext(judge_id, 0, settings.k_calls), DuckDBCallSink(con))
    except BudgetExhausted as error:
        raise JudgeStopped(f"{error}; the same `karl judge` with a larger --max-cost resumes judge {judge_id}") from error
    con.execute("update raw.judge_runs set status = 'complete', completed_at = ? where judge_id = ?", [_now(), judge_id])
    if build:
        from python_jobs import warehouse

        con.execute("checkpoint")
        warehouse.run_dbt(["build", "--select", *JUDGE_MODELS], db_path=db_path)
    return judge_id
