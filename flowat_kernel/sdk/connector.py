"""Declaring a connector: an id, metadata, an authentication schema and typed actions."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from flowat_kernel.sdk.context import ActionContext

__all__ = ["Action", "AuthField", "Connector"]

_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AuthField:
    """One credential a connector needs: a secret handle passed in an action input."""

    name: str
    description: str
    required: bool = True


@dataclass(frozen=True)
class Action:
    """One typed operation of a connector.

    Attributes:
        name: the action's name (``request`` in ``http.request``).
        description: one line for people and the graph editor's palette.
        input: pydantic model of the input (secret fields typed ``SecretHandle``).
        output: pydantic model of the output.
        retry_safe: whether repeating a call that may have had its effect is harmless
            (a GET, an upsert, a call with an idempotency key); unsafe actions are still
            retried on errors that prove no effect happened (a refused connection).
        function: ``function(context, input) -> output``.
        connector: the id of the connector it belongs to.
        target: ``target(input) -> host``: what the circuit breaker is keyed on.

    """

    name: str
    description: str
    input: type[BaseModel]
    output: type[BaseModel]
    retry_safe: bool
    function: Callable[[ActionContext, Any], Any]
    connector: str
    target: Callable[[Any], str | None] | None = None

    @property
    def full_name(self) -> str:
        """``connector.action``."""
        return f"{self.connector}.{self.name}"


@dataclass
class Connector:
    """A connector: declare it once, then add actions with :meth:`action`.

    Example::

        weather = Connector(id="weather", name="Weather", description="Forecasts")

        @weather.action("forecast", input=ForecastIn, output=ForecastOut, retry_safe=True)
        def forecast(ctx: ActionContext, params: ForecastIn) -> ForecastOut: ...

    and register it in ``pyproject.toml``::

        [project.entry-points."flowat.connectors"]
        weather = "my_package.weather:weather"

    """

    id: str
    name: str
    description: str
    icon: str = ""
    auth: tuple[AuthField, ...] = ()
    actions: dict[str, Action] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(
                f"connector id {self.id!r}: use lower-case letters, digits, '_' or '-', "
                "starting with a letter"
            )

    def action(
        self,
        name: str,
        *,
        input: type[BaseModel],
        output: type[BaseModel],
        retry_safe: bool,
        description: str = "",
        target: Callable[[Any], str | None] | None = None,
    ) -> Callable[[F], F]:
        """Register ``function(context, input) -> output`` as the action ``name``.

        ``target(input)`` names the host a call goes to; calls are guarded by one
        circuit breaker per connector and host.
        """
        if not _ID.match(name.replace(".", "_")):
            raise ValueError(f"action name {name!r}: use lower-case letters, digits and '_'")
        if name in self.actions:
            raise ValueError(f"connector {self.id!r} already has an action {name!r}")

        def register(function: F) -> F:
            doc = (function.__doc__ or "").strip().splitlines()
            self.actions[name] = Action(
                name=name,
                description=description or (doc[0] if doc else ""),
                input=input,
                output=output,
                retry_safe=retry_safe,
                function=function,
                connector=self.id,
                target=target,
            )
            return function

        return register

    def describe(self) -> dict[str, Any]:
        """JSON description: metadata, auth and each action's input and output schemas."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "icon": self.icon,
            "auth": [vars(f) for f in self.auth],
            "actions": [
                {
                    "name": a.full_name,
                    "description": a.description,
                    "retry_safe": a.retry_safe,
                    "input": a.input.model_json_schema(),
                    "output": a.output.model_json_schema(),
                }
                for a in self.actions.values()
            ],
        }
