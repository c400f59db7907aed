"""Secret handles: what code holds instead of a secret value.

A handle carries a name and nothing else, so printing, logging, pickling, serialising
or passing it between steps can never leak the value. The value exists only as the
return value of :meth:`SecretHandle.reveal`, decrypted at that moment.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from flowat_kernel.step_context import current_scope, scope_services
from flowat_kernel.vault.redaction import register
from flowat_kernel.vault.vault import check_secret_name

__all__ = ["SecretHandle", "reveal", "secret"]


class SecretHandle:
    """A reference to the secret ``name``; ``reveal()`` decrypts it just in time."""

    __slots__ = ("name",)
    name: str

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", check_secret_name(name))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("secret handles are immutable")

    def reveal(self) -> str:
        """Decrypt and return the value; it is masked in everything FlowAt shows or stores.

        Raises:
            SecretNotFound: no secret of this name; the message says how to set it.

        """
        return reveal(self.name)

    def __repr__(self) -> str:
        return f"flowat.secret({self.name!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (SecretHandle, (self.name,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretHandle) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("flowat.secret", self.name))

    def to_json(self) -> dict[str, str]:
        """The handle as JSON: ``{"$secret": NAME}``."""
        return {"$secret": self.name}

    @classmethod
    def from_json(cls, data: object) -> SecretHandle:
        """A handle from ``{"$secret": NAME}`` (or a handle, returned as is).

        Raises:
            ValueError: ``data`` is neither.

        """
        if isinstance(data, SecretHandle):
            return data
        if isinstance(data, dict) and set(data) == {"$secret"}:
            return cls(data["$secret"])
        raise ValueError('expected flowat.secret("NAME") or {"$secret": "NAME"}')

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """In pydantic models a handle validates from, and serialises to, ``{"$secret": NAME}``."""
        return core_schema.no_info_plain_validator_function(
            cls.from_json,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda handle: handle.to_json()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """In JSON schemas (connector inputs, the editor's forms): ``{"$secret": NAME}``."""
        return {
            "type": "object",
            "title": "Secret",
            "description": 'a secret handle: flowat.secret("NAME")',
            "properties": {"$secret": {"type": "string", "title": "Secret name"}},
            "required": ["$secret"],
            "additionalProperties": False,
        }


def secret(name: str) -> SecretHandle:
    """A handle on the secret ``name`` (nothing is decrypted until ``reveal()``).

    Raises:
        VaultError: the name is not a valid secret name.

    """
    return SecretHandle(name)


def reveal(name: str) -> str:
    """Decrypt the secret ``name`` for the current step and register it for masking.

    The value comes from the step scope's organization (outside a run, the local user's).
    """
    scope = current_scope()
    secrets = scope_services().secrets
    value = secrets.reveal(name)
    register(name, value)
    if scope is not None:
        scope.revealed.add(name)  # recorded once, when the step ends
    else:
        _note_use(secrets, name)
    return value


_USE_RECORD_INTERVAL = 60.0
_last_recorded: dict[tuple[int, str], float] = {}


def _note_use(secrets: Any, name: str) -> None:
    """Record a reveal outside a step, at most once a minute per secret and source."""
    key, now = (id(secrets), name), time.monotonic()
    if now - _last_recorded.get(key, -_USE_RECORD_INTERVAL) >= _USE_RECORD_INTERVAL:
        secrets.record_usage([name])
        _last_recorded[key] = now
