"""How the ``sql`` connector reports a failure: retryable or not, and what to do.

:func:`_classify` decides from SQLAlchemy's error and the driver's (its SQLSTATE and
message) whether retrying may help and what to tell the user; :func:`_failure` builds
the :class:`~flowat_kernel.sdk.ActionError`, its message scrubbed of the URL and its
password; :func:`_describe` names the database in errors without showing its URL.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.engine import URL
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from flowat_kernel.sdk import ActionError
from flowat_kernel.vault.handles import SecretHandle

from . import sqlite_files
from .sql_engines import _host, _scrub

_LOGIN_PROBLEMS = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # the role or the database
    "access denied",
)


def _driver_message(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc)
    return message.split(" (Background on this error at:")[0].strip()


def _sqlstate(exc: SQLAlchemyError) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def _classify(exc: SQLAlchemyError, connecting: bool) -> tuple[bool, str]:
    """Whether retrying may help, and what to tell the user to do."""
    orig = getattr(exc, "orig", None)
    message = _driver_message(exc).lower()
    if isinstance(orig, sqlite3.Error):
        return sqlite_files.classify(orig)
    if _sqlstate(exc) == "25006":
        return False, "query only reads; use sql.execute for statements that change data"
    if isinstance(exc, PoolTimeout | DisconnectionError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return True, "the connection failed; it will be retried"
    if isinstance(exc, OperationalError):
        if connecting and any(problem in message for problem in _LOGIN_PROBLEMS):
            return False, "the database refused the login: check the user, password and database"
        if _sqlstate(exc).startswith("54"):
            return False, "the statement exceeds a database limit; simplify it"
        return True, "the database could not be reached or is overloaded; it will be retried"
    if isinstance(exc, IntegrityError):
        return False, "the data violates a constraint; fix the values or the statement"
    if "bind parameter" in message:
        return False, (
            "give every :name of the SQL a value in params "
            "(a literal colon before a word is written \\:word)"
        )
    return False, "fix the SQL or its parameters"


def _failure(
    action: str, exc: SQLAlchemyError, url: URL, raw: str, where: str, connecting: bool
) -> ActionError:
    retryable, advice = _classify(exc, connecting)
    kind = type(getattr(exc, "orig", None) or exc).__name__
    problem = "cannot connect to" if connecting else "failed on"
    message = f"{action} {problem} {where}; {advice}. {kind}: {_driver_message(exc)}"
    return ActionError(_scrub(message, url, raw), retryable=retryable, host=_host(url))


def _describe(handle: SecretHandle | str, url: URL) -> str:
    """How errors name the database: by its secret, or by the URL without its password."""
    if isinstance(handle, SecretHandle):
        return f"the database of {handle!r} ({_host(url)})"
    return url.render_as_string(hide_password=True)
