"""Schema-driven fuzzing of the served OpenAPI document (schemathesis): whatever the
input, the API answers with JSON and without a server error. Bounded (a few examples
per operation, derandomized) so it runs in seconds."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from flowat_kernel.access import Role
from tests.server.helpers import new_org, publish

MAX_EXAMPLES = 12


def test_no_input_makes_a_server_error(api_server: str) -> None:
    org = new_org("fuzz")
    publish("fuzzed", owner=org.slug)
    headers = {"Authorization": f"Bearer {org.keys[Role.OWNER]}"}
    schema = schemathesis.openapi.from_url(f"{api_server}/api/v1/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(base_url=api_server, headers=headers, timeout=30)
            kind = response.headers.get("content-type") or [""]
            kind = kind[0] if isinstance(kind, list) else kind
            if response.status_code >= 500 or not kind.startswith("application/json"):
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code} "
                    f"{response.text[:200]}"
                )

        check()
    assert operations >= 35
    assert not failures, "\n".join(failures)
