"""The ``http`` connector: one HTTP request with httpx, its failures sorted into retryable or not.

``flowat.action("http.request", url=..., auth=flowat.secret("api"))`` in a step, or a step
``%%flowat step NAME --action http.request`` whose body sets the inputs.

Retries. The action is declared ``retry_safe=False`` because a POST or PATCH may not be
safe to repeat, and ``retry_safe`` is declared once per action. Each call decides for
itself instead: it is *safe* for GET, HEAD, OPTIONS, PUT and DELETE, and for POST and
PATCH when ``idempotency_header`` sends the step's idempotency key. Failures that prove
the request had no effect (a refused connection, a connect timeout, a 408, 429 or 503)
are retryable for every call; failures after the request may have reached the server (a
5xx, a read timeout, a dropped connection) are retryable only for safe calls. The step's
retry policy then applies to retryable errors.

Egress. Every request goes through FlowAt's egress policy
(:mod:`flowat_kernel.sdk.egress`): ``open``, or ``public``, which refuses loopback,
private, link-local, multicast, reserved and otherwise non-global addresses, checked
after DNS and again at each redirect, and connects to the checked address. The policy
is configured (``FLOWAT_EGRESS``; ``public`` for runs started through the REST API,
webhooks and schedules); ``egress_policy="public"`` makes one request stricter, never
looser.

Secrets. Credentials are secret handles (``auth``, ``password``, or a header value);
they are revealed only to build the request. Error messages name the method, host and
path, never headers, query strings or credentials, and body excerpts are masked.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from flowat_kernel.errors import FlowAtError
from flowat_kernel.sdk import ActionContext, ActionError, Connector
from flowat_kernel.sdk.connector import AuthField
from flowat_kernel.sdk.egress import (
    PublicOnlyTransport,
    httpx_options,
    is_public,
    public_address,
    resolve,
)
from flowat_kernel.vault.handles import SecretHandle
from flowat_kernel.vault.redaction import redact_text, register

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "PublicOnlyTransport",
    "Secret",
    "connector",
    "excerpt",
    "is_public",
    "public_address",
    "resolve",
    "status_error",
    "transport_error",
    "where",
]

#: A secret handle as an input field (with a JSON schema, which the bare type lacks).
Secret = Annotated[
    SecretHandle,
    WithJsonSchema(
        {
            "type": "object",
            "properties": {"$secret": {"type": "string"}},
            "required": ["$secret"],
            "description": 'a secret handle: flowat.secret("NAME")',
        }
    ),
]

Method = Literal["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
Scalar = str | int | float | bool
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_REDIRECTS = 10
#: Statuses saying the server did not process the request: retrying is always harmless.
NOT_PROCESSED = frozenset({408, 429, 503})
_UNSAFE = (
    "not retried: the server may already have acted on it, and repeating this request is "
    "not known to be safe (set idempotency_header if the server deduplicates)"
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_TEXT_TYPES = ("text/", "application/xml", "application/javascript", "+xml")

connector = Connector(
    id="http",
    name="HTTP",
    description="Call any HTTP API: method, headers, query, JSON or text body, secret auth.",
    auth=(
        AuthField("auth", "a token sent as 'Authorization: <auth_scheme> <value>'", False),
        AuthField("password", "the password of basic authentication, with username", False),
    ),
)


class HttpRequest(BaseModel):
    """The input of ``http.request``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="http:// or https:// address, with or without a query")
    method: Method = Field(default="GET", description="HTTP method (upper or lower case)")
    headers: dict[str, str | Secret] = Field(
        default_factory=dict,
        description="request headers; a value may be flowat.secret(...) (e.g. an API key)",
    )
    params: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict, description="query parameters, added to those in the URL"
    )
    json_body: JsonValue | None = Field(
        default=None,
        validation_alias=AliasChoices("json_body", "json"),
        description="a JSON body (``json=`` works too); not with ``body``",
    )
    body: str | None = Field(
        default=None, description="a raw text body (text/plain unless a Content-Type header says)"
    )
    auth: Secret | None = Field(
        default=None, description="token sent as 'Authorization: <auth_scheme> <value>'"
    )
    auth_scheme: str = Field(default="Bearer", description="scheme word before the token")
    username: str | None = Field(default=None, description="user name of basic authentication")
    password: Secret | None = Field(default=None, description="password of basic authentication")
    timeout: float = Field(
        default=30.0, gt=0, le=3600, description="seconds to connect, send, read"
    )
    follow_redirects: bool = Field(
        default=True, description=f"follow up to {MAX_REDIRECTS} redirects"
    )
    idempotency_header: str | None = Field(
        default=None,
        description="header (e.g. Idempotency-Key) that carries the step's idempotency key; "
        "makes a POST or PATCH safe to retry",
    )
    egress_policy: Literal["open", "public"] | None = Field(
        default=None,
        description="the configured egress policy (FLOWAT_EGRESS) applies; 'public' makes "
        "this request refuse private, loopback, link-local, multicast and reserved "
        "addresses, checked after DNS and at every redirect ('open' cannot loosen it)",
    )
    max_response_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="refuse responses larger than this"
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # The message never repeats the URL: it may hold a token.
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("not a valid URL (check the host and port)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("use an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HttpRequest:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        if self.auth is not None and (self.password is not None or self.username is not None):
            raise ValueError("give either auth (a token) or username and password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic authentication needs both username and password")
        has_auth = self.auth is not None or self.password is not None
        if has_auth and any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("an Authorization header and auth/password: give only one")
        if not _TOKEN.match(self.auth_scheme):
            raise ValueError("auth_scheme must be one word, such as Bearer or Token")
        if self.idempotency_header is not None and not _TOKEN.match(self.idempotency_header):
            raise ValueError("idempotency_header must be a header name, such as Idempotency-Key")
        return self


class HttpResponse(BaseModel):
    """The output of ``http.request``: the final response (after redirects)."""

    status: int = Field(description="HTTP status code")
    headers: dict[str, str] = Field(description="response headers, lower-case names")
    url: str = Field(description="the final URL, after redirects (without user info)")
    elapsed_ms: float = Field(description="milliseconds from sending to the last byte")
    json_body: JsonValue | None = Field(default=None, description="the body, if it is JSON")
    text: str | None = Field(default=None, description="the body, if it is text (and not JSON)")
    body_base64: str | None = Field(default=None, description="the body, base64, if it is binary")


def _target(params: HttpRequest) -> str | None:
    """The circuit breaker's key: ``host`` or ``host:port``."""
    try:
        parts = urlsplit(params.url)
        return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    except ValueError:
        return None


def where(url: str | httpx.URL) -> str:
    """``scheme://host[:port]/path`` of ``url``: no user info, query or fragment."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


@connector.action(
    "request",
    input=HttpRequest,
    output=HttpResponse,
    retry_safe=False,
    target=_target,
    description="Send one HTTP request; JSON, text or base64 back.",
)
def request(ctx: ActionContext, params: HttpRequest) -> HttpResponse:
    """Send one HTTP request and return the final response.

    Raises:
        ActionError: a 4xx or 5xx answer, a network failure, a refused address, a
            missing secret; ``retryable`` as the module docstring explains.

    """
    safe = params.method in SAFE_METHODS or params.idempotency_header is not None
    label = f"http.request: {params.method} {where(params.url)}"
    host = _target(params)
    headers, secret_headers = _headers(ctx, params)
    body: dict[str, Any] = {}
    if params.json_body is not None:
        body["json"] = params.json_body
    elif params.body is not None:
        body["content"] = params.body.encode()
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "text/plain; charset=utf-8"
    started = time.monotonic()
    try:
        # Merged here: httpx's params= would replace the query the URL already has.
        url = httpx.URL(params.url).copy_merge_params(params.params)
        with (
            _client(params, label, secret_headers) as client,
            client.stream(params.method, url, headers=headers, **body) as response,
        ):
            content = _read(response, params.max_response_bytes, label)
    except httpx.InvalidURL as exc:
        raise ActionError(f"{label}: invalid URL ({exc})", retryable=False, host=host) from exc
    except httpx.HTTPError as exc:
        raise transport_error(exc, label, params.method, safe, params.timeout, host) from exc
    elapsed = round((time.monotonic() - started) * 1000, 1)
    if response.status_code >= 400:
        final = f"http.request: {response.request.method} {where(response.url)}"
        raise status_error(final, response, content, safe, host)
    return HttpResponse(
        status=response.status_code,
        headers=dict(response.headers.items()),
        url=str(response.url.copy_with(userinfo=b"")),
        elapsed_ms=elapsed,
        **_body_fields(response, content),
    )


def _headers(ctx: ActionContext, params: HttpRequest) -> tuple[dict[str, str], set[str]]:
    """The request's headers, secrets revealed; and the names of those holding secrets."""
    headers: dict[str, str] = {}
    secret: set[str] = set()
    try:
        for name, value in params.headers.items():
            headers[name] = ctx.reveal(value)
            if isinstance(value, SecretHandle):
                secret.add(name.lower())
        if params.auth is not None:
            headers["Authorization"] = f"{params.auth_scheme} {ctx.reveal(params.auth)}"
        elif params.password is not None:
            pair = f"{params.username}:{ctx.reveal(params.password)}".encode()
            token = base64.b64encode(pair).decode()
            register(params.password.name, token)  # mask the encoded form as well
            headers["Authorization"] = f"Basic {token}"
    except FlowAtError as exc:  # no such secret, or the vault refused: not the host's fault
        raise ActionError(f"http.request: {exc}", retryable=False) from exc
    if params.idempotency_header is not None:
        headers[params.idempotency_header] = ctx.idempotency_key
    return headers, secret


def _client(params: HttpRequest, label: str, secret_headers: set[str]) -> httpx.Client:
    origin = httpx.URL(params.url)

    def keep_secrets_home(request: httpx.Request) -> None:
        # httpx drops Authorization on a redirect to another origin; do the same for
        # the other headers that hold secrets.
        same = (request.url.scheme, request.url.host, request.url.port) == (
            origin.scheme,
            origin.host,
            origin.port,
        )
        if not same:
            for name in secret_headers:
                request.headers.pop(name, None)

    return httpx.Client(
        timeout=params.timeout,
        follow_redirects=params.follow_redirects,
        max_redirects=MAX_REDIRECTS,
        event_hooks={"request": [keep_secrets_home]} if secret_headers else None,
        **httpx_options(label, params.egress_policy),
    )


def _read(response: httpx.Response, limit: int, label: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ActionError(
            f"{label}: the response has {declared} bytes, more than max_response_bytes="
            f"{limit}; raise the limit or ask for less",
            retryable=False,
        )
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise ActionError(
                f"{label}: the response is larger than max_response_bytes={limit}; raise "
                "the limit or ask for less",
                retryable=False,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _body_fields(response: httpx.Response, content: bytes) -> dict[str, Any]:
    if not content:
        return {"text": ""} if response.request.method != "HEAD" else {}
    mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text: str | None = None
    if mime.startswith(_TEXT_TYPES) or mime.endswith(("+xml", "+json")) or "json" in mime:
        text = content.decode(response.encoding or "utf-8", errors="replace")
    else:
        try:
            text = content.decode(response.charset_encoding or "utf-8")
        except (UnicodeDecodeError, LookupError):
            return {"body_base64": base64.b64encode(content).decode("ascii")}
    if mime == "application/json" or mime.endswith("+json"):
        try:
            return {"json_body": json.loads(text)}
        except ValueError:
            pass  # announced as JSON but is not: give the text
    return {"text": text}


def excerpt(text: str, limit: int = 200) -> str:
    """A short, one-line, masked excerpt of a response body for an error message."""
    # Mask before shortening, so that a secret cut in two cannot escape the mask.
    shown = " ".join(redact_text(text[: limit * 20]).split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def status_error(
    label: str, response: httpx.Response, content: bytes, safe: bool, host: str | None
) -> ActionError:
    """The error for a 4xx or 5xx answer.

    4xx: not retryable (but 408 and 429: the server did not process the request);
    5xx: retryable when the call is safe to repeat (and always for 503).
    """
    status = response.status_code
    said = f"{label} answered {status} {response.reason_phrase}".rstrip()
    body = excerpt(content.decode(response.encoding or "utf-8", errors="replace"))
    said += f": {body}" if body else ""
    if status in NOT_PROCESSED:
        return ActionError(
            f"{said}; the server did not process the request, a later attempt may succeed",
            retryable=True,
            host=host,
        )
    if status < 500:
        hint = "check the credentials" if status in (401, 403) else "fix the request"
        return ActionError(f"{said}; {hint}: retrying will not help", retryable=False, host=host)
    if safe:
        return ActionError(f"{said}; a later attempt may succeed", retryable=True, host=host)
    return ActionError(f"{said}; {_UNSAFE}", retryable=False, host=host)


def transport_error(
    exc: httpx.HTTPError, label: str, method: str, safe: bool, timeout: float, host: str | None
) -> ActionError:
    """The error for a failure below HTTP: connect, timeout, protocol, redirects."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return ActionError(
            f"{label}: could not connect ({exc or type(exc).__name__}); the request was not "
            "sent, a later attempt may succeed",
            retryable=True,
            host=host,
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return ActionError(
            f"{label}: more than {MAX_REDIRECTS} redirects; set follow_redirects=False to "
            "see the first one",
            retryable=False,
            host=host,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return ActionError(f"{label}: cannot send it: {exc}", retryable=False, host=host)
    if isinstance(exc, httpx.TimeoutException):
        what = f"no complete answer within timeout={timeout:g} s"
    else:
        what = f"the connection failed mid-request ({type(exc).__name__}: {exc})"
    if safe:
        return ActionError(
            f"{label}: {what}; a later attempt may succeed", retryable=True, host=host
        )
    return ActionError(f"{label}: {what}; {_UNSAFE}", retryable=False, host=host)
