"""An organization's own egress policy, attacked over real HTTP and in real runs.

Its Owner may tighten or loosen where the organization's network connectors connect;
an Administrator, Editor or Viewer (even with a ``*`` key) may not, and an installation
set to ``FLOWAT_EGRESS=public`` is never loosened. Runs are real (the Temporal dev
server) and the destination a loopback HTTP server that records every request.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowat_kernel.access import Principal, Role, access
from flowat_kernel.compiler import Cell
from flowat_kernel.runtime import get_runtime
from flowat_kernel.sdk import egress
from flowat_kernel.step_context import StepScope, step_scope
from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply
from flowat_kernel.workspace import Workspace
from tests.server import helpers
from tests.server.helpers import Api, new_org

# The API server fixtures of tests/server, for this module's REST test.
api_server = helpers.api_server
api = helpers.api


@pytest.mark.parametrize(
    ("installation", "chosen", "trigger", "expected"),
    [
        ("auto", None, "rest", "public"),  # no choice: the installation's rule
        ("auto", None, "cli", "open"),
        ("auto", "open", "rest", "open"),  # the Owner loosened it
        ("auto", "open", "webhook", "open"),
        ("auto", "public", "cli", "public"),  # the Owner tightened it
        ("auto", "auto", "rest", "public"),
        ("open", "auto", "webhook", "public"),
        ("open", "auto", "notebook", "open"),
        ("open", "public", "cli", "public"),
        ("public", "open", "cli", "public"),  # never looser than the installation
        ("public", "auto", "notebook", "public"),
        ("auto", "wide-open", "rest", "public"),  # an unknown value counts as none
    ],
)
def test_the_organizations_choice_meets_the_installations(
    monkeypatch: pytest.MonkeyPatch,
    installation: str,
    chosen: str | None,
    trigger: str,
    expected: str,
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", installation)
    scope = StepScope("org", "wf", "run-1", "step", trigger=trigger, organization_egress=chosen)
    with step_scope(scope):
        assert egress.policy() == expected
        assert egress.policy("public") == "public"  # an author may still tighten it
        assert egress.policy("open") == expected


def test_an_unreadable_choice_fails_closed() -> None:
    class StoreDown:
        def organization(self, slug: str) -> Any:
            raise OSError("database is locked")

    assert egress.organization_policy(StoreDown(), "org-that-cannot-be-read") == "public"
    assert egress.organization_policy(StoreDown(), None) is None  # no organization at all


def test_only_an_owner_changes_it(api: Api) -> None:
    org = new_org("egress")
    for role in (Role.ADMINISTRATOR, Role.EDITOR, Role.VIEWER):
        member = api.as_(org.keys[role])
        shown = member.get("/organization")
        assert shown.status_code == 200, shown.text
        assert shown.json()["egress"] == "installation"
        refused = member.put("/organization", json={"egress": "open"})
        assert refused.status_code == 403, (role, refused.text)
    owner = api.as_(org.keys[Role.OWNER])
    assert owner.get("/organization").json()["egress"] == "installation"

    # A key of the Owner without the scope cannot do it either.
    narrow = get_runtime()
    limited = access().keys.create(org.principal(), name="runs only", scopes=["runs:write"])
    refused = api.as_(limited.key).put("/organization", json={"egress": "open"})
    assert refused.status_code == 403, refused.text
    assert narrow.store.organization(org.slug).egress is None

    bad = owner.put("/organization", json={"egress": "everywhere"})
    assert bad.status_code == 422, bad.text
    assert "auto, open, public, installation" in bad.json()["error"]["message"]
    assert narrow.store.organization(org.slug).egress is None

    changed = owner.put("/organization", json={"egress": "public"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["egress"] == "public"
    assert changed.json()["egress_in_effect"] == "public"
    assert owner.put("/organization", json={"egress": "installation"}).json()["egress"] == (
        "installation"
    )

    audit = owner.get("/audit", params={"action": "organization.egress"}).json()["items"]
    assert [(e["actor"], e["detail"]["from"], e["detail"]["to"]) for e in audit] == [
        (f"owner-{org.slug}", "public", "installation"),
        (f"owner-{org.slug}", "installation", "public"),
    ]
    denied = owner.get("/audit", params={"action": "access.denied", "limit": 100}).json()
    refusals = [e for e in denied["items"] if e["target"] == "/api/v1/organization"]
    assert {e["actor"] for e in refusals} >= {
        f"administrator-{org.slug}",
        f"editor-{org.slug}",
        f"viewer-{org.slug}",
    }


@pytest.mark.timeout(240)
def test_runs_follow_their_organizations_policy(
    temporal: str, workflow_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWAT_EGRESS", "auto")
    monkeypatch.delenv("FLOWAT_EGRESS_ALLOW", raising=False)
    org = new_org("egress-runs")
    owner = Workspace(get_runtime(), org.principal(Role.OWNER))
    admin_user = f"administrator-{org.slug}"
    admin = Workspace(get_runtime(), Principal(admin_user, org.slug, Role.ADMINISTRATOR))

    def echo(request: Recorded) -> Reply:
        return Reply(200, {"path": request.path})

    with LoopbackHTTPServer(echo) as server:
        owner.publish(
            workflow_name,
            cells=[
                Cell("target = ''", 1, tags=("parameters",)),
                Cell(
                    "%%flowat step fetch --retries 0\n"
                    "status = flowat.action('http.request', url=target).status",
                    2,
                ),
            ],
        )

        def run(path: str, trigger: str) -> Any:
            return owner.run(
                workflow_name, parameters={"target": server.url + path}, trigger=trigger
            )

        # The installation's rule: an API-started run gets public.
        refused = run("/rest-installation", "rest")
        assert refused.status == "failed"
        assert "runs started by rest (FLOWAT_EGRESS: auto)" in str(refused.error)

        # The Owner lets the organization's runs reach its private services.
        with pytest.raises(Exception, match="organization:write"):
            admin.set_egress("open")
        owner.set_egress("open")
        reached = run("/rest-open", "rest")
        assert reached.status == "succeeded", reached.error

        # An installation set to public is never loosened by an organization.
        monkeypatch.setenv("FLOWAT_EGRESS", "public")
        refused = run("/rest-installation-public", "rest")
        assert refused.status == "failed"
        assert "FLOWAT_EGRESS=public" in str(refused.error)
        monkeypatch.setenv("FLOWAT_EGRESS", "auto")

        # The Owner tightens it: even a locally started run gets public now.
        owner.set_egress("public")
        refused = run("/cli-public", "cli")
        assert refused.status == "failed"
        assert "the organization's policy is public" in str(refused.error)

        # Back to the installation's rule.
        owner.set_egress("installation")
        reached = run("/cli-installation", "cli")
        assert reached.status == "succeeded", reached.error
    assert [r.path for r in server.requests] == ["/rest-open", "/cli-installation"]
