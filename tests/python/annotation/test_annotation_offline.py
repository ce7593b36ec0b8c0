"""Replay and simulated annotators through the real DuckDB call sink."""

from __future__ import annotations

from collections import Counter

from python_jobs import warehouse
from python_jobs.annotation.base import CallContext, PairToAnnotate
from python_jobs.annotation.call_log import DuckDBCallSink
from python_jobs.annotation.replay import RecordedJudgement, ReplayAnnotator
from python_jobs.annotation.simulated import (
    NoiseModel,
    SimulatedAnnotator,
    simulated_vote,
)
from python_jobs.warehouse.keys import pair_key

PAIRS = [
    PairToAnnotate(pair_key("x:1", "x:2"), "x:1", "pen", "x:2", "pen refill"),
    PairToAnnotate(pair_key("x:3", "x:4"), "x:3", "tape", "x:4", "stapler"),
]


def _calls(con, run_id: str) -> list[tuple]:
    return con.execute(
        "select pair_key, attempt_index, relation_label, is_valid, error_class from raw.llm_calls "
        "where run_id = ? order by pair_key, attempt_index",
        [run_id],
    ).fetchall()


def test_replay_serves_recorded_judgements_and_marks_missing_ones_invalid(db_path) -> None:
    con = warehouse.connect(db_path)
    judgements = {
        PAIRS[0].pair_key: [RecordedJudgement("a1", "complement"), RecordedJudgement("a2", "complement"),
                            RecordedJudgement("a3", "other")],
        PAIRS[1].pair_key: [RecordedJudgement("a1", "other"), RecordedJudgement("a2", "other")],
    }
    ReplayAnnotator(judgements).annotate(PAIRS, CallContext("run-r", 0), DuckDBCallSink(con))
    calls = _calls(con, "run-r")
    assert len(calls) == 6
    assert [c[2] for c in calls[:3]] == ["complement", "complement", "other"]
    assert calls[5][3] is False and calls[5][4] == "no_recorded_judgement"


def test_resume_sends_only_missing_attempts(db_path) -> None:
    con = warehouse.connect(db_path)
    sink = DuckDBCallSink(con)
    context = CallContext("run-s", 1)
    reference = {pair.pair_key: "complement" for pair in PAIRS}
    annotator = SimulatedAnnotator(reference, NoiseModel(seed=3))
    annotator.annotate(PAIRS[:1], context, sink)
    assert len(sink.missing_attempts(context, PAIRS)) == 3
    annotator.annotate(PAIRS, context, sink)
    annotator.annotate(PAIRS, context, sink)
    assert sink.missing_attempts(context, PAIRS) == []
    assert len(_calls(con, "run-s")) == 6


def test_simulated_noise_model_matches_its_stated_rates() -> None:
    noise = NoiseModel(accuracy=0.8, self_consistency=0.9, seed=1)
    n = 4000
    votes = [[simulated_vote("substitute", f"p{i}", attempt, noise) for attempt in (1, 2, 3)] for i in range(n)]
    first_vote_correct = sum(v[0] == "substitute" for v in votes) / n
    # P(vote correct) = acc * sc + (1 - acc) * (1 - sc) / 2
    expected = 0.8 * 0.9 + 0.2 * 0.1 / 2
    assert abs(first_vote_correct - expected) < 0.02
    unanimous = Counter(len(set(v)) == 1 for v in votes)[True] / n
    assert abs(unanimous - (0.9**3 + 0.1**3 / 4)) < 0.03
    assert votes == [[simulated_vote("substitute", f"p{i}", a, noise) for a in (1, 2, 3)] for i in range(n)]
