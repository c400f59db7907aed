"""Endpoints: Temporal's codec-server protocol, so Temporal's Web UI shows FlowAt payloads.

Temporal's UI posts ``{"payloads": [...]}`` to ``ENDPOINT/decode`` from the browser,
without FlowAt's credentials, so the credential is part of the endpoint a member gives
the UI: ``/api/v1/codec/KEY/decode`` with an API key that may read runs (best a key of
its own, ``flowat keys create --scope runs:read``, revocable at any time). The key never
reaches a log (request lines are masked). ``POST /api/v1/codec/decode`` takes the key in
the ``Authorization`` header as every other endpoint. What is decoded, and for whom:
:mod:`flowat_kernel.workspace.payload_decoding`. The browser calls it across origins:
the paths answer CORS preflights (no cookies are used, so any origin may call; only the
key decides).
"""

from __future__ import annotations

from flowat_kernel.access.principal import Principal
from flowat_kernel.server.call import Call, Reply
from flowat_kernel.server.endpoints import Endpoint, endpoint
from flowat_kernel.server.errors import ApiError
from flowat_kernel.server.state import services, workspace

__all__ = ["CORS_HEADERS", "ENDPOINTS", "is_codec_path"]

#: Headers that let Temporal's UI call the codec from its own origin.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-Namespace, Authorization",
    "Access-Control-Max-Age": "600",
}


def is_codec_path(path: str) -> bool:
    """Whether a request path is one of the codec's (they answer CORS)."""
    return "/api/v1/codec/" in path


def _decode(call: Call, principal: Principal) -> Reply:
    from flowat_kernel.workspace.payload_decoding import decode_for

    document = call.document()
    payloads = document.get("payloads") if isinstance(document, dict) else None
    if not isinstance(payloads, list):
        raise ApiError(400, "invalid", 'send {"payloads": [...]}, the payloads to decode')
    return 200, {"payloads": decode_for(workspace(principal), payloads)}


@endpoint(
    "POST",
    "/codec/{credential}/decode",
    "public",
    "Decode Temporal payloads for Temporal's Web UI (the API key in the path)",
    tag="codec",
)
def decode_with_path_key(call: Call) -> Reply:
    return _decode(call, services().authenticate(call.path["credential"]))


@endpoint(
    "POST",
    "/codec/decode",
    "runs:read",
    "Decode Temporal payloads (the API key in the Authorization header)",
    tag="codec",
)
def decode_with_header_key(call: Call) -> Reply:
    return _decode(call, call.who)


ENDPOINTS: list[Endpoint] = [decode_with_header_key, decode_with_path_key]
