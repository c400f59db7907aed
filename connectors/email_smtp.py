"""The ``email`` connector: send a message over SMTP (STARTTLS or implicit TLS, with login).

``email.send`` builds a MIME message (plain text, an optional HTML alternative,
attachments), then walks the SMTP dialogue itself (``MAIL``, one ``RCPT`` per
recipient, ``DATA``) so that it knows how far it got when something fails:

- before ``DATA`` nothing was sent: refused connections, timeouts, TLS hiccups and 4xx
  replies are retryable; 5xx replies, a rejected login (535), an untrusted certificate
  and bad input are not;
- once the message is being transferred, a lost connection leaves it unknown whether
  the server took it: that is not retried (``retry_safe`` is false), to never send a
  message twice.

The Message-ID derives from the call's idempotency key, so every attempt of a step
sends the same Message-ID and mail systems can recognise a duplicate. The password is
never part of an error message, and never sent over an unencrypted connection.

Egress: the SMTP host passes FlowAt's egress policy (:mod:`flowat_kernel.sdk.egress`);
under ``public`` the connection goes to the address that was checked, while TLS still
verifies the host's name.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import smtplib
import socket
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.sdk.connector import AuthField
from flowat_kernel.sdk.egress import destination
from flowat_kernel.vault.handles import SecretHandle

__all__ = ["Attachment", "SendInput", "SendOutput", "connector", "send"]

connector = Connector(
    id="email",
    name="Email (SMTP)",
    description="Send email through an SMTP server with STARTTLS or TLS and login",
    icon="mail",
    auth=(AuthField("password", "SMTP login password, with `username`", required=False),),
)

Stage = Literal["connect", "tls", "login", "envelope", "data"]
_SMTP_7BIT = SMTP.clone(cte_type="7bit")


class Attachment(BaseModel):
    """A file attached to the message: its content as base64 or as text."""

    filename: str = Field(min_length=1, description="the file name the recipient sees")
    content_base64: str | None = Field(default=None, description="the bytes, base64-encoded")
    text: str | None = Field(default=None, description="the content as text (sent as UTF-8)")
    mime_type: str = Field(
        default="application/octet-stream",
        pattern=r"^[\w.+-]+/[\w.+-]+$",
        description="e.g. text/csv, application/pdf",
    )

    @model_validator(mode="after")
    def _one_content(self) -> Attachment:
        if (self.content_base64 is None) == (self.text is None):
            raise ValueError("give exactly one of content_base64 and text")
        try:
            self.payload()
        except binascii.Error:
            raise ValueError(f"{self.filename}: content_base64 is not valid base64") from None
        return self

    def payload(self) -> bytes:
        """The attachment's bytes."""
        if self.text is not None:
            return self.text.encode()
        assert self.content_base64 is not None
        return base64.b64decode(self.content_base64, validate=True)


class SendInput(BaseModel):
    """Input of ``email.send``."""

    host: str = Field(min_length=1, description="the SMTP server's host name or address")
    port: int | None = Field(
        default=None, gt=0, lt=65536, description="587 (STARTTLS) or 465 (ssl) when unset"
    )
    username: str | None = Field(default=None, description="login name; no login when unset")
    password: SecretHandle | None = Field(
        default=None, description='flowat.secret("NAME") holding the login password'
    )
    starttls: bool = Field(
        default=True, description="upgrade the connection with STARTTLS (required if set)"
    )
    ssl: bool = Field(default=False, description="implicit TLS from the start (port 465)")
    from_addr: str = Field(description="the sender, 'Name <address>' or an address")
    to: list[str] = Field(default_factory=list, description="recipients shown in To")
    cc: list[str] = Field(default_factory=list, description="recipients shown in Cc")
    bcc: list[str] = Field(default_factory=list, description="recipients shown to no one")
    subject: str = Field(default="", description="the subject line")
    text: str = Field(default="", description="the plain text body")
    html: str | None = Field(default=None, description="an HTML alternative of the body")
    attachments: list[Attachment] = Field(default_factory=list, description="files to attach")
    timeout: float = Field(default=30.0, gt=0, description="seconds per SMTP operation")
    tls_verify: bool = Field(
        default=True, description="verify the server's certificate and host name"
    )
    ca_file: str | None = Field(
        default=None, description="a PEM file of CA certificates to trust (a private CA)"
    )

    @field_validator("from_addr", "to", "cc", "bcc", "subject")
    @classmethod
    def _single_line(cls, value: str | list[str]) -> str | list[str]:
        for item in [value] if isinstance(value, str) else value:
            if "\r" in item or "\n" in item:
                raise ValueError("must not contain line breaks")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SendInput:
        if not (self.to or self.cc or self.bcc):
            raise ValueError("give at least one recipient in to, cc or bcc")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.password is not None and not (self.ssl or self.starttls):
            raise ValueError("a password is never sent unencrypted: set starttls (or ssl) to true")
        for address in [self.from_addr, *self.recipients()]:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return self

    @property
    def effective_port(self) -> int:
        """The port to connect to."""
        return self.port or (465 if self.ssl else 587)

    def recipients(self) -> list[str]:
        """Every envelope recipient's address, once, in order."""
        found = [a for _, a in getaddresses([*self.to, *self.cc, *self.bcc])]
        return list(dict.fromkeys(a for a in found if a))


class SendOutput(BaseModel):
    """Output of ``email.send``."""

    message_id: str = Field(description="the Message-ID header of the message sent")
    accepted: list[str] = Field(description="recipients the server accepted")
    refused: dict[str, str] = Field(
        default_factory=dict, description="recipients the server refused, with its reply"
    )


def _target(params: SendInput) -> str:
    return f"{params.host}:{params.effective_port}"


def _tls_context(params: SendInput) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=params.ca_file)
    if not params.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _message(params: SendInput, key: str) -> EmailMessage:
    international = not all(a.isascii() for a in [params.from_addr, *params.recipients()])
    # 7-bit transfer encodings for bodies, so no server needs 8BITMIME; SMTPUTF8 when an
    # address itself is not ASCII (the server must then support it).
    message = EmailMessage(policy=SMTPUTF8 if international else _SMTP_7BIT)
    domain = parseaddr(params.from_addr)[1].rpartition("@")[2] or "flowat.local"
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@{domain}>"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["From"] = params.from_addr
    if params.to:
        message["To"] = ", ".join(params.to)
    if params.cc:
        message["Cc"] = ", ".join(params.cc)
    message["Subject"] = params.subject
    if params.html is not None and not params.text:
        message.set_content(params.html, subtype="html")
    else:
        message.set_content(params.text)
        if params.html is not None:
            message.add_alternative(params.html, subtype="html")
    for item in params.attachments:
        maintype, subtype = item.mime_type.split("/")
        if item.text is not None and maintype == "text":
            message.add_attachment(item.text, subtype=subtype, filename=item.filename)
        else:
            message.add_attachment(
                item.payload(), maintype=maintype, subtype=subtype, filename=item.filename
            )
    return message


def _reply(code: int, text: bytes | str) -> str:
    text = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(text.split())}".strip()


class _PinnedSMTP(smtplib.SMTP):
    """SMTP to a checked address; the host name stays for EHLO checks and STARTTLS."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's hook for opening the connection (not in the type stubs).
        sock: socket.socket = super()._get_socket(self._address, port, timeout)  # type: ignore[misc]
        return sock


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """Implicit TLS to a checked address, verifying the certificate for the host name."""

    def __init__(
        self, address: str, host: str, port: int, timeout: float, context: ssl.SSLContext
    ) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib's hook for opening the connection (not in the type stubs).
        sock: socket.socket = super()._get_socket(self._address, port, timeout)  # type: ignore[misc]
        return sock


class _Delivery:
    """One SMTP session; ``stage`` says how far it got, for classifying failures."""

    def __init__(self, params: SendInput, password: str | None) -> None:
        self.params = params
        self.password = password
        self.stage: Stage = "connect"
        self.size = 0

    def wire_bytes(self, message: EmailMessage) -> bytes:
        """The message as sent, remembering its size."""
        data = message.as_bytes()
        self.size = len(data)
        return data

    def run(self, message: EmailMessage) -> SendOutput:
        params = self.params
        context = _tls_context(params)
        port = params.effective_port
        address = destination(params.host, port, f"email.send to {_target(params)}")
        smtp: smtplib.SMTP
        if params.ssl:
            smtp = _PinnedSMTPSSL(address, params.host, port, params.timeout, context)
        else:
            smtp = _PinnedSMTP(address, params.host, port, params.timeout)
        try:
            output = self._converse(smtp, context, message)
        except BaseException:
            smtp.close()  # no QUIT: the connection may be the problem
            raise
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()  # the message is sent; a failed goodbye changes nothing
        smtp.close()
        return output

    def _converse(
        self, smtp: smtplib.SMTP, context: ssl.SSLContext, message: EmailMessage
    ) -> SendOutput:
        params = self.params
        smtp.ehlo()
        if params.starttls and not params.ssl:
            self.stage = "tls"
            smtp.starttls(context=context)
            smtp.ehlo()
        if params.username is not None and self.password is not None:
            self.stage = "login"
            smtp.login(params.username, self.password)
        self.stage = "envelope"
        options = ["SMTPUTF8"] if message.policy is SMTPUTF8 else []
        sender = parseaddr(params.from_addr)[1]
        code, text = smtp.mail(sender, options)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, text, sender)
        refused: dict[str, str] = {}
        accepted: list[str] = []
        temporary = False
        for recipient in params.recipients():
            code, text = smtp.rcpt(recipient)
            if code in (250, 251):
                accepted.append(recipient)
            else:
                refused[recipient] = _reply(code, text)
                temporary = temporary or 400 <= code < 500
        if not accepted:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.rset()
            raise ActionError(
                f"email.send: {_target(params)} refused every recipient: "
                + "; ".join(f"{r}: {why}" for r, why in refused.items())
                + ("; retrying later may succeed" if temporary else "; check the addresses"),
                retryable=temporary,
                host=_target(params),
            )
        self.stage = "data"
        code, text = smtp.data(self.wire_bytes(message))
        if code != 250:
            raise smtplib.SMTPDataError(code, text)
        return SendOutput(message_id=str(message["Message-ID"]), accepted=accepted, refused=refused)

    def translate(self, exc: Exception) -> ActionError:
        """The error to raise for ``exc``, by its kind and the stage it happened in."""
        host = _target(self.params)
        where = f"email.send to {host} ({self.stage})"
        if isinstance(exc, smtplib.SMTPResponseException):
            reply = _reply(exc.smtp_code, exc.smtp_error)
            if self.password:
                reply = reply.replace(self.password, "***")
            temporary = 400 <= exc.smtp_code < 500
            if isinstance(exc, smtplib.SMTPAuthenticationError) and not temporary:
                hint = f"check the username {self.params.username!r} and the password secret"
            elif temporary:
                hint = "a temporary refusal; retrying later may succeed"
            else:
                hint = "the server refused it; fix what its reply names"
            return ActionError(f"{where}: {reply}; {hint}", retryable=temporary, host=host)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return ActionError(
                f"{where}: the server does not support it ({exc}); "
                + (
                    "set starttls to false only for a trusted network"
                    if self.stage == "tls"
                    else "check the server's settings"
                ),
                retryable=False,
                host=host,
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ActionError(
                f"{where}: the server's certificate is not trusted ({exc.verify_message}); "
                "give ca_file for a private CA, or check the host name",
                retryable=False,
                host=host,
            )
        if isinstance(exc, ssl.SSLError):
            return ActionError(
                f"{where}: TLS failed ({exc.reason or exc}); check that ssl (implicit TLS, "
                "port 465) and starttls (port 587) match the port",
                retryable=False,
                host=host,
            )
        if self.stage == "data":
            return ActionError(
                f"{where}: the connection failed while the message was transferred "
                f"({type(exc).__name__}: {exc}); it may have been sent, so it is not "
                "retried, to never send it twice",
                retryable=False,
                host=host,
            )
        if self.stage == "login" and not isinstance(exc, OSError):
            return ActionError(
                f"{where}: {exc}; the server offers no login method this client supports "
                "(PLAIN, LOGIN, CRAM-MD5)",
                retryable=False,
                host=host,
            )
        if isinstance(exc, socket.gaierror):
            return ActionError(
                f"{where}: cannot resolve the host name ({exc}); check host",
                retryable=True,
                host=host,
            )
        return ActionError(
            f"{where}: {type(exc).__name__}: {exc or 'no reply'}; nothing was sent, "
            "retrying later may succeed",
            retryable=True,
            host=host,
        )


@connector.action(
    "send",
    input=SendInput,
    output=SendOutput,
    retry_safe=False,  # a repeated send is a second email
    target=_target,
)
def send(ctx: ActionContext, params: SendInput) -> SendOutput:
    """Send an email: text, an optional HTML alternative and attachments, over SMTP."""
    host = _target(params)
    try:
        password = ctx.reveal(params.password) if params.password is not None else None
    except FlowAtError as exc:  # a missing secret: retrying will not create it
        raise ActionError(f"email.send: {exc}", retryable=False, host=host) from None
    try:
        message = _message(params, ctx.idempotency_key)
    except ValueError as exc:
        raise ActionError(
            f"email.send: the message cannot be built: {exc}", retryable=False, host=host
        ) from None
    delivery = _Delivery(params, password)
    try:
        output = delivery.run(message)
    except ActionError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise delivery.translate(exc) from exc
    ctx.log.info(
        "email.send %s: %d accepted, %d refused", host, len(output.accepted), len(output.refused)
    )
    ctx.usage.update(recipients=len(output.accepted), bytes=delivery.size)
    return output
