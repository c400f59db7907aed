"""The HTTP side of ``bench_burst.py``: keep-alive clients, and signed webhook deliveries.

:func:`fire_deliveries` is a module-level function so that sender processes
(``bench_burst.py --senders N``, started with ``spawn``) can run it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from burst_cells import event


class Clients:
    """``count`` threads, each with one keep-alive HTTP connection to the API server."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(count, thread_name_prefix="bench-http")

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port)
        for attempt in range(5):
            try:
                conn.request("POST", path, body=body, headers=headers)
                reply = conn.getresponse()
                status, data = reply.status, reply.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port)
                continue
            if status == 429:  # over the per-credential limit: back off like a client would
                time.sleep(0.01 * (attempt + 1))
                continue
            return status, json.loads(data)
        raise RuntimeError(f"POST {path} kept failing")

    def close(self) -> None:
        self.pool.shutdown()


def sender_ready() -> None:
    """In a sender process: import what sending needs; hold it so each process gets one."""
    import flowat_kernel.triggers.signatures  # noqa: F401

    time.sleep(0.3)


def fire_deliveries(
    port: int, path: str, secret_text: str, numbers: Any, clients: int
) -> list[tuple[int, tuple[str, int]]]:
    """Send events ``numbers`` as signed deliveries from ``clients`` threads.

    Each event's number with its (run id, index in the run) from the 202. A module-level
    function so that sender processes (``--senders``) can run it.
    """
    from flowat_kernel.triggers.signatures import decode_secret, sign

    secret = decode_secret(secret_text)
    pool = Clients(port, clients)

    def fire(i: int) -> tuple[int, tuple[str, int]]:
        body = json.dumps(event(i)).encode()
        message_id = f"msg_{uuid.uuid4().hex}"
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, message_id, stamp, body),
        }
        status, document = pool.post(path, body, headers)
        if status != 202:
            raise RuntimeError(f"webhook answered {status}: {document}")
        return i, (str(document["run_id"]), int(document["event"]))

    try:
        return list(pool.pool.map(fire, numbers))
    finally:
        pool.close()
