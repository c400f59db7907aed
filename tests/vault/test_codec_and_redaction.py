"""The Temporal payload codec (on a real SQLite store) and masking of revealed values."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from flowat_kernel.errors import MasterKeyError, VaultAuthenticationError
from flowat_kernel.store import Store
from flowat_kernel.vault import redaction
from flowat_kernel.vault.codec import ENCODING, KEY_ID_METADATA, VaultPayloadCodec
from flowat_kernel.vault.keyring import ENV_VAR
from flowat_kernel.vault.vault import Vault


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own FLOWAT_MASTER_KEY must never leak into these tests."""
    monkeypatch.delenv(ENV_VAR, raising=False)


def make_vault(folder: Path) -> Iterator[Vault]:
    store = Store(f"sqlite:///{folder / 'flowat.db'}")
    yield Vault(store, folder / "home", "acme")
    store.close()


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    yield from make_vault(tmp_path / "a")


@pytest.fixture
def other_vault(tmp_path: Path) -> Iterator[Vault]:
    yield from make_vault(tmp_path / "b")


def unique_value() -> str:
    return f"tok-{uuid.uuid4().hex}"


def unique_name() -> str:
    return f"secret_{uuid.uuid4().hex[:10]}"


def json_payload(document: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(document).encode())


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# -- the payload codec ----------------------------------------------------------------------


def test_encode_then_decode_round_trips(vault: Vault) -> None:
    value = unique_value()
    original = [json_payload({"api_key": value, "n": 1}), json_payload([1, 2, 3])]
    codec = VaultPayloadCodec(vault.payload_keys)
    encoded = codec.encode_sync(original)
    assert len(encoded) == 2
    active, _ = vault.payload_keys()
    for payload in encoded:
        assert payload.metadata["encoding"] == ENCODING
        assert payload.metadata[KEY_ID_METADATA] == active.encode()
        assert value.encode() not in payload.SerializeToString()
        assert b"api_key" not in payload.data
    assert encoded[0].data[:12] != encoded[1].data[:12]  # a fresh nonce per payload
    assert codec.decode_sync(encoded) == original
    # A new codec (another process on the same store and key file) decodes as well.
    assert (
        VaultPayloadCodec(Vault(vault.store, vault.home, "acme").payload_keys).decode_sync(encoded)
        == original
    )


def test_async_encode_and_decode(vault: Vault) -> None:
    original = [json_payload({"value": unique_value()})]
    codec = VaultPayloadCodec(vault.payload_keys)

    async def round_trip() -> list[Payload]:
        return await codec.decode(await codec.encode(original))

    assert asyncio.run(round_trip()) == original


def test_foreign_payloads_are_refused(vault: Vault) -> None:
    # Fail closed: a plaintext payload (a workflow started by a client without FlowAt's
    # codec) is never decoded into something the worker would run.
    codec = VaultPayloadCodec(vault.payload_keys)
    for plain in (json_payload({"hello": "world"}), Payload(metadata={}, data=b"raw")):
        with pytest.raises(VaultAuthenticationError, match="did not encrypt"):
            codec.decode_sync([plain])


def test_foreign_payloads_pass_through_only_for_display(vault: Vault) -> None:
    plain = [json_payload({"hello": "world"}), Payload(metadata={}, data=b"raw")]
    assert VaultPayloadCodec(vault.payload_keys).decode_sync(plain, allow_plain=True) == plain


def test_the_payload_key_is_created_once(vault: Vault) -> None:
    first = vault.payload_keys()
    assert first == vault.payload_keys()
    active, keys = first
    assert active.startswith("pk-")
    assert set(keys) == {active}
    assert len(keys[active]) == 32
    assert sum(vault.keys_in_use().values()) == 1


def test_a_payload_from_another_vault_is_a_clear_error(vault: Vault, other_vault: Vault) -> None:
    encoded = VaultPayloadCodec(vault.payload_keys).encode_sync([json_payload({"x": 1})])
    foreign_codec = VaultPayloadCodec(other_vault.payload_keys)
    with pytest.raises(MasterKeyError) as caught:
        foreign_codec.decode_sync(encoded)
    message = str(caught.value)
    active, _ = vault.payload_keys()
    assert f"payload key {active}" in message
    assert "different FlowAt metadata store or master key" in message


@pytest.mark.parametrize("index", [0, 11, 12, 20, -1], ids=lambda i: f"byte{i}")
def test_a_flipped_bit_in_the_encrypted_data_fails(vault: Vault, index: int) -> None:
    value = unique_value()
    codec = VaultPayloadCodec(vault.payload_keys)
    (encoded,) = codec.encode_sync([json_payload({"secret": value})])
    tampered = Payload(metadata=dict(encoded.metadata), data=flip(encoded.data, index))
    with pytest.raises(VaultAuthenticationError) as caught:
        codec.decode_sync([tampered])
    assert "failed authentication" in str(caught.value)
    assert value not in str(caught.value)
    assert codec.decode_sync([encoded]) == [json_payload({"secret": value})]


@pytest.mark.parametrize("length", [0, 5, 11, 12, 27], ids=lambda n: f"{n}B")
def test_a_truncated_payload_fails_authentication(vault: Vault, length: int) -> None:
    codec = VaultPayloadCodec(vault.payload_keys)
    (encoded,) = codec.encode_sync([json_payload({"x": unique_value()})])
    truncated = Payload(metadata=dict(encoded.metadata), data=encoded.data[:length])
    with pytest.raises(VaultAuthenticationError, match="failed authentication"):
        codec.decode_sync([truncated])


def test_a_payload_relabelled_with_another_key_id_fails(vault: Vault) -> None:
    codec = VaultPayloadCodec(vault.payload_keys)
    (encoded,) = codec.encode_sync([json_payload({"x": 1})])
    relabelled = Payload(
        metadata={"encoding": ENCODING, KEY_ID_METADATA: b"pk-0000000000000000"},
        data=encoded.data,
    )
    with pytest.raises(MasterKeyError, match="pk-0000000000000000"):
        codec.decode_sync([relabelled])


def test_payload_keys_survive_a_master_key_rotation(vault: Vault) -> None:
    original = [json_payload({"token": unique_value()})]
    encoded = VaultPayloadCodec(vault.payload_keys).encode_sync(original)
    report = vault.rotate_master_key()
    assert report.rewrapped == 1
    assert len(report.retired) == 1
    fresh = Vault(vault.store, vault.home, "acme")
    assert VaultPayloadCodec(fresh.payload_keys).decode_sync(encoded) == original


# -- redaction ------------------------------------------------------------------------------


def registered(value: str | None = None) -> tuple[str, str]:
    name, value = unique_name(), value or unique_value()
    redaction.register(name, value)
    return name, value


def test_redact_text_masks_a_registered_value() -> None:
    name, value = registered()
    text = f"Authorization: Bearer {value}. Retry with {value}"
    assert redaction.redact_text(text) == (
        f"Authorization: Bearer [secret:{name}]. Retry with [secret:{name}]"
    )
    assert redaction.redact_text("nothing secret here") == "nothing secret here"
    assert redaction.redact_text("") == ""


def test_json_escaped_values_are_masked() -> None:
    name, value = registered(f'pa"ss\\wd/{uuid.uuid4().hex}')
    document = json.dumps({"password": value, "user": "alice"})
    assert value not in document  # the escaped form really differs from the raw one
    masked = redaction.redact_text(document)
    assert masked == json.dumps({"password": f"[secret:{name}]", "user": "alice"})


def test_url_encoded_values_are_masked() -> None:
    name, value = registered(f"p@ss/w rd&x={uuid.uuid4().hex}")
    quoted = urllib.parse.quote(value, safe="")
    plus = urllib.parse.quote_plus(value)
    assert value not in quoted and value not in plus
    assert redaction.redact_text(f"https://db.example/?password={quoted}") == (
        f"https://db.example/?password=[secret:{name}]"
    )
    query = urllib.parse.urlencode({"password": value, "user": "alice"})
    assert redaction.redact_text(query) == f"password=[secret:{name}]&user=alice"


def test_the_longest_matching_value_wins() -> None:
    short_name, short_value = registered()
    long_name, long_value = registered(short_value + "-suffix")
    assert redaction.redact_text(f"{long_value} {short_value}") == (
        f"[secret:{long_name}] [secret:{short_name}]"
    )


def test_values_too_short_to_mask_are_left_alone() -> None:
    text = f"pin {uuid.uuid4().hex[:3]} ok"
    redaction.register(unique_name(), text.split()[1])
    assert redaction.redact_text(text) == text


def test_redact_data_masks_nested_strings_and_leaves_the_rest() -> None:
    name, value = registered()
    masked_value = f"[secret:{name}]"
    data = {
        "token": value,
        "nested": [f"Bearer {value}", {"deep": (value, 7)}, None],
        value: "as a key",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "raw": value.encode(),
    }
    assert redaction.redact_data(data) == {
        "token": masked_value,
        "nested": [f"Bearer {masked_value}", {"deep": [masked_value, 7]}, None],
        masked_value: "as a key",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "raw": value.encode(),  # bytes are not text: not masked
    }
    # The original is a shown copy's source and stays intact.
    assert data["token"] == value
    assert redaction.redact_data(42) == 42
    assert redaction.redact_data(None) is None


def test_names_in_finds_the_secrets_present() -> None:
    name, value = registered()
    other_name, other_value = registered()
    assert redaction.names_in({"a": [{"b": f"x{value}y"}]}) == {name}
    assert redaction.names_in([value, (1, other_value)]) == {name, other_name}
    assert redaction.names_in({value: 1}) == {name}
    assert redaction.names_in(json.dumps({"k": value})) == {name}
    assert redaction.names_in({"a": "no secret", "b": 5}) == set()
    assert redaction.names_in(5) == set()


class Collector(logging.Handler):
    """Keeps every formatted record, as a real handler would write them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def collector() -> Iterator[tuple[logging.Logger, Collector]]:
    logger = logging.getLogger(f"tests.vault.redaction.{uuid.uuid4().hex[:8]}")
    handler = Collector()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def test_log_records_are_masked(collector: tuple[logging.Logger, Collector]) -> None:
    logger, handler = collector
    redaction.install_logging_redaction()
    redaction.install_logging_redaction()  # idempotent
    name, value = registered()
    masked = f"[secret:{name}]"

    logger.warning("connecting with %s", value)
    logger.info(f"inline {value} in the message")
    logger.debug("as a mapping %(password)s", {"password": value})
    try:
        raise RuntimeError(f"authentication failed for {value}")
    except RuntimeError as exc:
        logger.exception("request failed: %s", exc)

    output = "\n".join(handler.lines)
    assert value not in output
    assert value[4:20] not in output
    assert handler.lines[0].endswith(f"connecting with {masked}")
    assert handler.lines[1].endswith(f"inline {masked} in the message")
    assert handler.lines[2].endswith(f"as a mapping {masked}")
    assert handler.lines[3].startswith("ERROR ")
    assert f"request failed: authentication failed for {masked}" in handler.lines[3]
    assert f"RuntimeError: authentication failed for {masked}" in handler.lines[3]
    assert "Traceback (most recent call last)" in handler.lines[3]


def test_log_records_without_secrets_are_untouched(
    collector: tuple[logging.Logger, Collector],
) -> None:
    logger, handler = collector
    redaction.install_logging_redaction()
    registered()
    logger.warning("rows: %d, ratio %.1f", 12, 0.5)
    assert handler.lines == [f"WARNING {logger.name} rows: 12, ratio 0.5"]


def test_a_log_made_while_the_pattern_is_built_does_not_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the pattern allocates; a finaliser that runs then may log through redaction
    on the same thread (an asyncio task destroyed while pending does). Seen hanging CI."""
    import re
    import threading

    real_compile = re.compile
    nested: list[str] = []
    entered: list[bool] = []

    def compile_and_log(pattern: str, *args: object) -> re.Pattern[str]:
        if not entered:  # once: the "finaliser" logs while the pattern is being built
            entered.append(True)
            nested.append(redaction.redact_text("nested-log-line deadlock-canary-81f2"))
        return real_compile(pattern, *args)  # type: ignore[arg-type]

    redaction.register("deadlock_canary", "deadlock-canary-81f2")
    monkeypatch.setattr(redaction.re, "compile", compile_and_log)
    outcome: list[str] = []
    worker = threading.Thread(
        target=lambda: outcome.append(redaction.redact_text("x deadlock-canary-81f2")),
        daemon=True,
    )
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "redact_text deadlocked while building its pattern"
    assert outcome == ["x [secret:deadlock_canary]"]
    assert nested and "deadlock-canary-81f2" not in nested[0]
