"""Token prices: what a call costs, from the usage the server reports.

Prices are USD per one million tokens (input, output). The built-in table holds a few public
list prices as a starting point; prices change, so override them with a JSON file
(`KARL_LLM_PRICES=/path/prices.json`, shape `{"model": {"input": 0.15, "output": 0.6}}`, a
`"*"` entry as the default for unknown models). A model with no price has unknown cost (None):
a run with a cost budget refuses to start on such a model rather than spend blindly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class ModelPrice:
    input_per_mtok: float
    output_per_mtok: float


DEFAULT_PRICES: dict[str, ModelPrice] = {
    # USD per 1M tokens, public list prices at the time of writing; override for your contract.
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    # Local servers cost nothing per token.
    "fake-llm": ModelPrice(0.0, 0.0),
    "smollm2-135m-instruct": ModelPrice(0.0, 0.0),
}


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def price_for(self, model: str) -> ModelPrice | None:
        if model in self.prices:
            return self.prices[model]
        # Dated snapshots ("gpt-4o-mini-2024-07-18") take the price of their family.
        family = max((name for name in self.prices if name != "*" and model.startswith(name + "-")), key=len, default=None)
        if family is not None:
            return self.prices[family]
        return self.prices.get("*")

    def cost(self, model: str, tokens_in: int | None, tokens_out: int | None) -> float | None:
        price = self.price_for(model)
        if price is None or tokens_in is None or tokens_out is None:
            return None
        return (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1_000_000

    @classmethod
    def from_file(cls, path: Path | str, base: Mapping[str, ModelPrice] | None = None) -> "PriceTable":
        data = json.loads(Path(path).read_text())
        prices = dict(DEFAULT_PRICES if base is None else base)
        for model, entry in data.items():
            prices[model] = ModelPrice(float(entry["input"]), float(entry["output"]))
        return cls(prices)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "PriceTable":
        env = os.environ if env is None else env
        path = env.get("KARL_LLM_PRICES")
        return cls.from_file(path) if path else cls()
