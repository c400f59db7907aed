"""The handlers inside Jupyter Server, and registering them."""

from __future__ import annotations

import threading
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler

from flowat_kernel.access.principal import Principal
from flowat_kernel.server.api_codec import is_codec_path
from flowat_kernel.server.approval_pages import ApprovalPageHandler, approval_routes
from flowat_kernel.server.http import ApiHandlerMixin, routes

__all__ = [
    "JupyterApiHandler",
    "JupyterApprovalHandler",
    "JupyterNotFoundHandler",
    "load_extension",
]


class JupyterApiHandler(ApiHandlerMixin, JupyterHandler):
    """The API handler under Jupyter: the Jupyter user, or a FlowAt key or token."""

    def principal(self) -> Principal:
        """The notebook user when Jupyter authenticated the request, else a bearer credential."""
        if self.current_user:
            from flowat_kernel.access.service import local_principal

            return local_principal(via="jupyter")
        return super().principal()

    def _log(self) -> None:
        """Log through FlowAt's access log, which masks webhook tokens in paths."""
        from flowat_kernel.server.http import log_request

        log_request(self)

    def check_xsrf_cookie(self) -> None:
        """Header-authenticated requests carry no cookies to forge; others are checked."""
        path = self.request.path
        if self.request.headers.get("Authorization") or "/hooks/" in path or is_codec_path(path):
            return None  # the codec's key is in its path, as a webhook's token
        return super().check_xsrf_cookie()

    @allow_unauthenticated
    async def options(self, **path: str) -> None:
        """OPTIONS: the codec's CORS preflight (from Temporal's Web UI)."""
        await ApiHandlerMixin.options(self, **path)

    # Jupyter may refuse unauthenticated requests before they reach the handler; FlowAt
    # checks credentials itself (API keys, session tokens, webhook tokens).
    @allow_unauthenticated
    async def get(self, **path: str) -> None:
        """GET."""
        await self._serve(**path)

    @allow_unauthenticated
    async def post(self, **path: str) -> None:
        """POST."""
        await self._serve(**path)

    @allow_unauthenticated
    async def put(self, **path: str) -> None:
        """PUT."""
        await self._serve(**path)

    @allow_unauthenticated
    async def delete(self, **path: str) -> None:
        """DELETE."""
        await self._serve(**path)

    @allow_unauthenticated
    async def patch(self, **path: str) -> None:
        """PATCH."""
        await self._serve(**path)


class JupyterNotFoundHandler(JupyterApiHandler):
    """Any other path under ``/api/v1``: a JSON 404."""

    async def _dispatch(self, path: dict[str, str]) -> tuple[int, Any]:
        from flowat_kernel.server.errors import ApiError

        raise ApiError(404, "not_found", f"no endpoint {self.request.path}")


class JupyterApprovalHandler(ApprovalPageHandler, JupyterHandler):
    """The approval page under Jupyter.

    The link is the credential; a signed-in Jupyter user, when there is one, is
    recorded as the one who decided.
    """

    def signed_in(self) -> str | None:
        """The Jupyter user, if Jupyter authenticated the request."""
        user = self.current_user
        if not user:
            return None
        return str(getattr(user, "username", None) or getattr(user, "name", None) or user)

    def check_xsrf_cookie(self) -> None:
        """The page's own form token (and the cross-site checks) guard its POST."""

    @allow_unauthenticated
    async def get(self, run_id: str, token: str) -> None:
        """GET."""
        await ApprovalPageHandler.get(self, run_id, token)

    @allow_unauthenticated
    async def post(self, run_id: str, token: str) -> None:
        """POST."""
        await ApprovalPageHandler.post(self, run_id, token)

    def _log(self) -> None:
        """FlowAt's access log, with the token masked."""
        ApprovalPageHandler._log(self)


def _start_triggers_if_temporal_runs() -> None:
    """Run the schedule launcher here when Temporal is already up (never start it)."""
    from flowat_kernel.config import settings
    from flowat_kernel.engine import devserver
    from flowat_kernel.server.serve import start_triggers

    current = settings()
    if current.temporal_address or devserver.status(current.temporal_dir) is not None:
        start_triggers()


def load_extension(serverapp: Any) -> None:
    """Add FlowAt's handlers to ``serverapp``'s web application."""
    base = serverapp.web_app.settings.get("base_url", "/")
    serverapp.web_app.add_handlers(".*$", routes(base, JupyterApiHandler, JupyterNotFoundHandler))
    serverapp.web_app.add_handlers(".*$", approval_routes(base, JupyterApprovalHandler))
    threading.Thread(
        target=_start_triggers_if_temporal_runs, name="flowat-triggers", daemon=True
    ).start()
    serverapp.log.info("FlowAt REST API at %sapi/v1 (OpenAPI at %sapi/v1/openapi.json)", base, base)
