"""Simulated annotator: a stated noise model around a known reference label.

Noise model (defaults from the FBL paper's GPT-4o-mini figures):
- per pair, the annotator's belief is the reference label with probability `accuracy`, else a
  class drawn uniformly from the other classes;
- each of the K calls answers the belief with probability `self_consistency`, else a class drawn
  uniformly from the other classes.
Every draw is seeded by (seed, pair, attempt), so a resumed round answers exactly as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from python_jobs.annotation.base import (
    CallContext,
    CallRecord,
    CallSink,
    PairToAnnotate,
)
from python_jobs.labels import RELATION_CLASSES


@dataclass(frozen=True)
class NoiseModel:
    accuracy: float = 0.849
    self_consistency: float = 0.989
    seed: int = 0


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _other_class(label: str, rng: np.random.Generator) -> str:
    others = [name for name in RELATION_CLASSES if name != label]
    return others[int(rng.integers(len(others)))]


def simulated_vote(reference: str, pair_key: str, attempt: int, noise: NoiseModel) -> str:
    belief_rng = _rng(noise.seed, pair_key, "belief")
    belief = reference if belief_rng.random() < noise.accuracy else _other_class(reference, belief_rng)
    vote_rng = _rng(noise.seed, pair_key, attempt)
    return belief if vote_rng.random() < noise.self_consistency else _other_class(belief, vote_rng)


class SimulatedAnnotator:
    kind = "simulated"

    def __init__(self, reference_labels: Mapping[str, str], noise: NoiseModel = NoiseModel()):
        self._reference = reference_labels
        self._noise = noise

    def annotate(self, pairs: Sequence[PairToAnnotate], context: CallContext, sink: CallSink) -> None:
        params = json.dumps(asdict(self._noise))
        # Answers are instant and free: the round's calls land in one statement (one commit).
        calls: list[CallRecord] = []
        for pair, attempt in sink.missing_attempts(context, pairs):
            reference = self._reference.get(pair.pair_key)
            label = simulated_vote(reference, pair.pair_key, attempt, self._noise) if reference else None
            calls.append(
                CallRecord.for_attempt(
                    context, pair, attempt, self.kind,
                    model=f"simulated(acc={self._noise.accuracy},sc={self._noise.self_consistency})",
                    prompt_version="simulated-v1",
                    prompt_hash="none",
                    request_params=params,
                    raw_response=json.dumps({"label": label}),
                    relation_label=label,
                    is_valid=label is not None,
                    error_class=None if label else "no_reference_label",
                )
            )
        sink.record_many(calls)
