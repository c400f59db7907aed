"""Loopback stand-ins for the outside services the example notebooks call.

The examples run without a network: an orders API and an OpenAI-compatible chat API are
served on 127.0.0.1 by this module (real HTTP on real sockets, made with
``flowat_kernel.testing.LoopbackHTTPServer``). A notebook starts the ones it needs in
its ``setup`` cell when no real address is given. To run a notebook's steps somewhere
else (``papermill --engine flowat``, ``flowat run --notebook``), start them from a
terminal and pass the addresses it prints::

    python notebooks/standins.py          # serves until Ctrl-C
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply

__all__ = ["ORDERS", "openai_api", "orders_api", "running", "stop_all"]

#: Every stand-in started in this process (``stop_all`` stops them).
running: list[LoopbackHTTPServer] = []

ORDERS: list[dict[str, Any]] = [
    {"id": i, "region": region, "amount": amount}
    for i, (region, amount) in enumerate(
        [
            ("north", 120.0),
            ("south", 35.5),
            ("north", 8.0),
            ("east", 250.0),
            ("south", 99.9),
            ("west", 12.5),
            ("east", 5.0),
            ("north", 64.25),
        ],
        start=1,
    )
]


def _start(server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    server.__enter__()
    running.append(server)
    return server


def stop_all() -> None:
    """Stop every stand-in this process started."""
    while running:
        running.pop().__exit__(None, None, None)


def orders_api() -> LoopbackHTTPServer:
    """``GET /orders`` answers ``{"orders": [...]}`` (:data:`ORDERS`); anything else is 404."""

    def answer(request: Recorded) -> Reply:
        if request.method == "GET" and request.path.split("?")[0] == "/orders":
            return Reply(200, {"orders": ORDERS})
        return Reply(404, {"error": f"no route {request.method} {request.path}"})

    return _start(LoopbackHTTPServer(answer))


def _summary(text: str) -> str:
    words = text.split()
    return "Summary: " + " ".join(words[:8]) + ("..." if len(words) > 8 else "")


def openai_api(secret_name: str) -> LoopbackHTTPServer:
    """An OpenAI-compatible ``POST /v1/chat/completions`` that wants a fresh random key.

    The key is stored in the vault as ``secret_name`` (never shown); the answer is
    ``Summary: `` and the first eight words of the last user message, with ``usage``
    counting words as tokens. ``base_url`` is the server's URL plus ``/v1``.
    """
    import flowat_kernel as flowat

    key = secrets.token_urlsafe(24)
    flowat.set_secret(secret_name, key)

    def answer(request: Recorded) -> Reply:
        if request.path != "/v1/chat/completions" or request.method != "POST":
            return Reply(404, {"error": {"message": "not found", "type": "invalid_request"}})
        if request.headers.get("Authorization") != f"Bearer {key}":
            return Reply(401, {"error": {"message": "Incorrect API key", "type": "auth"}})
        body = request.json()
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        content = _summary(last)
        prompt = sum(len(str(m["content"]).split()) for m in body["messages"])
        completion = len(content.split())
        return Reply(
            200,
            {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )

    server = _start(LoopbackHTTPServer(answer))
    server.base_url = server.url + "/v1"  # type: ignore[attr-defined]
    return server


if __name__ == "__main__":
    orders = orders_api()
    llm = openai_api("llm_demo_key")
    print("stand-ins running; pass these to papermill (-p NAME VALUE) or flowat run (-p NAME=VALUE):")
    print(f"  api_url={orders.url}/orders")
    print(f"  llm_base_url={llm.url}/v1   (key stored in the vault as llm_demo_key)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop_all()
