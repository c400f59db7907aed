"""A small OpenAI-compatible chat completions server on 127.0.0.1, for the llm connector.

It answers ``POST /v1/chat/completions`` in the real response format, deterministically:

- the content is a summary of the last user message (``"Summary: "`` and its first
  eight words), or a JSON object ``{"summary", "words"}`` when ``response_format`` is
  ``json_object``, or a call of the first tool when ``tools`` are given;
- ``usage`` counts words: every message's words are prompt tokens, the answer's words
  completion tokens; ``max_tokens`` cuts the answer (``finish_reason`` ``length``);
- a wrong ``Authorization`` header gets 401 in OpenAI's error format, and
  :meth:`FakeOpenAI.fail` queues error answers (429 with ``Retry-After``, 500, ...);
- ``POST /v1/embeddings`` answers deterministic 16-dimensional vectors: each word adds
  one to a dimension picked by a hash of it, then the vector is normalised (texts
  sharing words are near); ``usage.prompt_tokens`` counts words;
- :meth:`FakeOpenAI.script` queues scripted answers, used before the rules above: a
  text (``{"content": ...}``), tool calls (``{"tool_calls": [(name, arguments), ...]}``)
  or ``{"hold": True}``, which keeps the request open until :meth:`FakeOpenAI.release`
  (a model call that never returns while its worker is killed).
"""

from __future__ import annotations

import json
import math
import threading
import time
import zlib
from collections import deque
from typing import Any

from flowat_kernel.testing import LoopbackHTTPServer, Recorded, Reply

__all__ = ["FakeOpenAI", "fake_embedding", "summary"]


def summary(text: str) -> str:
    """The deterministic answer to ``text``: ``Summary: `` and its first eight words."""
    words = text.split()
    return "Summary: " + " ".join(words[:8]) + ("..." if len(words) > 8 else "")


def fake_embedding(text: str) -> list[float]:
    """The fake's embedding of ``text``: hashed word counts in 16 dimensions, normalised."""
    vector = [0.0] * 16
    for word in text.lower().split():
        vector[zlib.crc32(word.strip(".,!?").encode()) % 16] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _words(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(_words(p.get("text")) for p in content if isinstance(p, dict))
    return 0


def _error(status: int, message: str, kind: str, code: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


class FakeOpenAI:
    """The server; use as a context manager. ``base_url`` ends in ``/v1``.

    Args:
        api_key: the bearer token it accepts; ``None`` accepts requests without one.
        delay: seconds to wait before answering (to test timeouts).

    """

    def __init__(self, api_key: str | None = "sk-fake-test-key", delay: float = 0.0) -> None:
        self.api_key = api_key
        self.delay = delay
        self.content: str | None = None  # when set, the answer's content, whatever was asked
        self._failures: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._count = 0
        self._script: deque[dict[str, Any]] = deque()
        self._released = threading.Event()
        self._server = LoopbackHTTPServer(self._answer)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return self._server.url + "/v1"

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, in order."""
        return self._server.requests

    def fail(
        self, status: int, times: int = 1, *, retry_after: str | None = None, body: Any = None
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (OpenAI's error body by default)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        reply = (
            Reply(status, body, headers)
            if body is not None
            else Reply(
                status,
                {"error": {"message": f"fake failure {status}", "type": "server_error"}},
                headers,
            )
        )
        with self._lock:
            self._failures.extend([reply] * times)

    def script(self, *answers: dict[str, Any]) -> None:
        """Answer the next requests (past queued failures) with these, in order."""
        with self._lock:
            self._script.extend(answers)

    def release(self) -> None:
        """Let held requests go (they answer 503)."""
        self._released.set()

    @property
    def scripted_left(self) -> int:
        """How many scripted answers are still queued."""
        with self._lock:
            return len(self._script)

    def __enter__(self) -> FakeOpenAI:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._server.__exit__(*exc)

    def _answer(self, request: Recorded) -> Reply:
        if self.delay:
            time.sleep(self.delay)
        if request.method == "POST" and request.path == "/v1/embeddings":
            return self._embeddings(request)
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return _error(404, f"Invalid URL ({request.method} {request.path})", "invalid_request")
        with self._lock:
            queued = self._failures.popleft() if self._failures else None
            scripted = self._script.popleft() if queued is None and self._script else None
            self._count += 1
            number = self._count
        if queued is not None:
            return queued
        if scripted is not None and scripted.get("hold"):
            self._released.wait(300)
            return _error(503, "held and released", "server_error")
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(
                401,
                "Incorrect API key provided. You can find your API key in your account settings.",
                "invalid_request_error",
                "invalid_api_key",
            )
        try:
            body = request.json()
            model, messages = body["model"], body["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list")
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"Invalid request: {exc}", "invalid_request_error")
        return Reply(200, self._completion(number, model, messages, body, scripted))

    def _embeddings(self, request: Recorded) -> Reply:
        with self._lock:
            queued = self._failures.popleft() if self._failures else None
        if queued is not None:
            return queued
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        body = request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(t)}
            for i, t in enumerate(texts)
        ]
        words = sum(len(t.split()) for t in texts)
        usage = {"prompt_tokens": words, "total_tokens": words}
        return Reply(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})

    def _completion(
        self,
        number: int,
        model: str,
        messages: list[dict[str, Any]],
        body: dict[str, Any],
        scripted: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        last = next((m.get("content") or "" for m in reversed(messages) if m["role"] == "user"), "")
        last = last if isinstance(last, str) else " ".join(p.get("text", "") for p in last)
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if scripted is not None and "tool_calls" in scripted:
            message["tool_calls"] = [
                {
                    "id": f"call_{number}_{index}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
                for index, (name, arguments) in enumerate(scripted["tool_calls"])
            ]
            finish = "tool_calls"
            completion = sum(len(json.dumps(a).split()) for _, a in scripted["tool_calls"])
        elif scripted is not None:
            message["content"] = scripted["content"]
            completion = len(str(scripted["content"]).split())
        elif body.get("tools") and messages[-1]["role"] == "user":
            tool = body["tools"][0]["function"]["name"]
            arguments = json.dumps({"text": last})
            message["tool_calls"] = [
                {
                    "id": f"call_{number}",
                    "type": "function",
                    "function": {"name": tool, "arguments": arguments},
                }
            ]
            finish, completion = "tool_calls", len(arguments.split())
        else:
            if self.content is not None:
                content = self.content
            elif (body.get("response_format") or {}).get("type") == "json_object":
                content = json.dumps({"summary": summary(last), "words": len(last.split())})
            else:
                content = summary(last)
            limit = body.get("max_tokens")
            if limit is not None and len(content.split()) > limit:
                content, finish = " ".join(content.split()[:limit]), "length"
            message["content"] = content
            completion = len(content.split())
        prompt = sum(_words(m.get("content")) for m in messages)
        return {
            "id": f"chatcmpl-fake{number}",
            "object": "chat.completion",
            "created": 1_700_000_000 + number,
            "model": f"{model}-2024-07-18" if model == "gpt-4o-mini" else model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            "system_fingerprint": "fp_fake",
        }
