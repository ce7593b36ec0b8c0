"""Every setting of a karl run in one typed place: the run (`RunConfig`) and the LLM annotator
(`LLMSettings`, read from the environment by `llm_settings_from_env`). The CLI's defaults are
these dataclasses' defaults."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Mapping

from python_jobs.errors import KarlError

# qbc, margin, random: the paper's; the others: issue 12 (learning/acquisition.py scores
# entropy and breaking_ties; learning/batch_selection.py chooses the kcenter and context batches).
STRATEGIES = ("qbc", "margin", "random", "entropy", "breaking_ties", "kcenter", "context")
ANNOTATORS = ("replay", "simulated", "openai", "panel")
# How K votes become an accepted label (fct_consensus_labels); unanimity is the paper's rule.
# one_step_dawid_skene is one-coin Dawid-Skene with a single M-step, in SQL; the full EM
# (annotation/panels/aggregation.dawid_skene) runs offline only (`karl panel-table`).
AGGREGATIONS = ("unanimity", "majority", "one_step_dawid_skene")
# Runs recorded before the rename called the one-step rule "dawid_skene".
LEGACY_AGGREGATIONS = {"dawid_skene": "one_step_dawid_skene"}
# --until-stable: "signal" = marts.rpt_run_stopping_signal; the others: loop/stopping/rules.py.
STOP_RULES = ("signal", "stabilizing_predictions", "overall_uncertainty", "pool_change", "ood_plateau")
# annotator "panel": voter k answers with error profile panel[(k - 1) % len] (annotation/panels/)
DEFAULT_PANEL = ("near_human", "overcalls_other", "overcalls_substitute")
QBC_MEASURES = ("variance", "vote_entropy")
CANDIDATE_SOURCES = ("fbl_pool", "sampler")
MODEL_FAMILIES = ("logreg", "hgb")
# The pair-feature set of a run (python_jobs/features/sets.py): components joined by "+".
# char13 is the best by ID CV (bagged members: 0.858 against 0.845 for char13+overlap and 0.828
# for svd); char13+overlap carries more OOD signal but OOD never chooses (docs/results.md).
DEFAULT_FEATURES = "char13"
FEATURE_COMPONENTS = ("svd", "char13", "overlap", "embeddings")
# Re-choosing the model by CV over the acquired labels (loop/model_choice.py, docs/features.md):
# a candidate is FEATURES@C@FAMILY; the run's own model (its features, tuned C, family) is always one.
DEFAULT_RECHOOSE_CANDIDATES = ("char13+overlap@1@logreg",)
# Roles of the labelled datasets (dbt vars karl_train_labels, karl_pool_labels, karl_eval_labels):
# the defaults are the paper's setting on the FBL files.
DEFAULT_TRAIN_LABELS = ("FBL2023",)
DEFAULT_POOL_LABELS = ("FBL2024",)
DEFAULT_EVAL_LABELS = ("FBL2024",)


def parse_datasets(text: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """A role flag's datasets: "A,B" -> ("A", "B"); "none" or "" -> () (no dataset in that role)."""
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(part.strip() for part in parts if part and part.strip()))
    if len(names) == 1 and names[0].lower() == "none":
        return ()
    if any(name.lower() == "none" for name in names):
        raise ValueError("'none' cannot be listed with dataset names")
    return names


def parse_model_candidate(spec: str) -> tuple[str, float, str]:
    """(features, C, family) of a candidate model FEATURES@C@FAMILY, e.g. char13+overlap@1@logreg;
    ValueError naming what is wrong. C is the logreg members' inverse regularisation (hgb ignores it)."""
    parts = spec.strip().split("@")
    if len(parts) != 3:
        raise ValueError(f"model candidate {spec!r}: write FEATURES@C@FAMILY, e.g. char13+overlap@1@logreg")
    features, c_text, family = parts
    try:
        parse_features(features)
    except KarlError as error:
        raise ValueError(f"model candidate {spec!r}: {error}") from error
    try:
        c_value = float(c_text)
    except ValueError:
        raise ValueError(f"model candidate {spec!r}: C must be a positive number, not {c_text!r}") from None
    if not c_value > 0:
        raise ValueError(f"model candidate {spec!r}: C must be a positive number, not {c_text!r}")
    if family not in MODEL_FAMILIES:
        raise ValueError(f"model candidate {spec!r}: the family is one of {', '.join(MODEL_FAMILIES)}, not {family!r}")
    return features, c_value, family


class UnknownFeatureSet(KarlError):
    """A --features name with a component karl does not know."""


def parse_features(name: str) -> tuple[str, ...]:
    """The components of a pair-feature set name ("char13+overlap" -> ("char13", "overlap"))."""
    parts = tuple(part.strip() for part in (name or "").split("+") if part.strip())
    unknown = [part for part in parts if part not in FEATURE_COMPONENTS]
    if not parts or unknown:
        raise UnknownFeatureSet(f"feature set {name!r}: components must be among {', '.join(FEATURE_COMPONENTS)} "
                                f"joined by '+', e.g. {DEFAULT_FEATURES!r}")
    if len(set(parts)) != len(parts):
        raise UnknownFeatureSet(f"feature set {name!r} names a component twice")
    return parts


# --- the sections of a run ---------------------------------------------------------------------
@dataclass(frozen=True)
class ScoringConfig:
    """How the candidate scan runs (learning/scoring.py)."""

    chunk_rows: int = 65_536       # pairs per chunk read from DuckDB and scored by one worker
    workers: int = 2               # chunks computed in parallel (numpy releases the GIL)
    # float32 (default): ~2x the float64 rate; probabilities within FLOAT32_TOLERANCE of
    # BaggedEnsemble.predict_member_proba (tested). float64 reproduces it to < 1e-6.
    dtype: str = "float32"


@dataclass(frozen=True)
class TuningConfig:
    """The hyperparameter search (learning/tuning.tune_hyperparameters); a run sets n_trials
    (RunConfig.tuning_trials) and the seed."""

    n_trials: int = 12
    n_splits: int = 5
    seed: int = 0
    C_low: float = 1e-4
    C_high: float = 1.0
    tune_class_weight: bool = True
    tune_standardize: bool = False


@dataclass(frozen=True)
class InducedConfig:
    """Induced categories on a catalogue without a category path (candidates/categories.py);
    the seed is the run's."""

    n_fine: int | None = None       # default: round(sqrt(n_items)), within [2, 1000]
    n_parent: int | None = None     # default: round(sqrt(n_fine)), within [1, n_fine]
    seed: int = 0
    n_init: int = 3


# --- a run ---------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    """One karl run: one strategy, one seed, T rounds (recorded as JSON in raw.runs.config_json)."""

    strategy: str = "margin"
    rounds: int = 15
    annotator: str = "replay"
    budget: int = 50                # pairs sent to the annotator per round, at most
    seed: int = 0
    k_calls: int = 3
    members: int = 10
    candidate_source: str = "fbl_pool"
    qbc_measure: str = "variance"   # variance | vote_entropy
    tuning_trials: int = 12
    max_cost_usd: float | None = None
    until_stable: bool = False
    simulated_accuracy: float = 0.849
    simulated_self_consistency: float = 0.989
    stop_rule: str = "signal"       # one of STOP_RULES, read by --until-stable
    aggregation: str = "unanimity"  # one of AGGREGATIONS
    panel: tuple[str, ...] = DEFAULT_PANEL
    experiment_id: str | None = None  # set by `karl experiment` on each of its cells
    # The pool/test split of a dataset both pool and eval (dbt var karl_split_seed); None: the
    # warehouse's (KARL_SPLIT_SEED, default 42). `karl experiment --splits K` sets it per cell.
    split_seed: int | None = None
    workers: int = 2                # processes for the ID cross-validation (1: in the main process)
    llm_batch: bool = False         # openai: each round through the Batch API (half price, results within 24 h)
    require_judge: bool = False     # openai: refuse to start without a `karl judge` of this model, prompt, few-shot
    features: str = DEFAULT_FEATURES  # pair-feature set (features/sets.py), e.g. svd, char13, char13+overlap
    model_family: str = "logreg"    # bag members: logreg | hgb
    # Cold start (loop/cold_start.py): with no human training labels, round 0 first asks the
    # annotator about this many pairs chosen for coverage and trains on the accepted ones.
    cold_start: int = 0
    catalog: str | None = None      # --catalog: candidates and features of this ingested catalogue
    # --rechoose-from N: from the round where the run has acquired N labels, the candidates and the
    # run's own model are scored by CV over the acquired labels (loop/model_choice.py); None: off.
    rechoose_from: int | None = None
    rechoose_candidates: tuple[str, ...] = DEFAULT_RECHOOSE_CANDIDATES
    # Roles of the labelled datasets: train (seed labels; ID = CV over them), pool (what replay may
    # be asked about), eval (held out; OOD per dataset). A dataset both pool and eval is split.
    train_labels: tuple[str, ...] = DEFAULT_TRAIN_LABELS
    pool_labels: tuple[str, ...] = DEFAULT_POOL_LABELS
    eval_labels: tuple[str, ...] = DEFAULT_EVAL_LABELS
    scoring: ScoringConfig = field(default_factory=lambda: ScoringConfig())
    categories: InducedConfig = field(default_factory=lambda: InducedConfig())
    run_id: str = field(default_factory=lambda: new_run_id())

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if self.annotator not in ANNOTATORS:
            raise ValueError(f"annotator must be one of {ANNOTATORS}, not {self.annotator!r}")
        if self.candidate_source not in CANDIDATE_SOURCES:
            raise ValueError(f"candidate_source must be one of {CANDIDATE_SOURCES}")
        if self.model_family not in MODEL_FAMILIES:
            raise ValueError(f"model_family must be one of {MODEL_FAMILIES}, not {self.model_family!r}")
        try:
            parse_features(self.features)
        except UnknownFeatureSet as error:
            raise ValueError(str(error)) from error
        if self.stop_rule not in STOP_RULES:
            raise ValueError(f"stop_rule must be one of {STOP_RULES}, not {self.stop_rule!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, not {self.aggregation!r}")
        self.panel = tuple(self.panel)
        self.rechoose_candidates = tuple(self.rechoose_candidates)
        for spec in self.rechoose_candidates:
            parse_model_candidate(spec)
        if self.rechoose_from is not None and self.rechoose_from < 2:
            raise ValueError(f"--rechoose-from must be >= 2 acquired labels (a CV needs two folds), not {self.rechoose_from}")
        if self.cold_start < 0:
            raise ValueError(f"--cold-start must be >= 0, not {self.cold_start}")
        if self.catalog and self.candidate_source != "sampler":
            raise ValueError("--catalog needs --candidate-source sampler (the fbl_pool is the FBL2024 pool half)")
        self.train_labels = parse_datasets(self.train_labels)
        self.pool_labels = parse_datasets(self.pool_labels)
        self.eval_labels = parse_datasets(self.eval_labels)
        if self.rounds < 0 or self.budget < 1 or self.k_calls < 1 or self.members < 1:
            raise ValueError("rounds >= 0, budget >= 1, k_calls >= 1 and members >= 1 are required")
        if self.tuning_trials < 1:
            raise ValueError(f"--tuning-trials must be >= 1 (hyperparameter trials), not {self.tuning_trials}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        known = cls.__dataclass_fields__
        values = {key: value for key, value in json.loads(text).items() if key in known}
        if "aggregation" in values:
            values["aggregation"] = LEGACY_AGGREGATIONS.get(values["aggregation"], values["aggregation"])
        for name, section in (("scoring", ScoringConfig), ("categories", InducedConfig)):
            if isinstance(values.get(name), dict):
                values[name] = section(**values[name])
        return cls(**values)


# --- the warehouse engine -------------------------------------------------------------------
# duckdb: the one-file default; spark: the scale-out engine (python_jobs/spark/, dbt target `spark`).
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class EngineSettings:
    """Which warehouse engine the Python jobs talk to (warehouse/engine.py) and the dbt target it
    builds with. `engine_settings_from_env` reads them from the environment; `karl --engine`
    overrides the engine. Where the Spark session runs (master, memory, warehouse directory) is
    spark/session.SparkSettings: a cluster or Databricks changes those, never the code."""

    engine: str = "duckdb"
    dbt_target: str | None = None  # None: the engine's own (duckdb: profiles.yml's default; spark: "spark")

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")

    @property
    def target(self) -> str | None:
        """The dbt target the engine builds with (None: profiles.yml's default, DuckDB)."""
        if self.dbt_target:
            return self.dbt_target
        return "spark" if self.engine == "spark" else None


# Environment variable -> EngineSettings field, and how to read it.
ENGINE_ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "KARL_ENGINE": ("engine", lambda text: text.strip().lower()),
    "KARL_SPARK_DBT_TARGET": ("dbt_target", str),  # e.g. spark_thrift, databricks (profiles.yml)
}


def engine_settings_from_env(env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> EngineSettings:
    """EngineSettings from the environment (ENGINE_ENVIRONMENT), then `overrides` (field names;
    None values ignored), e.g. `karl --engine spark`. The only place they are read from it."""
    values: dict[str, Any] = {name: parse(env[variable]) for variable, (name, parse) in ENGINE_ENVIRONMENT.items()
                              if env.get(variable)}
    values.update({name: value for name, value in (overrides or {}).items() if value is not None})
    unknown = set(values) - {item.name for item in fields(EngineSettings)}
    if unknown:
        raise ValueError(f"unknown engine setting {sorted(unknown)[0]!r}")
    return EngineSettings(**values)


RESPONSE_FORMAT_MODES = ("auto", "json_schema", "json_object", "none")
FEW_SHOT_SELECTORS = ("none", "fixed", "balanced", "nearest")  # annotation/few_shot.py


@dataclass(frozen=True)
class LLMSettings:
    """The openai annotator's settings; `llm_settings_from_env` reads them from the environment
    (the only place karl reads LLM settings from it). The API key is not a setting: it stays in
    the environment and goes only to the HTTP client."""

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
    # Ask for token logprobs: the label's probability becomes the vote's confidence. A server
    # that rejects the parameter is asked without it for the rest of the round.
    logprobs: bool = True
    few_shot: str = "none"  # none | fixed | balanced | nearest: examples from the human labels
    few_shot_k: int = 3  # examples per prompt (balanced: classes, up to 9)
    batch: bool = False  # every round through the Batch API (annotation/openai/batch.py)

    def __post_init__(self) -> None:
        if self.response_format not in RESPONSE_FORMAT_MODES:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMAT_MODES}")
        if self.few_shot not in FEW_SHOT_SELECTORS:
            raise ValueError(f"few_shot must be one of {FEW_SHOT_SELECTORS}, not {self.few_shot!r}")
        if self.few_shot_k < 1:
            raise ValueError("few_shot_k must be >= 1")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if not self.timeout_s > 0:  # the deadline of each request (annotation/openai/deadline.py)
            raise ValueError("timeout_s (KARL_LLM_TIMEOUT_S) must be > 0")

    def model_for(self, attempt_index: int) -> str:
        if self.attempt_models:
            return self.attempt_models[(attempt_index - 1) % len(self.attempt_models)]
        return self.model

    def models(self) -> tuple[str, ...]:
        return self.attempt_models or (self.model,)


# Environment variable -> LLMSettings field, and how to read it.
LLM_ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "OPENAI_BASE_URL": ("base_url", str),
    "KARL_LLM_MODEL": ("model", str),
    "KARL_LLM_CONCURRENCY": ("concurrency", int),
    "KARL_LLM_TIMEOUT_S": ("timeout_s", float),
    "KARL_LLM_RESPONSE_FORMAT": ("response_format", str),
    "KARL_LLM_ATTEMPT_MODELS": ("attempt_models", lambda text: tuple(m.strip() for m in text.split(",") if m.strip())),
    "KARL_LLM_RESEND_IN_FLIGHT": ("resend_in_flight", lambda text: text.strip().lower() not in ("0", "false", "no")),
    "KARL_LLM_LOGPROBS": ("logprobs", lambda text: text.strip().lower() not in ("0", "false", "no")),
    "KARL_LLM_FEW_SHOT": ("few_shot", lambda text: text.strip().lower()),
    "KARL_LLM_FEW_SHOT_K": ("few_shot_k", int),
    "KARL_LLM_BATCH": ("batch", lambda text: text.strip().lower() in ("1", "true", "yes")),
}


def llm_settings_from_env(env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> LLMSettings:
    """LLMSettings from the environment (LLM_ENVIRONMENT), then `overrides` (LLMSettings field
    names; None values ignored), e.g. a run's max_cost_usd."""
    values: dict[str, Any] = {}
    for variable, (name, parse) in LLM_ENVIRONMENT.items():
        if env.get(variable):
            try:
                values[name] = parse(env[variable])
            except ValueError as error:
                raise ValueError(f"{variable}={env[variable]!r} is not a valid {name}: {error}") from None
    known = {item.name for item in fields(LLMSettings)}
    for name, value in (overrides or {}).items():
        if name not in known:
            raise ValueError(f"unknown LLM setting {name!r}; known: {sorted(known)}")
        if value is not None:
            values[name] = tuple(value) if name == "attempt_models" else value
    return LLMSettings(**values)


def new_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"run-{stamp}-{uuid.uuid4().hex[:6]}"
