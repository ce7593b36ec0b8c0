"""A heterogeneous panel of simulated voters (profiles in panels/profiles.py): attempt k of a pair is
answered by voter k with error profile panel[(k - 1) % len(panel)], around the pair's reference
label. The profile is the call's `model` ("panel:<profile>"), so lineage says who voted what."""

from __future__ import annotations

import json
from typing import Mapping, Sequence

from python_jobs.annotation.panels.profiles import DEFAULT_PANEL, PROFILES, panel_vote
from python_jobs.annotation.base import (
    CallContext,
    CallRecord,
    CallSink,
    PairToAnnotate,
)


class PanelAnnotator:
    kind = "panel"

    def __init__(self, reference_labels: Mapping[str, str], panel: Sequence[str] = DEFAULT_PANEL,
                 seed: int = 0):
        unknown = [name for name in panel if name not in PROFILES]
        if unknown or not panel:
            raise ValueError(f"unknown panel profiles {unknown}; choose from {sorted(PROFILES)}")
        self._reference = reference_labels
        self._panel = tuple(panel)
        self._seed = seed

    def annotate(self, pairs: Sequence[PairToAnnotate], context: CallContext, sink: CallSink) -> None:
        calls: list[CallRecord] = []
        for pair, attempt in sink.missing_attempts(context, pairs):
            profile = PROFILES[self._panel[(attempt - 1) % len(self._panel)]]
            reference = self._reference.get(pair.pair_key)
            label = panel_vote(profile, reference, pair.pair_key, attempt, self._seed) if reference else None
            calls.append(CallRecord.for_attempt(
                context, pair, attempt, self.kind, model=f"panel:{profile.name}", prompt_version="panel-v1",
                prompt_hash="none",
                request_params=json.dumps({"profile": profile.name, "confusion": profile.confusion, "seed": self._seed}),
                raw_response=json.dumps({"label": label}), relation_label=label, is_valid=label is not None,
                error_class=None if label else "no_reference_label"))
        sink.record_many(calls)
