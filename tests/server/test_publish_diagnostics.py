"""Publishing a notebook whose parameters cell (or step cell) does not compile answers 422
with the compiler's diagnostic over real HTTP, never a 500; a step with magics and ``!``
commands publishes; a run parameter text outside the conversion table is a 422 too."""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.server.helpers import Api


def _notebook(parameters: str, body: str = "y = n") -> dict[str, object]:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(f"%%flowat step work\n{body}")]
    return json.loads(nbformat.writes(nb))


@pytest.mark.parametrize(
    ("parameters", "fragments"),
    [
        pytest.param("n = 1\nx = {[1]: 2}", ["line 2", "dict key [1]"], id="unhashable-key"),
        pytest.param("n = 1\nx = ...", ["line 2", "`...`"], id="ellipsis"),
        pytest.param("n = 1\nx = 1e999", ["line 2", "1e999 is inf"], id="infinite"),
        pytest.param("n = b'ab'", ["line 1", "bytes"], id="bytes"),
        pytest.param("n = 1\nx = 1j", ["line 2", "complex"], id="complex"),
        pytest.param("n = 1\nx = (1, 2)", ["line 2", "tuple"], id="tuple"),
        pytest.param("n = 1\n\nimport os", ["line 3", "only hold assignments"], id="statement"),
        pytest.param("n = (", ["line 1", "parameters cell"], id="syntax-error"),
    ],
)
def test_a_bad_parameters_cell_is_a_422_with_its_diagnostic(
    api: Api, workflow_name: str, parameters: str, fragments: list[str]
) -> None:
    reply = api.post("/workflows", json={"name": workflow_name, "notebook": _notebook(parameters)})
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "compile_error"
    assert "cell 1" in error["message"]
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    assert api.get(f"/workflows/{workflow_name}/versions").status_code == 404  # nothing stored


def test_an_uploaded_notebook_with_a_bad_parameters_cell_is_a_422(
    api: Api, workflow_name: str
) -> None:
    upload = json.dumps(_notebook("n = 1\nx = {[1]: 2}")).encode()
    reply = api.post(
        "/workflows",
        data={"name": workflow_name},
        files={"notebook": ("flow.ipynb", upload, "application/x-ipynb+json")},
    )
    assert reply.status_code == 422, reply.text
    assert "dict key [1]" in reply.json()["error"]["message"]


def test_a_step_with_magics_and_commands_publishes(api: Api, workflow_name: str) -> None:
    body = (
        "%matplotlib inline\n%time y = n * 2\nfiles = !ls\nif n:\n    import math\n    r = math.pi"
    )
    reply = api.post(
        "/workflows", json={"name": workflow_name, "notebook": _notebook("n = 1", body)}
    )
    assert reply.status_code == 201, reply.text
    version = api.get(f"/workflows/{workflow_name}/versions/1").json()
    (step,) = version["spec"]["steps"]
    assert step["source"] == body  # the user's text, not IPython's transformation
    assert [b["name"] for b in step["inputs"]] == ["n"]


def test_a_step_syntax_error_after_a_magic_is_a_422_on_the_users_line(
    api: Api, workflow_name: str
) -> None:
    notebook = _notebook("n = 1", "%time y = n\nz = (")
    reply = api.post("/workflows", json={"name": workflow_name, "notebook": notebook})
    assert reply.status_code == 422, reply.text
    assert "line 3" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        pytest.param("5.0", "not a whole number; write 5", id="decimal-for-int"),
        pytest.param("0x10", "not a whole number", id="hex-for-int"),
        pytest.param("1e999", "not a whole number", id="huge-for-int"),
    ],
)
def test_a_run_parameter_outside_the_conversion_table_is_a_422(
    api: Api, temporal: str, workflow_name: str, given: str, fragment: str
) -> None:
    published = api.post("/workflows", json={"name": workflow_name, "notebook": _notebook("n = 1")})
    assert published.status_code == 201, published.text
    reply = api.post(f"/workflows/{workflow_name}/runs", json={"parameters": {"n": given}})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "invalid_parameters"
    assert fragment in reply.json()["error"]["message"]
