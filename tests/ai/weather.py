"""A tool connector for the agent tests: ``weather.lookup``, recording each call.

``fail_first`` makes the first lookup of a city fail retryably (a 503 from the service),
``refuse`` makes a city's lookups fail for good.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

from flowat_kernel.sdk import ActionContext, ActionError, Connector

TEMPERATURES = {"Oslo": 4.0, "Rome": 21.0, "Cairo": 30.0}


class LookupIn(BaseModel):
    city: str = Field(description="the city's name")
    units: Literal["C", "F"] = Field(default="C", description="C or F")


class LookupOut(BaseModel):
    city: str
    temperature: float
    units: str


class Weather:
    """The connector and what it saw."""

    def __init__(self, connector_id: str = "weather") -> None:
        self.connector = Connector(id=connector_id, name="Weather", description="temperatures")
        self.calls: list[tuple[str, str, str]] = []  # (city, units, idempotency key)
        self.attempts: Counter[str] = Counter()
        self.fail_first: set[str] = set()
        self.refuse: set[str] = set()
        self._lock = threading.Lock()

        @self.connector.action("lookup", input=LookupIn, output=LookupOut, retry_safe=True)
        def lookup(ctx: ActionContext, params: LookupIn) -> LookupOut:
            """Today's temperature in a city."""
            with self._lock:
                self.calls.append((params.city, params.units, ctx.idempotency_key))
                self.attempts[params.city] += 1
                first = self.attempts[params.city] == 1
            if params.city in self.refuse:
                raise ActionError(f"no station in {params.city}", retryable=False)
            if first and params.city in self.fail_first:
                raise ActionError("weather service answered 503", retryable=True)
            celsius = TEMPERATURES[params.city]
            value = celsius if params.units == "C" else celsius * 9 / 5 + 32
            return LookupOut(city=params.city, temperature=value, units=params.units)
