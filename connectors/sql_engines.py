"""The ``sql`` connector's database URLs and its engine cache.

:func:`_parse` reads a URL (``postgresql://`` means psycopg) and never repeats it in an
error; :func:`_pin` makes it reach only an address FlowAt's egress policy allows;
:func:`_engine` keeps one engine per database in this process (at most 16, the least
recently used disposed first, all of them at exit); :func:`_scrub` takes the URL and its
password out of whatever message a driver wrote.
"""

from __future__ import annotations

import atexit
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from flowat_kernel.sdk import ActionError
from flowat_kernel.sdk.egress import destination, policy

from . import sqlite_files


def _parse(value: str, action: str = "sql") -> URL:
    """``value`` as a URL; ``postgresql://`` and ``postgres://`` mean psycopg.

    Raises:
        ActionError: not a URL (the message never repeats it).

    """
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ActionError(
            f"{action}: url is not a SQLAlchemy database URL; use e.g. postgresql://user@host/db "
            "or sqlite:///path/in/root.db",
            retryable=False,
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _host(url: URL) -> str:
    """What the circuit breaker is keyed on: ``host:port``, or the SQLite file."""
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{url.database or ':memory:'}"[:255]
    port = f":{url.port}" if url.port else ""
    return f"{url.host or 'localhost'}{port}"


_MAX_ENGINES = 16
_engines: OrderedDict[str, Engine] = OrderedDict()
_engines_lock = threading.Lock()


_HOST_CHOOSERS = ("host", "hostaddr", "service")


def _pin(url: URL, action: str) -> tuple[URL, dict[str, Any]]:
    """``url`` and extra connect arguments that make it reach only a checked address.

    Raises:
        ActionError: the egress policy refuses the host, or the URL picks its host in a
            way the policy cannot check.

    """
    if url.get_backend_name() == "sqlite" or policy() == "open":
        return url, {}
    choosers = sorted(set(_HOST_CHOOSERS) & set(url.query))
    if choosers or not url.host or url.host.startswith("/"):
        raise ActionError(
            f"{action}: under the egress policy 'public' the database URL must name its "
            f"host in the URL itself (postgresql://user@host:5432/db), not through "
            f"{', '.join(f'?{c}=' for c in choosers) or 'a Unix socket or the default host'}",
            retryable=False,
        )
    address = destination(url.host, url.port or 0, f"{action} to {_host(url)}")
    if address == url.host:
        return url, {}
    if url.get_backend_name() == "postgresql":
        return url, {"hostaddr": address}  # libpq connects there, TLS checks url.host
    return url.set(host=address), {}


def _create(url: URL, pinned: dict[str, Any]) -> Engine:
    # hide_parameters: SQLAlchemy's messages must not carry values that may be secret.
    connect_args: dict[str, Any] = dict(pinned)
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10
    return create_engine(
        url,
        hide_parameters=True,
        connect_args=connect_args,
        pool_size=2,
        max_overflow=3,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=30,
    )


def _engine(url: URL, action: str, root: str | None = None) -> Engine:
    """The cached engine for ``url`` (the least recently used one beyond 16 is disposed).

    Raises:
        ActionError: the dialect or its driver is not installed, or a SQLite URL names
            a file outside the files roots.

    """
    if url.get_backend_name() == "sqlite":
        database = sqlite_files.locate(url, root, action)
        key = database.key if database else "sqlite://"
        create: Callable[[], Engine] = sqlite_files.memory_engine
        if database is not None:
            create = partial(sqlite_files.engine, database, action, pool_size=2, max_overflow=3)
    else:
        url, pinned = _pin(url, action)
        key = url.render_as_string(hide_password=False) + (f"@{pinned}" if pinned else "")
        create = partial(_create, url, pinned)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            _engines.move_to_end(key)
            return engine
        try:
            engine = create()
        except (ArgumentError, ImportError) as exc:
            raise ActionError(
                f"{action}: cannot use a {url.drivername!r} database URL: {type(exc).__name__}: "
                f"{_scrub(str(exc), url, key)}; install its driver or use a supported URL",
                retryable=False,
            ) from None
        _engines[key] = engine
        while len(_engines) > _MAX_ENGINES:
            _engines.popitem(last=False)[1].dispose()
    return engine


@atexit.register
def _dispose_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _scrub(message: str, url: URL, raw: str) -> str:
    """``message`` without the URL or its password, whatever the driver put in it."""
    password = url.password
    if not password:
        return message
    for value in (raw, url.render_as_string(hide_password=False)):
        message = message.replace(value, "[url]")
    if len(password) >= 4:  # shorter ones would garble the message; masking skips them too
        message = message.replace(password, "***")
    return message
