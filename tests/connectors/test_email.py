"""The email connector against a real SMTP server on loopback (aiosmtpd).

The server requires STARTTLS with a self-signed certificate made for this test, and
AUTH (PLAIN or LOGIN) over TLS; a handler collects the envelopes it accepts.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import ipaddress
import socket
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, MIMEPart
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import flowat_kernel as flowat
from flowat_connectors.email_smtp import SendOutput, connector
from flowat_kernel.sdk import ActionContext, ActionError
from flowat_kernel.testing import call, free_port

USERNAME = "flowat-bot"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_cert(folder: Path, names: list[x509.GeneralName]) -> Cert:
    """A self-signed certificate (its own CA) for ``names``, with its key, in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(names[0].value))])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(names),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Cert(cert_path, key_path)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    return make_cert(
        tmp_path_factory.mktemp("smtp-tls"),
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )


@dataclass
class Mailbox:
    """The server's handler: what it accepted, and how it was told to misbehave."""

    password: str
    envelopes: list[Envelope] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)  # per message: was TLS on?
    data_reply: str | None = None  # answer DATA with this instead of accepting
    drop_during_data: bool = False

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <%s>: no such user" % address  # noqa: UP031
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.drop_during_data:
            assert isinstance(server.transport, asyncio.WriteTransport)
            server.transport.abort()
            return "250 OK"
        if self.data_reply is not None:
            return self.data_reply
        self.envelopes.append(envelope)
        self.sessions.append(session)
        assert server.transport is not None
        self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK: queued"

    def authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USERNAME.encode()
            and data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    port: int
    mailbox: Mailbox


@pytest.fixture
def password(temporal: str) -> tuple[str, str]:
    """An SMTP password in the vault: its name and value."""
    name = f"smtp_{uuid.uuid4().hex[:8]}"
    value = f"smtp-pw-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    return name, value


@pytest.fixture
def start_server(cert: Cert, password: tuple[str, str]) -> Iterator[Callable[..., Server]]:
    """Starts SMTP servers on loopback: STARTTLS and AUTH required unless told otherwise."""
    controllers: list[Controller] = []

    def start(*, tls: bool = True, implicit_tls: bool = False, **smtp: Any) -> Server:
        mailbox = Mailbox(password[1])
        options: dict[str, Any] = {
            "authenticator": mailbox.authenticate,
            "auth_require_tls": True,
            "auth_required": True,
        }
        if implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; this
            # connection is encrypted from its first byte.
            options.update(ssl_context=cert.server_context(), auth_require_tls=False)
        elif tls:
            options.update(tls_context=cert.server_context(), require_starttls=True)
        else:
            options.update(auth_required=False)
        options.update(smtp)
        port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return Server(port, mailbox)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()


def send(server: Server, secret: tuple[str, str], cert: Cert, **params: Any) -> SendOutput:
    params = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": USERNAME,
        "password": flowat.secret(secret[0]),
        "ca_file": str(cert.cert),
        "from_addr": "FlowAt <robot@flowat.test>",
        "to": ["Ada <ada@example.test>"],
        "subject": "Weekly report",
        "text": "Hello Ada,\nthe report is attached.",
        **params,
    }
    output = call(connector, "send", **params)
    assert isinstance(output, SendOutput)
    return output


def as_bytes(envelope: Envelope) -> bytes:
    assert isinstance(envelope.content, bytes)
    return envelope.content


def parsed(envelope: Envelope) -> EmailMessage:
    message = email.message_from_bytes(as_bytes(envelope), policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def text_of(part: MIMEPart) -> str:
    """A text part's content with the wire's CRLF line ends made newlines."""
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_a_message_with_html_and_attachments_arrives(
    server: Server, password: tuple[str, str], cert: Cert
) -> None:
    csv = "city,temp\nOslo,4\nLisbon,19\n"
    output = send(
        server,
        password,
        cert,
        to=["Ada <ada@example.test>", "bob@example.test"],
        cc=["carol@example.test"],
        bcc=["audit@example.test"],
        subject="Weekly report: 3 cities — ok",
        html="<p>Hello Ada,<br>the report is <b>attached</b>.</p>",
        attachments=[
            {
                "filename": "report.pdf",
                "content_base64": base64.b64encode(PDF).decode(),
                "mime_type": "application/pdf",
            },
            {"filename": "temps.csv", "text": csv, "mime_type": "text/csv"},
        ],
    )

    everyone = ["ada@example.test", "bob@example.test", "carol@example.test", "audit@example.test"]
    assert output.accepted == everyone and output.refused == {}
    (envelope,) = server.mailbox.envelopes
    assert envelope.mail_from == "robot@flowat.test"
    assert envelope.rcpt_tos == everyone
    (session,) = server.mailbox.sessions
    assert session.ssl is not None and server.mailbox.encrypted == [True]  # after STARTTLS
    assert session.authenticated and server.mailbox.mechanisms == ["PLAIN"]

    message = parsed(envelope)
    assert message["Subject"] == "Weekly report: 3 cities — ok"
    assert message["From"] == "FlowAt <robot@flowat.test>"
    assert message["To"] == "Ada <ada@example.test>, bob@example.test"
    assert message["Cc"] == "carol@example.test"
    assert message["Bcc"] is None and b"audit@" not in as_bytes(envelope)
    assert message["Message-ID"] == output.message_id
    body = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert body is not None and html is not None
    assert text_of(body) == "Hello Ada,\nthe report is attached.\n"
    assert html.get_content().strip() == "<p>Hello Ada,<br>the report is <b>attached</b>.</p>"
    attachments = {a.get_filename(): a for a in message.iter_attachments()}
    assert set(attachments) == {"report.pdf", "temps.csv"}
    assert attachments["report.pdf"].get_content_type() == "application/pdf"
    assert attachments["report.pdf"].get_content() == PDF
    assert attachments["temps.csv"].get_content_type() == "text/csv"
    assert text_of(attachments["temps.csv"]) == csv


def test_an_html_only_message_and_unicode_text(
    server: Server, password: tuple[str, str], cert: Cert
) -> None:
    send(server, password, cert, text="", html="<h1>Grüße</h1>", subject="Über")
    send(server, password, cert, text="Grüße aus Zürich — 👋")
    first, second = (parsed(e) for e in server.mailbox.envelopes)
    assert first["Subject"] == "Über"
    assert first.get_content_type() == "text/html" and "Grüße" in first.get_content()
    assert text_of(second) == "Grüße aus Zürich — 👋\n"
    # 7-bit transfer encodings: no server needs 8BITMIME.
    assert all(as_bytes(e).isascii() for e in server.mailbox.envelopes)


def test_login_works_with_auth_login_too(
    start_server: Callable[..., Server], password: tuple[str, str], cert: Cert
) -> None:
    server = start_server(auth_exclude_mechanism=["PLAIN"])
    send(server, password, cert)
    assert server.mailbox.mechanisms == ["LOGIN"]
    assert len(server.mailbox.envelopes) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(
    start_server: Callable[..., Server], password: tuple[str, str], cert: Cert
) -> None:
    server = start_server(implicit_tls=True)
    send(server, password, cert, ssl=True)
    (session,) = server.mailbox.sessions
    assert session.authenticated and server.mailbox.encrypted == [True]


def test_the_message_id_is_the_same_on_every_attempt_of_a_step(
    server: Server, password: tuple[str, str], cert: Cert
) -> None:
    spec = connector.actions["send"]
    params = spec.input.model_validate(
        {
            "host": "127.0.0.1",
            "port": server.port,
            "username": USERNAME,
            "password": flowat.secret(password[0]),
            "ca_file": str(cert.cert),
            "from_addr": "robot@flowat.test",
            "to": ["ada@example.test"],
            "subject": "Once",
        }
    )
    ids = [
        spec.function(ActionContext("email", "send", idempotency_key=key), params).message_id
        for key in ("flowat:run1:notify", "flowat:run1:notify", "flowat:run2:notify")
    ]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].endswith("@flowat.test>")
    context = ActionContext("email", "send", idempotency_key="k")
    spec.function(context, params)
    assert context.usage["recipients"] == 1 and context.usage["bytes"] > 0


def test_a_wrong_password_is_not_retryable_and_never_named(
    server: Server, cert: Cert, temporal: str
) -> None:
    name, value = f"smtp_wrong_{uuid.uuid4().hex[:8]}", f"wrong-pw-{uuid.uuid4().hex}"
    flowat.set_secret(name, value)
    with pytest.raises(ActionError, match="535") as caught:
        send(server, (name, value), cert)
    error = caught.value
    assert error.retryable is False
    assert value not in str(error) and value not in repr(error.__cause__)
    assert USERNAME in str(error)
    assert server.mailbox.envelopes == []


def test_a_server_that_is_down_is_retryable(password: tuple[str, str], cert: Cert) -> None:
    server = Server(free_port(), Mailbox(password[1]))  # nothing listens there
    with pytest.raises(ActionError, match="nothing was sent") as caught:
        send(server, password, cert)
    assert caught.value.retryable is True
    assert caught.value.host == f"127.0.0.1:{server.port}"


def test_a_server_that_never_greets_times_out_retryably(
    password: tuple[str, str], cert: Cert
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        server = Server(silent.getsockname()[1], Mailbox(password[1]))
        with pytest.raises(ActionError, match="timed out") as caught:
            send(server, password, cert, timeout=0.3)
    assert caught.value.retryable is True


def test_an_untrusted_certificate_is_not_retryable(
    server: Server, password: tuple[str, str], cert: Cert
) -> None:
    with pytest.raises(ActionError, match="not trusted") as caught:
        send(server, password, cert, ca_file=None)
    assert caught.value.retryable is False
    assert server.mailbox.envelopes == []
    # Told not to verify (a test server), the same server is used.
    send(server, password, cert, ca_file=None, tls_verify=False)
    assert len(server.mailbox.envelopes) == 1


def test_a_certificate_for_another_host_name_is_refused(
    start_server: Callable[..., Server], password: tuple[str, str], tmp_path: Path
) -> None:
    other = make_cert(tmp_path, [x509.DNSName("mail.example.test")])
    server = start_server(tls_context=other.server_context())
    with pytest.raises(ActionError, match="not trusted") as caught:
        send(server, password, other)  # trusted CA, but issued for another name
    assert caught.value.retryable is False
    assert "IP address mismatch" in str(caught.value)
    assert server.mailbox.envelopes == []


def test_a_server_without_starttls_is_refused(
    start_server: Callable[..., Server], password: tuple[str, str], cert: Cert
) -> None:
    server = start_server(tls=False)
    with pytest.raises(ActionError, match="STARTTLS") as caught:
        send(server, password, cert)
    assert caught.value.retryable is False
    # Without credentials and with STARTTLS turned off, the plain server is fine.
    output = send(server, password, cert, starttls=False, username=None, password=None)
    assert output.accepted == ["ada@example.test"]


def test_refused_recipients_are_reported_and_the_others_served(
    server: Server, password: tuple[str, str], cert: Cert
) -> None:
    output = send(server, password, cert, to=["ada@example.test", "nobody@example.test"])
    assert output.accepted == ["ada@example.test"]
    assert list(output.refused) == ["nobody@example.test"]
    assert output.refused["nobody@example.test"].startswith("550 5.1.1")
    assert server.mailbox.envelopes[0].rcpt_tos == ["ada@example.test"]


@pytest.mark.parametrize(
    ("to", "retryable", "words"),
    [
        (["busy@example.test"], True, ["450", "retrying later"]),
        (["nobody@example.test"], False, ["550", "check the addresses"]),
        (["busy@example.test", "nobody@example.test"], True, ["450", "550"]),
    ],
)
def test_when_every_recipient_is_refused_nothing_is_sent(
    server: Server,
    password: tuple[str, str],
    cert: Cert,
    to: list[str],
    retryable: bool,
    words: list[str],
) -> None:
    with pytest.raises(ActionError, match="refused every recipient") as caught:
        send(server, password, cert, to=to)
    assert caught.value.retryable is retryable
    for word in words:
        assert word in str(caught.value)
    assert server.mailbox.envelopes == []


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("451 4.3.0 local problem, try later", True), ("554 5.6.0 message rejected", False)],
)
def test_a_refused_message_is_retryable_only_for_4xx(
    server: Server, password: tuple[str, str], cert: Cert, reply: str, retryable: bool
) -> None:
    server.mailbox.data_reply = reply
    with pytest.raises(ActionError, match=reply.split()[0]) as caught:
        send(server, password, cert)
    assert caught.value.retryable is retryable


def test_a_connection_lost_during_the_transfer_is_not_retried(
    server: Server, password: tuple[str, str], cert: Cert
) -> None:
    server.mailbox.drop_during_data = True
    with pytest.raises(ActionError, match="may have been sent") as caught:
        send(server, password, cert)
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"to": []}, "at least one recipient"),
        ({"password": None}, "both username and password"),
        ({"starttls": False}, "never sent unencrypted"),
        ({"to": ["not-an-address"]}, "not an email address"),
        ({"subject": "Hi\nBcc: everyone@example.test"}, "subject: Value error, must not"),
        ({"attachments": [{"filename": "a.txt"}]}, "exactly one of content_base64"),
        (
            {"attachments": [{"filename": "a.bin", "content_base64": "***"}]},
            "not valid base64",
        ),
        ({"password": "plain-text-password"}, "password"),
        ({"port": 70000}, "port"),
    ],
)
def test_invalid_input_is_refused_before_connecting(
    server: Server, password: tuple[str, str], cert: Cert, change: dict[str, Any], words: str
) -> None:
    with pytest.raises(ActionError, match="invalid input") as caught:
        send(server, password, cert, **change)
    assert words in str(caught.value)
    assert caught.value.retryable is False
    assert "plain-text-password" not in str(caught.value)
    assert server.mailbox.sessions == []


def test_the_connector_describes_itself() -> None:
    description = connector.describe()
    (action,) = description["actions"]
    assert action["name"] == "email.send" and action["retry_safe"] is False
    properties = action["input"]["properties"]
    assert all(p.get("description") for p in properties.values())
    assert connector.actions["send"].target is not None


def test_under_public_it_connects_to_the_checked_address_and_verifies_the_name(
    password: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name only our resolver knows, and a certificate for that name only: the message
    # arrives only if the connection goes to the checked address while STARTTLS still
    # verifies the host's name.
    from flowat_kernel.sdk import egress

    named = make_cert(tmp_path, [x509.DNSName("mail.example.test")])
    monkeypatch.setattr(egress, "resolve", lambda host, port: ["127.0.0.1"])
    monkeypatch.setenv("FLOWAT_EGRESS", "public")
    mailbox = Mailbox(password[1])
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_require_tls=True,
        tls_context=named.server_context(),
        require_starttls=True,
    )
    controller.start()
    try:
        params: dict[str, Any] = {
            "host": "mail.example.test",
            "port": port,
            "username": USERNAME,
            "password": flowat.secret(password[0]),
            "ca_file": str(named.cert),
            "from_addr": "robot@flowat.test",
            "to": ["ada@example.test"],
            "text": "pinned",
        }
        with pytest.raises(ActionError, match=r"refuses mail\.example\.test") as caught:
            call(connector, "send", **params)
        assert not caught.value.retryable
        assert mailbox.envelopes == []
        monkeypatch.setenv("FLOWAT_EGRESS_ALLOW", "127.0.0.1/32")
        output = call(connector, "send", **params)
    finally:
        controller.stop()
    assert output.accepted == ["ada@example.test"]
    assert len(mailbox.envelopes) == 1
