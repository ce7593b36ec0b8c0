"""Few-shot examples from the human labels: which labelled pairs a call's prompt shows.

Three selectors, one interface (`select(pair) -> tuple[FewShotExample, ...]`):

- `fixed`: the same k examples for every pair (a seeded draw from the pool);
- `balanced`: one example per FBL class (k classes, chosen per pair), so no class is favoured;
- `nearest`: the k pool pairs nearest to the pair by its text features (character 3-5-gram
  TF-IDF of both titles and categories, cosine), the pair's own neighbours.

Guarantees, each tested:
- the pool never holds an evaluation pair: `ExamplePool` refuses one (the caller passes the
  evaluation pair keys: the OOD test half, the judge's reserve, the pairs being annotated);
- a pair is never its own example;
- the selection is a pure function of (selector settings, pool, pair): the same pair gets the same
  examples in every run, so the selection is part of the cache key and recorded with each call
  (`request_params.few_shot`: the example pair keys).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from python_jobs.annotation.base import PairToAnnotate

SELECTORS = ("none", "fixed", "balanced", "nearest")


@dataclass(frozen=True)
class FewShotExample:
    """A human-labelled pair shown to the model with its majority 9-class label."""

    pair: PairToAnnotate
    fbl_label: int


class EvaluationPairInPool(ValueError):
    """An evaluation pair was offered as a few-shot example."""


class ExamplePool:
    """The labelled pairs selectors draw from, sorted by pair key (order-independent input)."""

    def __init__(self, examples: Iterable[FewShotExample], evaluation_pair_keys: Iterable[str]):
        self.evaluation_pair_keys = frozenset(evaluation_pair_keys)
        self.examples = tuple(sorted(examples, key=lambda e: e.pair.pair_key))
        leaked = [e.pair.pair_key for e in self.examples if e.pair.pair_key in self.evaluation_pair_keys]
        if leaked:
            raise EvaluationPairInPool(f"{len(leaked)} evaluation pair(s) offered as few-shot examples, e.g. {leaked[0]}")

    def __len__(self) -> int:
        return len(self.examples)

    def candidates_for(self, pair: PairToAnnotate) -> list[int]:
        return [i for i, e in enumerate(self.examples) if e.pair.pair_key != pair.pair_key]


class FewShotSelector(Protocol):
    name: str

    def select(self, pair: PairToAnnotate) -> tuple[FewShotExample, ...]: ...


def _rank(seed: int, *parts: str) -> str:
    return hashlib.sha256("|".join((str(seed),) + parts).encode()).hexdigest()


@dataclass
class NoExamples:
    name: str = "none"

    def select(self, pair: PairToAnnotate) -> tuple[FewShotExample, ...]:
        return ()


class FixedSelector:
    """The same k examples for every pair: the k pool pairs first in a seeded hash order (a pair
    that is itself one of them gets the next one instead)."""

    name = "fixed"

    def __init__(self, pool: ExamplePool, k: int = 3, seed: int = 0):
        self.pool, self.k, self.seed = pool, k, seed
        self._order = sorted(range(len(pool)), key=lambda i: _rank(seed, "fixed", pool.examples[i].pair.pair_key))

    def select(self, pair: PairToAnnotate) -> tuple[FewShotExample, ...]:
        chosen = [self.pool.examples[i] for i in self._order if self.pool.examples[i].pair.pair_key != pair.pair_key]
        return tuple(chosen[: self.k])


class BalancedSelector:
    """One example of each of k FBL classes, the class and the example both drawn per pair by a
    hash of (seed, pair key): different pairs see different examples, the same pair always the same."""

    name = "balanced"

    def __init__(self, pool: ExamplePool, k: int = 9, seed: int = 0):
        self.pool, self.k, self.seed = pool, k, seed
        self._by_class: dict[int, list[int]] = {}
        for index, example in enumerate(pool.examples):
            self._by_class.setdefault(example.fbl_label, []).append(index)

    def select(self, pair: PairToAnnotate) -> tuple[FewShotExample, ...]:
        classes = sorted(self._by_class, key=lambda c: _rank(self.seed, "class", pair.pair_key, str(c)))[: self.k]
        chosen = []
        for code in sorted(classes):
            members = [i for i in self._by_class[code] if self.pool.examples[i].pair.pair_key != pair.pair_key]
            if members:
                best = min(members, key=lambda i: _rank(self.seed, "example", pair.pair_key, self.pool.examples[i].pair.pair_key))
                chosen.append(self.pool.examples[best])
        return tuple(chosen)


def pair_text(pair: PairToAnnotate) -> str:
    return " | ".join([pair.item_a_title, pair.item_a_category or "", pair.item_b_title, pair.item_b_category or ""])


class NearestSelector:
    """The k pool pairs most similar to the pair: cosine of character 3-5-gram TF-IDF vectors of
    the titles and categories (works for Japanese titles, no tokenizer). Ties break by pair key."""

    name = "nearest"

    def __init__(self, pool: ExamplePool, k: int = 3, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pool, self.k, self.seed = pool, k, seed
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1, sublinear_tf=True)
        self._matrix = self._vectorizer.fit_transform([pair_text(e.pair) for e in pool.examples]) if len(pool) else None

    def select(self, pair: PairToAnnotate) -> tuple[FewShotExample, ...]:
        if self._matrix is None:
            return ()
        scores = np.asarray((self._matrix @ self._vectorizer.transform([pair_text(pair)]).T).todense()).ravel()
        scores = np.round(scores, 9)  # sparse-product rounding noise must not reorder ties
        order = sorted(self.pool.candidates_for(pair), key=lambda i: (-scores[i], self.pool.examples[i].pair.pair_key))
        return tuple(self.pool.examples[i] for i in order[: self.k])


def make_selector(name: str, pool: ExamplePool | None, k: int, seed: int = 0) -> FewShotSelector:
    if name not in SELECTORS:
        raise ValueError(f"unknown few-shot selector {name!r}; choose one of {SELECTORS}")
    if name == "none":
        return NoExamples()
    if pool is None or not len(pool):
        raise ValueError(f"few-shot selector {name!r} needs labelled pairs: ingest the FBL labels and run dbt build")
    return {"fixed": FixedSelector, "balanced": BalancedSelector, "nearest": NearestSelector}[name](pool, k, seed)


def example_keys(examples: Sequence[FewShotExample]) -> list[str]:
    return [e.pair.pair_key for e in examples]
