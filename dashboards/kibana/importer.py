"""Import the bootwatch saved objects into Kibana: `POST /api/saved_objects/_import?overwrite=true`.

Kibana wants a multipart upload of the NDJSON (form field `file`, a `.ndjson` file name) and a `kbn-xsrf`
header. Its answer is 200 even when some objects failed: the body's `errors` list names each failed
object and why (missing reference, conflict, unsupported type...), so `ImportReport` carries those and
the caller reports them instead of trusting the status code. Standard library only (urllib): the call
is one request.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen

from dashboards.kibana.export import render_ndjson, saved_objects

IMPORT_PATH = "/api/saved_objects/_import?overwrite=true"
DEFAULT_TIMEOUT_S = 30.0


class KibanaImportError(Exception):
    """The import request itself failed (unreachable, refused, not Kibana): nothing was imported."""


@dataclass(frozen=True, slots=True)
class ObjectError:
    """One object Kibana did not import, and why."""

    type: str
    id: str
    title: str | None
    reason: str

    def describe(self) -> str:
        title = f" ({self.title})" if self.title else ""
        return f"{self.type} {self.id}{title}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What Kibana said: how many objects it imported and which ones it did not."""

    success_count: int
    errors: tuple[ObjectError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class KibanaAuth:
    """How to authenticate to Kibana: an API key (base64 `id:key`) or a user and password, or neither."""

    api_key: str | None = None
    username: str | None = None
    password: str | None = None

    def header(self) -> str | None:
        if self.api_key:
            return f"ApiKey {self.api_key}"
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode("ascii")
            return f"Basic {token}"
        return None


def _error_reason(error: dict[str, Any]) -> str:
    kind = str(error.get("type", "unknown"))
    if kind == "missing_references":
        missing = ", ".join(f"{ref.get('type')} {ref.get('id')}" for ref in error.get("references", []))
        return f"missing references: {missing}"
    message = error.get("message") or error.get("reason")
    return f"{kind}: {message}" if message else kind


def parse_import_response(body: dict[str, Any]) -> ImportReport:
    """The report of a 200 answer: `successCount` and each entry of `errors`."""
    errors = tuple(
        ObjectError(
            type=str(entry.get("type", "?")),
            id=str(entry.get("id", "?")),
            title=(entry.get("meta") or {}).get("title") or entry.get("title"),
            reason=_error_reason(entry.get("error") or {}),
        )
        for entry in body.get("errors") or []
    )
    return ImportReport(success_count=int(body.get("successCount", 0)), errors=errors)


def _multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"bootwatch-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/ndjson\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + content + tail, f"multipart/form-data; boundary={boundary}"


def import_url(kibana_url: str, space: str | None) -> str:
    base = kibana_url.rstrip("/")
    if space and space != "default":
        base += f"/s/{quote(space, safe='')}"
    return base + IMPORT_PATH


def import_ndjson(
    kibana_url: str,
    ndjson: str,
    *,
    space: str | None = None,
    auth: KibanaAuth | None = None,
    ca_file: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ImportReport:
    """Upload NDJSON saved objects to Kibana (overwriting objects with the same ids) and report per object."""
    body, content_type = _multipart("file", "bootwatch.ndjson", ndjson.encode("utf-8"))
    headers = {"kbn-xsrf": "bootwatch", "Content-Type": content_type, "Accept": "application/json"}
    authorization = (auth or KibanaAuth()).header()
    if authorization:
        headers["Authorization"] = authorization
    url = import_url(kibana_url, space)
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    request = Request(url, data=body, headers=headers, method="POST")
    try:
        with urlopen(request, timeout=timeout_s, context=context) as response:
            raw = response.read()
    except HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:500]
        raise KibanaImportError(f"Kibana refused the import at {url}: HTTP {exc.code} {detail}") from None
    except (URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise KibanaImportError(f"cannot reach Kibana at {url}: {reason}") from None
    try:
        answer = json.loads(raw)
    except json.JSONDecodeError:
        raise KibanaImportError(f"{url} answered with something that is not JSON: is it Kibana?") from None
    if not isinstance(answer, dict):
        raise KibanaImportError(f"{url} answered {answer!r}, not an import result")
    return parse_import_response(answer)


def import_dashboards(
    kibana_url: str,
    *,
    space: str | None = None,
    auth: KibanaAuth | None = None,
    ca_file: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ImportReport:
    """Import bootwatch's data views, saved searches, Lens charts and dashboard (`bootwatch setup`)."""
    return import_ndjson(
        kibana_url,
        render_ndjson(saved_objects()),
        space=space,
        auth=auth,
        ca_file=ca_file,
        timeout_s=timeout_s,
    )
