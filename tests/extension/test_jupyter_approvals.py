"""Approval links served by the Jupyter server extension (``jupyter server`` started for
real): the page shows without a Jupyter login, and its form decides once despite
Jupyter's own XSRF checks (the page's form token guards it instead)."""

from __future__ import annotations

import re

import httpx
import pytest

import flowat_kernel as flowat
from flowat_kernel.api import default_workspace
from flowat_kernel.testing import cells
from tests.extension.test_jupyter import jupyter  # noqa: F401


@pytest.mark.timeout(240)
def test_a_reviewer_approves_through_jupyter(
    jupyter: str,  # noqa: F811
    temporal: str,
    workflow_name: str,
) -> None:
    flowat.publish(
        workflow_name,
        cells=cells("%%flowat step gate --wait-for approved --timeout 5m\n{'approved': False}"),
    )
    run = flowat.run(workflow_name, wait=False, worker="always")
    link = default_workspace().approval_link(run.run_id, "gate", reviewer="grace", base_url=jupyter)
    page = httpx.get(link.url, timeout=60)
    assert page.status_code == 200, page.text
    assert workflow_name in page.text and "grace" in page.text
    form = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert form is not None
    forged = httpx.post(link.url, data={"decision": "approve"}, timeout=60)
    assert forged.status_code == 403
    decided = httpx.post(
        link.url, data={"form_token": form.group(1), "decision": "approve"}, timeout=60
    )
    assert decided.status_code == 200, decided.text
    done = flowat.wait(run.run_id, timeout=120)
    assert done.status == "succeeded", done.error
    assert done.outputs["gate"]["gate"]["by"] == "grace"
    again = httpx.post(
        link.url, data={"form_token": form.group(1), "decision": "approve"}, timeout=60
    )
    assert again.status_code == 410
