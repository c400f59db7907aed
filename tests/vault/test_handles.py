"""Secret handles carry only their name: repr, str, format, pickle, JSON, Temporal payloads."""

from __future__ import annotations

import json
import pickle
import uuid

import cloudpickle
import pydantic
import pytest

import flowat_kernel as flowat
from flowat_kernel.compiler import Cell
from flowat_kernel.engine.history import decoded_history
from flowat_kernel.engine.values import Value, decode, encode
from flowat_kernel.runtime import get_runtime


@pytest.fixture
def canary(temporal: str) -> tuple[str, str]:
    name = f"h_{uuid.uuid4().hex[:8]}"
    value = f"handle-canary-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    return name, value


def test_every_rendering_of_a_handle_shows_only_the_name(canary: tuple[str, str]) -> None:
    name, value = canary
    handle = flowat.secret(name)
    renderings = [
        repr(handle),
        str(handle),
        f"{handle}",
        f"{handle:>60}",
        "%s" % handle,  # noqa: UP031 - old-style formatting is a rendering too
        json.dumps(handle.to_json()),
        pickle.dumps(handle).decode("latin-1"),
        cloudpickle.dumps(handle).decode("latin-1"),
    ]
    for text in renderings:
        assert name in text
        assert value not in text
    assert pickle.loads(pickle.dumps(handle)) == handle
    with pytest.raises(AttributeError):
        handle.name = "other"  # type: ignore[misc]


def test_handles_in_pydantic_models_serialise_to_their_name(canary: tuple[str, str]) -> None:
    name, value = canary

    class Auth(pydantic.BaseModel):
        token: flowat.SecretHandle

    model = Auth(token=flowat.secret(name))
    dumped = model.model_dump_json()
    assert json.loads(dumped) == {"token": {"$secret": name}}
    assert value not in dumped
    assert Auth.model_validate_json(dumped).token == flowat.secret(name)
    with pytest.raises(pydantic.ValidationError, match="secret"):
        Auth.model_validate({"token": "the-value-itself"})


def test_a_handle_travels_between_steps_as_its_name(
    canary: tuple[str, str], workflow_name: str
) -> None:
    name, value = canary
    artifacts = get_runtime().artifacts
    encoded = encode(flowat.secret(name), artifacts, "unused", "h")
    assert encoded == Value(handle=name) and value not in encoded.model_dump_json()
    assert decode(encoded, artifacts) == flowat.secret(name)

    flowat.publish(
        workflow_name,
        cells=[
            Cell(f"%%flowat step choose\nhandle = flowat.secret({name!r})", 1),
            Cell("%%flowat step use\nlength = len(handle.reveal())", 2),
        ],
    )
    run = flowat.run(workflow_name)
    assert run.status == "succeeded", run.error
    assert run.outputs["choose"]["handle"] == flowat.secret(name)
    assert run.outputs["use"]["length"] == len(value)
    assert run.to_json()["outputs"]["choose"]["handle"] == {"$secret": name}

    runtime = get_runtime()
    events = json.dumps(runtime.call(decoded_history(runtime, run.run_id)))
    assert f'"handle": "{name}"' in events  # decrypted, the payload is the name...
    assert value not in events  # ...and nothing else


def test_a_missing_secret_names_itself_and_how_to_set_it(temporal: str) -> None:
    with pytest.raises(flowat.SecretNotFound) as caught:
        flowat.secret("never_set_anywhere").reveal()
    message = str(caught.value)
    assert "never_set_anywhere" in message and "flowat secrets set" in message


def test_invalid_names_are_refused_with_what_is_allowed() -> None:
    with pytest.raises(flowat.VaultError, match="letters, digits"):
        flowat.secret("no spaces please")
