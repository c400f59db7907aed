"""Connecting to Temporal: the embedded dev server by default, a cluster when configured."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)
from temporalio.service import RPCError, TLSConfig

from flowat_kernel.config import Settings
from flowat_kernel.engine import devserver
from flowat_kernel.errors import TemporalUnavailable

__all__ = ["connect", "data_converter", "temporal_address"]


def temporal_address(settings: Settings) -> tuple[str, devserver.DevServer | None]:
    """The address to connect to, starting the embedded server when none is configured."""
    if settings.temporal_address:
        return settings.temporal_address, None
    server, _ = devserver.ensure_running(settings.temporal_dir, settings.temporal_namespace)
    return server.address, server


def _tls(settings: Settings) -> bool | TLSConfig:
    if not settings.temporal_tls:
        return False
    files = (settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca)
    if not any(files):
        return True
    cert, key, ca = (path.read_bytes() if path else None for path in files)
    return TLSConfig(client_cert=cert, client_private_key=key, server_root_ca_cert=ca)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """FlowAt's data converter: pydantic JSON, sealed by ``codec``.

    Failures carry their message and stack trace as an encoded attribute, so the codec
    encrypts those too.
    """
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(
    settings: Settings, codec: PayloadCodec | None = None, attempts: int = 40
) -> Client:
    """Connect a client with FlowAt's data converter (and ``codec`` for payloads).

    On a cluster (``FLOWAT_TEMPORAL_ADDRESS``), the server's version and the namespace
    are checked first (:mod:`flowat_kernel.engine.server_checks`). With
    ``FLOWAT_TRACING`` on, the client (and every worker built on it) traces runs and
    steps (:mod:`flowat_kernel.engine.tracing`).

    Raises:
        TemporalUnavailable: no server answers; says what to check.
        ConfigError: the cluster is too old, or the namespace is missing; tracing is on
            but its packages are missing.

    """
    options: dict[str, Any] = {
        "namespace": settings.temporal_namespace,
        "data_converter": data_converter(codec),
        "tls": _tls(settings),
    }
    if settings.tracing != "off":  # only then is OpenTelemetry imported
        from flowat_kernel.engine.tracing import client_interceptors

        options["interceptors"] = client_interceptors(settings)
    address, embedded = await asyncio.to_thread(temporal_address, settings)
    last: Exception | None = None
    for _ in range(attempts if embedded else 3):
        try:
            client = await Client.connect(address, **options)
        except (RPCError, RuntimeError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.25)
            continue
        if embedded is None:  # a cluster: its version and the namespace, said clearly
            from flowat_kernel.engine.server_checks import check_server

            try:
                await check_server(client, address)
            except RPCError as exc:
                last = exc
                break
        return client
    where = "the embedded dev server" if embedded else "FLOWAT_TEMPORAL_ADDRESS"
    raise TemporalUnavailable(
        f"cannot reach Temporal at {address} ({where}): {last}. "
        + (
            "Run `flowat server stop` and try again."
            if embedded
            else "Check the address, namespace and TLS settings, "
            "or unset it to use the embedded server."
        )
    ) from last
