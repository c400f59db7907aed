"""The public names of ``flowat_kernel``: a change here is an API change, seen in review."""

from __future__ import annotations

import subprocess
import sys

import flowat_kernel

EXPECTED = {
    "CompileError",
    "ConfigError",
    "FlowAtError",
    "NotFoundError",
    "ParameterError",
    "PermissionDenied",
    "Published",
    "Run",
    "RunFailed",
    "SecretHandle",
    "SecretNotFound",
    "SpecError",
    "StoreError",
    "TemporalUnavailable",
    "VaultError",
    "WorkflowSpec",
    "__version__",
    "action",
    "cancel",
    "compile_workflow",
    "connectors",
    "current_step",
    "delete_secret",
    "get_run",
    "idempotency_key",
    "list_secrets",
    "load_ipython_extension",
    "publish",
    "report",
    "rerun",
    "rotate_master_key",
    "run",
    "run_notebook",
    "runs",
    "secret",
    "set_secret",
    "signal",
    "unload_ipython_extension",
    "versions",
    "wait",
}


def test_public_names_are_pinned() -> None:
    assert set(flowat_kernel.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(flowat_kernel, name) is not None


def test_every_public_callable_is_documented() -> None:
    for name in EXPECTED - {"__version__"}:
        assert (getattr(flowat_kernel, name).__doc__ or "").strip(), name


def test_errors_share_one_root() -> None:
    for name in EXPECTED:
        value = getattr(flowat_kernel, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, flowat_kernel.FlowAtError)


def test_import_and_load_ext_stay_light() -> None:
    code = (
        "import sys, flowat_kernel\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'flowat_kernel')\n"
        "heavy = ('temporalio', 'pandas', 'sqlalchemy', 'pyarrow')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
