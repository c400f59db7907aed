"""The approval link's page: GET shows what is being approved, POST decides (once).

Served by ``flowat serve`` and by the Jupyter server extension at
``/flowat/approvals/{run_id}/{token}`` (outside ``/api/v1``: it is a page for people,
and the token in its URL is the only credential). GET never acts, so link previews,
mail scanners and reloads change nothing. The page's form posts back with a form token
only the page carries; cross-site posts (``Origin`` or ``Sec-Fetch-Site`` from another
site) are refused. Replies are never cached, never framed and send no ``Referer``.
"""

from __future__ import annotations

import functools
import html
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from tornado.ioloop import IOLoop

from flowat_kernel.errors import FlowAtError
from flowat_kernel.workspace.approval_decisions import approval_page, decide_approval
from flowat_kernel.workspace.approvals import ApprovalView, LinkRefused

__all__ = ["ApprovalPageHandler", "approval_routes", "render"]

PATH = "flowat/approvals/(?P<run_id>[^/]+)/(?P<token>[^/]+)/?$"

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left}button{font-size:1rem;padding:.4rem 1.2rem;margin-right:1rem}"
    ".approve{background:#1a7f37;color:#fff}.reject{background:#cf222e;color:#fff}"
)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def render(view: ApprovalView, done: bool = False) -> str:
    """The page for ``view``: the decision form, or (``done``) the decision made."""
    e = html.escape
    rows = "".join(
        f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>"
        for k, v in (
            ("workflow", f"{view.workflow} (version {view.version})"),
            ("run", view.run_id),
            ("step", view.step),
            ("signal", view.signal),
            ("reviewer", view.reviewer or "(not named)"),
            ("link expires", view.expires_at.strftime("%Y-%m-%d %H:%M UTC")),
        )
    )
    params = "".join(
        f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in view.parameters.items()
    )
    summary = f"<table>{rows}</table><h2>Parameters</h2>" + (
        f"<table>{params}</table>" if params else "<p>(none)</p>"
    )
    if done:
        verdict = "approved" if view.decision == "approve" else "rejected"
        return _page(
            f"Step {view.step} {verdict}",
            f"<p>Recorded: <b>{e(verdict)}</b> by {e(view.decided_by or '')}. "
            "The run has received the decision; this link cannot be used again.</p>" + summary,
        )
    form = (
        '<form method="post">'
        f'<input type="hidden" name="form_token" value="{e(view.form_token)}">'
        '<button class="approve" name="decision" value="approve">Approve</button>'
        '<button class="reject" name="decision" value="reject">Reject</button></form>'
        "<p>The link works once.</p>"
    )
    return _page(f"Approve step {view.step}?", summary + form)


class ApprovalPageHandler(tornado.web.RequestHandler):
    """The headless server's approval page (no cookies, no other credential)."""

    def signed_in(self) -> str | None:
        """The user this server authenticated (none: the link's reviewer is recorded)."""
        return None

    def _page_headers(self, status: int) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )

    def _refused(self, exc: FlowAtError) -> None:
        status = exc.status if isinstance(exc, LinkRefused) else 400
        self._page_headers(status)
        self.finish(_page("This link cannot be used", f"<p>{html.escape(str(exc))}</p>"))

    async def _work(self, fn: Any, *args: Any) -> Any:
        from flowat_kernel.server.state import runtime

        return await IOLoop.current().run_in_executor(None, functools.partial(fn, runtime(), *args))

    async def get(self, run_id: str, token: str) -> None:
        """Show what is being approved; never act."""
        try:
            view = await self._work(approval_page, run_id, token)
        except FlowAtError as exc:
            return self._refused(exc)
        self._page_headers(200)
        self.finish(render(view))

    def _cross_site(self) -> bool:
        origin = self.request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != self.request.host:
            return True
        if origin == "null":
            return True
        return self.request.headers.get("Sec-Fetch-Site", "same-origin") not in (
            "same-origin",
            "none",
        )

    async def post(self, run_id: str, token: str) -> None:
        """Approve or reject, once."""
        if self._cross_site():
            return self._refused(LinkRefused("cross-site requests cannot decide", 403))
        form_token = self.get_body_argument("form_token", "")
        decision = self.get_body_argument("decision", "")
        try:
            view = await self._work(
                decide_approval, run_id, token, form_token, decision, self.signed_in()
            )
        except FlowAtError as exc:
            return self._refused(exc)
        self._page_headers(200)
        self.finish(render(view, done=True))

    def _log(self) -> None:
        """Log through FlowAt's access log, which masks the token in the path."""
        from flowat_kernel.server.http import log_request

        log_request(self)


def approval_routes(base: str = "/", handler: type = ApprovalPageHandler) -> list[Any]:
    """The page's tornado URL spec under ``base``."""
    return [(base.rstrip("/") + "/" + PATH, handler)]
