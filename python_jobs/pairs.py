"""Canonical pair keys: A,B and B,A are one pair. Mirrors macros/pair_key.sql."""

from __future__ import annotations

PAIR_KEY_SEPARATOR = "~"


def pair_key(item_a_id: str, item_b_id: str) -> str:
    """The order-free key of a pair: the smaller id first."""
    low, high = sorted((item_a_id, item_b_id))
    return f"{low}{PAIR_KEY_SEPARATOR}{high}"
