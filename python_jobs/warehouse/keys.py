"""Stable keys derived from source data: item ids from product URLs, and canonical pair keys
(A,B and B,A are one pair; mirrors macros/pair_key.sql)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse

PAIR_KEY_SEPARATOR = "~"


def item_id_from_url(url: str) -> str:
    """A stable, readable item id from a product URL.

    `https://www.shop.example/p/235105/` -> `shop:235105`: the shop's name (host without `www.`
    and the public suffix) and the last path segment. URLs without a path fall back to a hash.
    """
    parsed = urlparse(url.strip())
    host = parsed.netloc.lower().removeprefix("www.")
    shop = host.split(".")[0] if host else ""
    segments = [segment for segment in parsed.path.split("/") if segment]
    if shop and segments:
        return f"{shop}:{segments[-1]}"
    return "url:" + hashlib.sha256(url.strip().encode()).hexdigest()[:16]


def pair_key(item_a_id: str, item_b_id: str) -> str:
    """The order-free key of a pair: the smaller id first."""
    low, high = sorted((item_a_id, item_b_id))
    return f"{low}{PAIR_KEY_SEPARATOR}{high}"
