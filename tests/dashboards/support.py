"""Test support for dashboards tests: a real local HTTP server that records requests and answers from a
script, and site attempt documents indexed into the real store."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from parsers.schema import SiteAttempt
from parsers.store.connect import Store
from parsers.store.templates import SITES_INDEX, install_templates


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedAnswer:
    status: int
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class RecordingServer(ThreadingHTTPServer):
    """Answers each POST with the next scripted answer (the last one repeats) and records the request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[RecordedRequest] = []
        self.script: list[ScriptedAnswer] = [ScriptedAnswer(200, {"ok": True})]
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_answer(self) -> ScriptedAnswer:
        with self.lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _Handler(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append(
            RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        answer = self.server.next_answer()
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `requests` instead."""


def site_attempt(
    site: str,
    state: str,
    *,
    started_at: str = "2002-10-25T06:00:00.000Z",
    attempt_number: int = 1,
    host: str | None = None,
    judged_as_of: str = "2002-10-27T00:00:00.000Z",
    error_code: str | None = None,
) -> dict[str, Any]:
    """A valid `SiteAttempt` document (validated, so a schema change breaks the test, not the runner)."""
    attempt_id = f"{site}-{started_at.replace('-', '').replace(':', '').replace('.', '')}"
    document = {
        "site": site,
        "host": host or f"{site.lower()}-host",
        "attempt_id": attempt_id,
        "attempt_number": attempt_number,
        "state": state,
        "started_at": started_at,
        "last_event_at": started_at,
        "failed_at": started_at if state == "failed_unreported" else None,
        "last_message": f"{site} last record",
        "error_code": error_code,
        "record_count": 3,
        "judged_as_of": judged_as_of,
    }
    return SiteAttempt.model_validate(document).model_dump(mode="json", by_alias=True)


def index_attempts(store: Store, *documents: dict[str, Any]) -> None:
    """Index (or overwrite) site attempt documents, `_id` = `attempt_id`, visible to the next search."""
    install_templates(store)
    for document in documents:
        store.client.index(index=SITES_INDEX, id=document["attempt_id"], document=document)
    store.client.indices.refresh(index=SITES_INDEX)
