"""Configuration of one karl run (one strategy, one seed, T rounds)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

STRATEGIES = ("qbc", "margin", "random")
ANNOTATORS = ("replay", "simulated", "openai")
CANDIDATE_SOURCES = ("fbl_pool", "sampler")


@dataclass
class RunConfig:
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
    experiment_id: str | None = None  # set by `karl experiment` on each of its cells
    workers: int = 2                # processes for the ID cross-validation (1: in the main process)
    run_id: str = field(default_factory=lambda: new_run_id())

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, not {self.strategy!r}")
        if self.annotator not in ANNOTATORS:
            raise ValueError(f"annotator must be one of {ANNOTATORS}, not {self.annotator!r}")
        if self.candidate_source not in CANDIDATE_SOURCES:
            raise ValueError(f"candidate_source must be one of {CANDIDATE_SOURCES}")
        if self.rounds < 0 or self.budget < 1 or self.k_calls < 1 or self.members < 1:
            raise ValueError("rounds >= 0, budget >= 1, k_calls >= 1 and members >= 1 are required")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in json.loads(text).items() if key in known})


def new_run_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"run-{stamp}-{uuid.uuid4().hex[:6]}"
