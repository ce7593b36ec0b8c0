"""Annotator error profiles and seeded panel votes (issue 12, the paper's Q3): K voters with
different, stated error profiles.

Error profiles (a confusion row per true class, answered class -> probability):
- `near_human`: right with probability 0.85 (about the FBL human agreement), else one of the two
  other classes uniformly.
- `overcalls_other`: a true substitute or complement is answered "other" with probability 0.35,
  else right 0.60 (the remaining 0.05 the third class); a true "other" is right 0.95.
- `overcalls_substitute`: a true complement or other is answered "substitute" with probability
  0.35, else right 0.60; a true substitute is right 0.95.
Every vote is a seeded draw from (seed, pair key, voter index): replays answer the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CLASSES = ("substitute", "complement", "other")


@dataclass(frozen=True)
class ErrorProfile:
    name: str
    confusion: tuple[tuple[float, ...], ...]   # [true][answered] in CLASSES order, rows sum to 1

    def __post_init__(self) -> None:
        matrix = np.asarray(self.confusion, dtype=np.float64)
        if matrix.shape != (len(CLASSES), len(CLASSES)) or not np.allclose(matrix.sum(axis=1), 1.0):
            raise ValueError(f"profile {self.name!r}: confusion must be 3x3 with rows summing to 1")


def _overcalls(target: int, rate: float = 0.35, right: float = 0.60, target_right: float = 0.95) -> tuple:
    rows = []
    for true in range(len(CLASSES)):
        row = [0.0] * len(CLASSES)
        if true == target:
            row[true] = target_right
            for other in range(len(CLASSES)):
                if other != true:
                    row[other] = (1.0 - target_right) / 2
        else:
            row[true] = right
            row[target] = rate
            third = next(c for c in range(len(CLASSES)) if c not in (true, target))
            row[third] = 1.0 - right - rate
        rows.append(tuple(row))
    return tuple(rows)


PROFILES: dict[str, ErrorProfile] = {
    "near_human": ErrorProfile("near_human", tuple(
        tuple(0.85 if a == t else 0.075 for a in range(3)) for t in range(3))),
    "overcalls_other": ErrorProfile("overcalls_other", _overcalls(CLASSES.index("other"))),
    "overcalls_substitute": ErrorProfile("overcalls_substitute", _overcalls(CLASSES.index("substitute"))),
}
DEFAULT_PANEL = ("near_human", "overcalls_other", "overcalls_substitute")


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2.0**64


def panel_vote(profile: ErrorProfile, truth: str, pair_key: str, voter: int, seed: int = 0) -> str:
    """One voter's answer for a pair whose true class is `truth` (seeded by pair and voter)."""
    row = np.cumsum(profile.confusion[CLASSES.index(truth)])
    u = _unit(seed, profile.name, pair_key, voter)
    return CLASSES[int(min(np.searchsorted(row, u, side="right"), len(CLASSES) - 1))]


def panel_votes(truths: Sequence[str], pair_keys: Sequence[str], panel: Sequence[str] = DEFAULT_PANEL,
                seed: int = 0) -> np.ndarray:
    """(n, K) object array of votes: voter k uses profile panel[k]."""
    return np.asarray([[panel_vote(PROFILES[name], truth, key, k, seed) for k, name in enumerate(panel)]
                       for truth, key in zip(truths, pair_keys)], dtype=object)
