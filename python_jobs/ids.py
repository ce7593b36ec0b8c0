"""Stable identifiers derived from source data."""

from __future__ import annotations

import hashlib
from urllib.parse import urlparse


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
