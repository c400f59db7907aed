"""One error tree: every family under FlowAtError, with ``usage`` deciding how it is shown."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import flowat_kernel.errors as errors_module
from flowat_kernel.access.errors import AccessError, Conflict, Forbidden, Unauthenticated
from flowat_kernel.diagnostics import Diagnostic
from flowat_kernel.engine.executor import StepCodeError
from flowat_kernel.engine.logic import LogicFailure
from flowat_kernel.errors import (
    CompileError,
    ConfigError,
    ConnectorError,
    FlowAtError,
    MasterKeyError,
    NotFoundError,
    ParameterError,
    PermissionDenied,
    RunFailed,
    SecretNotFound,
    SpecError,
    StepError,
    StoreError,
    TemporalUnavailable,
    VaultAuthenticationError,
    VaultError,
    exit_code,
    is_usage,
)
from flowat_kernel.expressions.errors import ExpressionError
from flowat_kernel.sandbox.errors import SandboxedCodeError, SandboxError
from flowat_kernel.sdk.errors import ActionError, CircuitOpen
from flowat_kernel.server.errors import ApiError, error_reply

USAGE: list[type[FlowAtError]] = [
    FlowAtError,
    ConfigError,
    CompileError,
    SpecError,
    NotFoundError,
    ParameterError,
    PermissionDenied,
    AccessError,
    Unauthenticated,
    Forbidden,
    Conflict,
    ExpressionError,
    VaultError,
    SecretNotFound,
]
FAILURES: list[type[FlowAtError]] = [
    StoreError,
    TemporalUnavailable,
    RunFailed,
    StepError,
    StepCodeError,
    SandboxError,
    SandboxedCodeError,
    LogicFailure,
    ConnectorError,
    ActionError,
    CircuitOpen,
    MasterKeyError,
    VaultAuthenticationError,
]


def _code_error() -> StepCodeError:
    return StepCodeError("load", ValueError("rows must be positive"), 3, "Traceback ...", "log\n")


def test_importing_the_errors_does_not_import_ipython() -> None:
    code = (
        "import sys\n"
        "import flowat_kernel.errors, flowat_kernel.access.errors, flowat_kernel.sdk.errors\n"
        "import flowat_kernel.expressions.errors\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] == 'IPython'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_the_root_is_a_plain_exception() -> None:
    assert FlowAtError.__mro__[1:] == (Exception, BaseException, object)


@pytest.mark.parametrize("kind", USAGE, ids=lambda k: k.__name__)
def test_usage_families(kind: type[FlowAtError]) -> None:
    assert issubclass(kind, FlowAtError)
    assert kind.usage is True


@pytest.mark.parametrize("kind", FAILURES, ids=lambda k: k.__name__)
def test_failure_families(kind: type[FlowAtError]) -> None:
    assert issubclass(kind, FlowAtError)
    assert kind.usage is False


def test_families_share_their_bases() -> None:
    assert issubclass(Forbidden, PermissionDenied)
    assert issubclass(Forbidden, AccessError)
    assert issubclass(SecretNotFound, NotFoundError)
    assert issubclass(StepCodeError, StepError)
    assert issubclass(LogicFailure, StepError)
    assert issubclass(SandboxError, StepCodeError)
    assert issubclass(ActionError, ConnectorError)


def test_the_tree_in_the_docstring_names_every_family() -> None:
    doc = errors_module.__doc__ or ""
    for kind in [*USAGE, *FAILURES, ApiError]:
        assert kind.__name__ in doc, kind.__name__


def test_api_errors_are_usage_errors_only_for_4xx() -> None:
    assert ApiError(422, "invalid", "the body must be a JSON object").usage is True
    assert ApiError(413, "too_large", "send at most 10 MB").usage is True
    assert ApiError(503, "unavailable", "try again later").usage is False
    assert issubclass(ApiError, FlowAtError)


def test_exit_codes() -> None:
    assert exit_code(ParameterError("rows: expected an integer, got 'x'")) == 2
    assert exit_code(NotFoundError("no workflow 'x'; see `flowat versions`")) == 2
    assert exit_code(Forbidden("a Viewer may not run workflows")) == 2
    assert exit_code(ExpressionError("name 'y' is not defined", expression="y")) == 2
    assert exit_code(RunFailed("run abc failed")) == 1
    assert exit_code(StoreError("the database is locked")) == 1
    assert exit_code(TemporalUnavailable("no server at localhost:7233")) == 1
    assert exit_code(_code_error()) == 1
    assert exit_code(ActionError("http.get: 503", retryable=True)) == 1
    assert exit_code(ApiError(400, "bad_request", "send JSON")) == 2
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(RuntimeError("a bug")) == 1


def test_is_usage_reads_the_attribute() -> None:
    assert is_usage(ConfigError("FLOWAT_HOME is not a directory"))
    assert not is_usage(MasterKeyError("the master key file is readable by others"))
    assert not is_usage(ValueError("not a FlowAt error"))

    class Custom(FlowAtError):
        """A subclass that says nothing is a usage error, like its root."""

    assert is_usage(Custom("x"))


def test_messages_say_what_happened_and_where() -> None:
    compile_error = CompileError(
        [Diagnostic("undefined-name", "name 'df' is not defined; define it earlier", "b", 2, 1)]
    )
    assert str(compile_error).startswith("the notebook does not compile (1 problem):")
    assert "define it earlier" in str(compile_error)
    error = _code_error()
    assert str(error) == "step 'load' failed (cell line 3): ValueError: rows must be positive"
    failure = LogicFailure("route", "ExpressionError", "name 'x' is not defined")
    assert str(failure) == "step 'route' failed: ExpressionError: name 'x' is not defined"
    sandboxed = SandboxError("heavy", "memory", "the step used more than 512 MiB; raise --memory")
    assert "raise --memory" in str(sandboxed)


def test_step_errors_pickle_with_their_attributes() -> None:
    error = _code_error()
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is StepCodeError
    assert str(copy) == str(error)
    assert copy.as_dict() == error.as_dict()
    assert (copy.logs, copy.retryable) == ("log\n", None)

    limit = pickle.loads(pickle.dumps(SandboxError("heavy", "memory", "too much", "out")))
    assert type(limit) is SandboxError
    assert (limit.limit, limit.exc_type, limit.retryable, limit.logs) == (
        "memory",
        "SandboxError",
        False,
        "out",
    )
    raised = pickle.loads(
        pickle.dumps(SandboxedCodeError("s", "KeyError", "'k'", 4, "Traceback", ""))
    )
    assert (raised.exc_type, raised.cell_line) == ("KeyError", 4)

    failure = pickle.loads(pickle.dumps(LogicFailure("route", "ExpressionError", "bad")))
    assert failure.failure["message"] == "step 'route' failed: ExpressionError: bad"

    api = pickle.loads(pickle.dumps(ApiError(404, "not_found", "no such run")))
    assert (api.status, api.code, api.message, api.usage) == (404, "not_found", "no such run", True)


def test_step_code_error_keeps_the_name_the_engine_matches() -> None:
    error = StepCodeError("s", NameError("name 'x' is not defined"), None, "", "")
    assert error.exc_type == "NameError"
    assert type(error).__name__ == "StepCodeError"


def test_rest_mapping_is_unchanged() -> None:
    assert error_reply(Forbidden("no"))[0] == 403
    assert error_reply(Unauthenticated("no"))[0] == 401
    assert error_reply(SecretNotFound("no secret 'k'"))[0] == 404
    assert error_reply(ApiError(413, "too_large", "smaller"))[0] == 413
    assert error_reply(TemporalUnavailable("down"))[0] == 503


def test_rest_answers_a_failure_with_500_and_bad_input_with_4xx() -> None:
    from flowat_kernel.errors import MasterKeyError, ParameterError, VaultError
    from flowat_kernel.server.errors import error_reply

    status, body = error_reply(MasterKeyError("the master key is not the one rows need"))
    assert (status, body["error"]["code"]) == (500, "failed")
    assert "master key" in body["error"]["message"]
    assert error_reply(ParameterError("n must be an integer"))[0] == 422
    assert error_reply(VaultError("bad secret name"))[0] == 422  # a usage error
