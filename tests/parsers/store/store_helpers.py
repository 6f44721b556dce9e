"""Store test helpers: LogDocument-shaped records and a real faulty HTTP proxy in front of the store.

`BulkProxy` forwards every request to the store unchanged, except the `_bulk` call numbered
`fault_at_call` (1-based), where it misbehaves like a loaded cluster: `whole` answers 429 without
forwarding, `partial` forwards only every other item and answers 429 for the rest, `drop` closes the
connection without an answer, `forbidden` answers 403 (a user without write privilege). It records
the `_id`s of every `_bulk` call so tests can check that only the refused items were resent.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

from parsers.schema import LogDocument

FaultMode = Literal["whole", "partial", "drop", "forbidden"]


def log_document(
    offset: int,
    *,
    site: str = "S02",
    file_id: str = "fp-1",
    timestamp: str = "2002-07-26T17:12:01.234Z",
    message: str = "Bootstrap service started",
    action: str | None = None,
) -> dict[str, Any]:
    """One record as the parsers build it, checked against the schema."""
    document: dict[str, Any] = {
        "@timestamp": timestamp,
        "message": message,
        "event": {"original": message, "dataset": "sms.bootstrap", "timezone": "UTC"},
        "log": {"level": "info", "file": {"path": "C:/SMS_BOOTSTRAP.log"}, "offset": offset},
        "host": {"name": f"{site.lower()}-server"},
        "sms": {"log": {"format": "plain", "file_id": file_id}, "site": {"code": site}},
    }
    if action is not None:
        document["event"]["action"] = action
    LogDocument.model_validate(document)
    return document


class BulkProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, fault_at_call: int, mode: FaultMode) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.fault_at_call = fault_at_call
        self.mode = mode
        self.bulk_calls: list[list[str]] = []
        self.lock = threading.Lock()
        # `_bulk` requests being answered right now, and the most there ever were at once.
        self.bulk_in_flight = 0
        self.most_bulk_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: BulkProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        # quiet: tests assert on the recorded calls
        return

    def _forward(self, body: bytes) -> tuple[int, bytes, str]:
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        media_type = response.getheader("Content-Type", "application/json")
        connection.close()
        return response.status, payload, media_type

    def _reply(self, status: int, payload: bytes, media_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.split("?")[0].endswith("/_bulk"):
            self._reply(*self._forward(body))
            return
        lines = [line for line in body.split(b"\n") if line]
        pairs = [(json.loads(lines[i]), lines[i + 1]) for i in range(0, len(lines), 2)]
        with self.server.lock:
            self.server.bulk_calls.append([next(iter(header.values()))["_id"] for header, _ in pairs])
            call = len(self.server.bulk_calls)
            self.server.bulk_in_flight += 1
            self.server.most_bulk_in_flight = max(self.server.most_bulk_in_flight, self.server.bulk_in_flight)
        try:
            self._answer_bulk(call, body, pairs)
        finally:
            with self.server.lock:
                self.server.bulk_in_flight -= 1

    def _answer_bulk(self, call: int, body: bytes, pairs: list[tuple[dict[str, Any], bytes]]) -> None:
        if call != self.server.fault_at_call:
            self._reply(*self._forward(body))
        elif self.server.mode == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        elif self.server.mode == "forbidden":
            error = {"error": {"type": "security_exception", "reason": "action unauthorized"}, "status": 403}
            self._reply(403, json.dumps(error).encode(), "application/json")
        elif self.server.mode == "whole":
            error = {
                "error": {"type": "es_rejected_execution_exception", "reason": "test proxy"},
                "status": 429,
            }
            self._reply(429, json.dumps(error).encode(), "application/json")
        else:
            self._reply(200, self._partial(pairs), "application/json")

    def _partial(self, pairs: list[tuple[dict[str, Any], bytes]]) -> bytes:
        """Forward the even items; answer the odd ones with 429, as an overloaded node does per item."""
        kept = [pair for position, pair in enumerate(pairs) if position % 2 == 0]
        forwarded = b"".join(json.dumps(header).encode() + b"\n" + source + b"\n" for header, source in kept)
        _status, payload, _type = self._forward(forwarded)
        upstream_items = iter(json.loads(payload)["items"])
        items = []
        for position, (header, _source) in enumerate(pairs):
            if position % 2 == 0:
                items.append(next(upstream_items))
            else:
                ((op_type, meta),) = header.items()
                rejected = {
                    "status": 429,
                    "error": {"type": "es_rejected_execution_exception", "reason": "test"},
                }
                items.append({op_type: {**meta, **rejected}})
        return json.dumps({"took": 1, "errors": True, "items": items}).encode()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
