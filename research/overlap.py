"""Prototype: title-overlap pair features (Python reference)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

NUM = re.compile(r"\d+(?:\.\d+)?")
NUM_UNIT = re.compile(r"\d+(?:\.\d+)?\s*(?:mm|cm|m|g|kg|ml|l|枚|個|本|冊|箱|袋|巻|組|色|入|セット|パック|ケース|ロール|足|粒|錠|包|缶|台|p|w|v|a)")
BRACKET = re.compile(r"[（(【\[［〈<「].*?[）)】\]］〉>」]")
SPLIT = re.compile(r"[\s　/・,，、]+")
MODEL = re.compile(r"[a-z0-9][a-z0-9\-]*\d[a-z0-9\-]*|[a-z][a-z0-9\-]*\d")


def norm(t: str) -> str:
    return unicodedata.normalize("NFKC", t or "").lower()


def grams(s: str, n: int) -> frozenset:
    if len(s) < n:
        return frozenset([s]) if s else frozenset()
    return frozenset(s[i:i + n] for i in range(len(s) - n + 1))


@dataclass
class Item:
    s: str
    g: list
    tokens: frozenset
    first: str
    last: str
    nums: frozenset
    units: frozenset
    models: frozenset
    masked3: frozenset
    nobr3: frozenset


def item(title: str) -> Item:
    s = norm(title)
    compact = re.sub(r"\s+", " ", s).strip()
    toks = [t for t in SPLIT.split(compact) if t]
    masked = NUM.sub("0", compact)
    nobr = BRACKET.sub(" ", compact)
    return Item(
        s=compact, g=[grams(compact.replace(" ", ""), n) for n in (1, 2, 3, 4)], tokens=frozenset(toks),
        first=toks[0] if toks else "", last=toks[-1] if toks else "",
        nums=frozenset(NUM.findall(compact)), units=frozenset(u.replace(" ", "") for u in NUM_UNIT.findall(compact)),
        models=frozenset(m for m in MODEL.findall(compact) if len(m) >= 3),
        masked3=grams(masked.replace(" ", ""), 3), nobr3=grams(nobr.replace(" ", ""), 3),
    )


def jac(a, b) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def ovl(a, b) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def lcp(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def lcsub(a: str, b: str) -> int:
    from difflib import SequenceMatcher
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return m.size


COLUMNS = (
    "jac_c1", "jac_c2", "jac_c3", "jac_c4", "ovl_c1", "ovl_c2", "ovl_c3", "ovl_c4",
    "lcp_short", "lcp_long", "lcs_short", "lcs_long",
    "first_eq", "first_in_other", "last_eq", "last_in_other",
    "tok_jac", "tok_ovl",
    "num_jac", "num_only_one", "num_both", "unit_jac", "unit_only_one", "unit_both",
    "model_jac", "model_only_one",
    "masked_jac3", "nobr_jac3", "len_ratio", "len_diff",
)


def pair_row(a: Item, b: Item) -> list[float]:
    la, lb = len(a.s), len(b.s)
    short, long_ = max(1, min(la, lb)), max(1, la, lb)
    p = lcp(a.s, b.s)
    q = lcsub(a.s, b.s)
    return [
        *(jac(x, y) for x, y in zip(a.g, b.g)), *(ovl(x, y) for x, y in zip(a.g, b.g)),
        p / short, p / long_, q / short, q / long_,
        float(a.first == b.first and a.first != ""),
        float((a.first and a.first in b.s) or (b.first and b.first in a.s)),
        float(a.last == b.last and a.last != ""),
        float((a.last and a.last in b.s) or (b.last and b.last in a.s)),
        jac(a.tokens, b.tokens), ovl(a.tokens, b.tokens),
        jac(a.nums, b.nums), float(bool(a.nums ^ b.nums)), float(bool(a.nums) and bool(b.nums)),
        jac(a.units, b.units), float(bool(a.units ^ b.units)), float(bool(a.units) and bool(b.units)),
        jac(a.models, b.models), float(bool(a.models ^ b.models)),
        jac(a.masked3, b.masked3), jac(a.nobr3, b.nobr3),
        short / long_, (long_ - short) / long_,
    ]


def overlap_matrix(items: dict[str, Item], a_ids, b_ids) -> np.ndarray:
    return np.array([pair_row(items[x], items[y]) for x, y in zip(a_ids, b_ids)], dtype=np.float32)
