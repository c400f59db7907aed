"""The panel's organization settings and trigger editing in a real JupyterLab, in headless
Debian Chromium, as the logged-in Jupyter user (an Owner acting directly).

What must be seen in a browser: an API key and an invitation token shown once and gone
from the page (DOM, local and session storage, IndexedDB, cookies) once their dialog
closes; master-key rotation offered to the Jupyter Owner and working; a secret's history
without its value; a schedule edited and paused, and a webhook's signing secret rotated,
from the panel. The REST rules behind them are tested in tests/server/test_settings_api.py.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowat_kernel as flowat
from flowat_kernel.access import Principal, Role, access, local_principal
from flowat_kernel.access.invitations import Invitations
from flowat_kernel.api.triggers import add_schedule, add_webhook
from flowat_kernel.runtime import get_runtime
from flowat_kernel.testing import cells
from tests.browser.conftest import ARTIFACTS, Lab
from tests.browser.test_flowat_panel import _open_panel
from tests.browser.test_flowat_panel_actions import _api, _palette, _storage
from tests.conftest import flowat_home_at


@pytest.fixture(scope="module")
def flowat_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home of this module's own (and so its JupyterLab's): a test here rotates the
    master key, which retires the key the session home's other stores still need."""
    with flowat_home_at(tmp_path_factory.mktemp("settings-home")) as home:
        yield home


def _open_section(page: Any, name: str) -> Any:
    """Open a section by its title (its summary also holds buttons and a filter)."""
    section = page.locator(f"#flowat-panel .flowat-section[data-section='{name}']")
    section.locator("summary .flowat-section-title").click()
    page.wait_for_function(
        "(name) => document.querySelector(`#flowat-panel .flowat-section[data-section='${name}']`)"
        "?.dataset.loaded",
        arg=name,
        timeout=30_000,
    )
    message = section.locator(".flowat-section-message").inner_text()
    assert section.get_attribute("data-loaded") == "true", message
    return section


def _status_with(lab: Lab, key: str) -> int:
    """The status GET /api/v1/me answers a bearer ``key``."""
    request = urllib.request.Request(
        f"{lab.url}/api/v1/me", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _shown_once(page: Any) -> str:
    """The value of the open shown-once dialog, after which the dialog is closed."""
    field = page.locator(".jp-Dialog .flowat-shown-once-value")
    field.wait_for(timeout=30_000)
    value = str(field.input_value())
    assert value and page.locator(".jp-Dialog .flowat-copy").is_visible()
    dialog = page.locator(".jp-Dialog").last.element_handle()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    dialog.wait_for_element_state("hidden", timeout=10_000)
    return value


def _accept_dialog(page: Any) -> None:
    """Press the open dialog's last button and wait until that dialog is gone (another
    may open at once: the shown-once value after a form)."""
    dialog = page.locator(".jp-Dialog").last.element_handle()
    page.locator(".jp-Dialog .jp-Dialog-footer button").last.click()
    dialog.wait_for_element_state("hidden", timeout=30_000)


def test_keys_and_invitations_are_shown_once_and_the_owner_rotates_the_master_key(
    jupyterlab: Lab, browser: Any
) -> None:
    workflow = f"settings_{uuid.uuid4().hex[:8]}"
    secret_name = f"lab_settings_{uuid.uuid4().hex[:6]}"
    value = f"sk-settings-canary-{secrets.token_hex(12)}"
    flowat.publish(
        workflow, cells=cells(f"%%flowat step fetch\ntoken = flowat.secret('{secret_name}')")
    )
    _api(jupyterlab, "PUT", f"/secrets/{secret_name}", {"value": value})
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_panel(page, jupyterlab)

        keys = _open_section(page, "keys")
        keys.locator(".flowat-key-create").click()
        page.locator(".jp-Dialog .flowat-field-name").fill(f"ci-{workflow}")
        page.locator(".jp-Dialog .flowat-field-scopes").fill("runs:read")
        _accept_dialog(page)
        key = _shown_once(page)
        assert key.startswith("flowat_") and _status_with(jupyterlab, key) == 200
        kept = _storage(page)
        assert key not in kept and key[7:24] not in kept
        row = keys.locator(".flowat-key", has_text=f"ci-{workflow}")
        row.wait_for(timeout=30_000)
        row.locator(".flowat-key-revoke").click()
        _accept_dialog(page)
        row.wait_for(state="detached", timeout=30_000)
        assert _status_with(jupyterlab, key) == 401

        members = _open_section(page, "members")
        invitee = f"invitee-{uuid.uuid4().hex[:6]}"
        members.locator(".flowat-invite").click()
        page.locator(".jp-Dialog .flowat-field-user").fill(invitee)
        page.locator(".jp-Dialog .flowat-field-role").select_option("editor")
        _accept_dialog(page)
        token = _shown_once(page)
        assert token.startswith("fi_") and token not in _storage(page)
        invited = members.locator(f".flowat-invitation[data-user='{invitee}']")
        invited.wait_for(timeout=30_000)
        assert "editor" in invited.inner_text()

        # The Jupyter user is an Owner acting directly: rotation is offered, and works.
        section = _open_section(page, "secrets")
        row = section.locator(f".flowat-secret[data-name='{secret_name}']")
        row.locator(".flowat-secret-history").click()
        detail = page.locator(".jp-Dialog .flowat-SecretDetail")
        detail.wait_for(timeout=30_000)
        assert f"Named in {workflow} v1 · step fetch" in detail.inner_text()
        assert "set v1 by" in detail.inner_text()
        page.screenshot(path=str(ARTIFACTS / "settings-secret-detail.png"))
        _accept_dialog(page)
        rotate = section.locator(".flowat-master-key-rotate")
        assert rotate.is_visible()
        rotate.click()
        _accept_dialog(page)
        page.locator(".Toastify__toast", has_text="Master key rotated").wait_for(timeout=60_000)
        assert flowat.secret(secret_name).reveal() == value
        assert value not in _storage(page)

        audit = _open_section(page, "audit")
        audit.locator(".flowat-audit-filter").fill("invitation")
        audit.locator(".flowat-audit-filter").press("Enter")
        audit.locator(".flowat-audit-entry[data-action='invitation.created']").first.wait_for(
            timeout=30_000
        )
        page.locator("#flowat-panel").screenshot(path=str(ARTIFACTS / "panel-settings.png"))
        assert token not in _storage(page)

        # Another organization invites the Jupyter user, who redeems from the palette.
        other = f"team-{uuid.uuid4().hex[:6]}"
        access().directory.create_organization(other, None, f"lead-{other}")
        me = local_principal().user
        lead = Principal(user=f"lead-{other}", owner=other, role=Role.OWNER)
        ticket = Invitations(get_runtime().store).invite(lead, me, Role.EDITOR).token
        _palette(page, "FlowAt: Redeem an invitation")
        field = page.locator(".jp-Dialog .flowat-field-token")
        assert field.get_attribute("type") == "password"
        field.fill(ticket)
        _accept_dialog(page)
        joined = page.locator(".Toastify__toast", has_text=f"You joined {other} as editor")
        joined.wait_for(timeout=30_000)
        assert access().directory.role_of(other, me) is Role.EDITOR
        assert ticket not in _storage(page)
        served = jupyterlab.log.read_text(errors="replace")
        for shown in (value, key, token, ticket):
            assert shown not in served  # not in the Jupyter server's log either
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "settings-failure.png"))
        raise
    finally:
        page.close()


def test_a_schedule_and_a_webhook_are_edited_from_the_panel(jupyterlab: Lab, browser: Any) -> None:
    workflow = f"edit_{uuid.uuid4().hex[:8]}"
    flowat.publish(workflow, cells=cells("%%flowat step work\nout = n", parameters="n = 1"))
    schedule = add_schedule(workflow, cron="0 3 * * *", parameters={"n": 2})
    hook = add_webhook(workflow)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_panel(page, jupyterlab)
        schedules = _open_section(page, "schedules")
        row = schedules.locator(f".flowat-schedule[data-id='{schedule.id}']")
        row.locator(".flowat-schedule-edit").click()
        page.locator(".jp-Dialog .flowat-field-cron").fill("15 4 * * 1")
        page.locator(".jp-Dialog .flowat-field-parameters").fill('{"n": "many"}')
        _accept_dialog(page)  # refused by the server: n is an int
        page.locator(".jp-Dialog", has_text="cannot change the schedule").wait_for(timeout=30_000)
        _accept_dialog(page)
        assert _api(jupyterlab, "GET", f"/schedules/{schedule.id}")["parameters"] == {"n": 2}
        row.locator(".flowat-schedule-edit").click()
        page.locator(".jp-Dialog .flowat-field-cron").fill("15 4 * * 1")
        page.locator(".jp-Dialog .flowat-field-parameters").fill('{"n": 7}')
        _accept_dialog(page)
        page.wait_for_function(
            "(id) => document.querySelector(`.flowat-schedule[data-id='${id}']`)"
            "?.textContent.includes('cron 15 4 * * 1')",
            arg=schedule.id,
            timeout=30_000,
        )
        stored = _api(jupyterlab, "GET", f"/schedules/{schedule.id}")
        assert stored["cron"] == "15 4 * * 1" and stored["parameters"] == {"n": 7}
        row.locator(".flowat-schedule-pause").click()
        page.wait_for_function(
            "(id) => document.querySelector(`.flowat-schedule[data-id='${id}']`)"
            "?.dataset.paused === 'true'",
            arg=schedule.id,
            timeout=30_000,
        )

        webhooks = _open_section(page, "webhooks")
        webhooks.locator(".flowat-webhook-add").click()
        page.locator(".jp-Dialog .flowat-field-workflow").select_option(workflow)
        _accept_dialog(page)
        values = page.locator(".jp-Dialog .flowat-shown-once-value")
        values.first.wait_for(timeout=30_000)
        url, signing = values.nth(0).input_value(), values.nth(1).input_value()
        assert "/api/v1/hooks/wh_" in url and signing.startswith("whsec_")
        _accept_dialog(page)
        assert url.rsplit("/", 1)[1] not in _storage(page) and signing not in _storage(page)
        hook_row = webhooks.locator(f".flowat-webhook[data-id='{hook.info.id}']")
        hook_row.locator(".flowat-webhook-rotate").click()
        _accept_dialog(page)
        secret = _shown_once(page)
        assert secret.startswith("whsec_") and secret != hook.secret
        assert secret not in _storage(page) and json.dumps(secret) not in _storage(page)
        assert secret not in jupyterlab.log.read_text(errors="replace")
        page.locator("#flowat-panel").screenshot(path=str(ARTIFACTS / "panel-editing.png"))
        hook_row.locator(".flowat-webhook-delete").click()
        _accept_dialog(page)
        hook_row.wait_for(state="detached", timeout=30_000)
        assert hook.info.id not in [w["id"] for w in _api(jupyterlab, "GET", "/webhooks")["items"]]
        _api(jupyterlab, "DELETE", f"/schedules/{schedule.id}")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "editing-failure.png"))
        raise
    finally:
        page.close()
