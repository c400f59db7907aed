"""What an ``llm.chat`` call costs: the price table, and the cost of a call's tokens."""

from __future__ import annotations

from .llm_models import ChatInput, Usage

__all__ = ["PRICES", "price"]


# USD per million (input, output) tokens, from the providers' public price lists in
# 2025. A model is priced by its longest matching prefix, so dated snapshots such as
# ``gpt-4o-2024-08-06`` find their family; pass ``price_in_per_million`` and
# ``price_out_per_million`` for other models or negotiated prices.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4": (30.00, 60.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}


def price(model: str) -> tuple[float, float] | None:
    """USD per million (input, output) tokens of ``model``, by longest prefix; or ``None``."""
    name = model.lower().rpartition("/")[2]  # "openai/gpt-4o" as gateways name it
    matches = [p for p in PRICES if name == p or name.startswith(p + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def _cost(params: ChatInput, models: tuple[str, ...], usage: Usage) -> float:
    table = next((p for p in map(price, models) if p is not None), (0.0, 0.0))
    rate_in = params.price_in_per_million
    rate_out = params.price_out_per_million
    rate_in = table[0] if rate_in is None else rate_in
    rate_out = table[1] if rate_out is None else rate_out
    cost = (usage.prompt_tokens * rate_in + usage.completion_tokens * rate_out) / 1_000_000
    return round(cost, 8)
