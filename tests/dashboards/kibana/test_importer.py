"""The Kibana import against a real local HTTP server: multipart upload, kbn-xsrf, space path, and
per-object errors reported from a 200 answer."""

from __future__ import annotations

import email.parser
import email.policy

import pytest

from bootwatch.cli import main
from dashboards.kibana.export import render_ndjson, saved_objects
from dashboards.kibana.importer import KibanaAuth, KibanaImportError, import_dashboards
from parsers.store.connect import Store
from tests.dashboards.support import RecordedRequest, RecordingServer, ScriptedAnswer

PARTIAL_FAILURE = {
    "success": False,
    "successCount": 16,
    "errors": [
        {
            "id": "bootwatch-lens-sites-by-state",
            "type": "lens",
            "meta": {"title": "Sites by install state"},
            "error": {"type": "missing_references", "references": [{"type": "index-pattern", "id": "gone"}]},
        }
    ],
}


def _uploaded_file(request: RecordedRequest) -> tuple[str, str, bytes]:
    """(form field name, file name, content) of the single multipart part."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    (part,) = list(message.iter_parts())
    return (
        part.get_param("name", header="content-disposition"),
        part.get_filename(),
        part.get_payload(decode=True),
    )


def test_import_uploads_the_ndjson_as_multipart_with_the_xsrf_header(http_server: RecordingServer) -> None:
    http_server.script = [ScriptedAnswer(200, {"success": True, "successCount": 17, "errors": []})]
    report = import_dashboards(http_server.url, space="ops", auth=KibanaAuth(api_key="aWQ6a2V5"))
    assert report.ok and report.success_count == 17
    (request,) = http_server.requests
    assert request.path == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert request.headers["kbn-xsrf"]
    assert request.headers["authorization"] == "ApiKey aWQ6a2V5"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    field, filename, content = _uploaded_file(request)
    assert (field, filename) == ("file", "bootwatch.ndjson")
    assert content.decode("utf-8") == render_ndjson(saved_objects())


def test_default_space_uses_the_plain_path(http_server: RecordingServer) -> None:
    import_dashboards(http_server.url + "/", auth=KibanaAuth(username="elastic", password="pw"))
    (request,) = http_server.requests
    assert request.path == "/api/saved_objects/_import?overwrite=true"
    assert request.headers["authorization"] == "Basic ZWxhc3RpYzpwdw=="


def test_a_200_answer_with_errors_reports_each_failed_object(http_server: RecordingServer) -> None:
    http_server.script = [ScriptedAnswer(200, PARTIAL_FAILURE)]
    report = import_dashboards(http_server.url)
    assert not report.ok
    (error,) = report.errors
    assert error.describe() == (
        "lens bootwatch-lens-sites-by-state (Sites by install state): missing references: index-pattern gone"
    )


def test_a_refused_request_raises_with_the_status(http_server: RecordingServer) -> None:
    http_server.script = [ScriptedAnswer(400, {"statusCode": 400, "message": "Invalid file extension .txt"})]
    with pytest.raises(KibanaImportError, match=r"HTTP 400.*Invalid file extension"):
        import_dashboards(http_server.url)


def test_an_unreachable_kibana_raises(http_server: RecordingServer) -> None:
    url = http_server.url
    http_server.shutdown()
    http_server.server_close()
    with pytest.raises(KibanaImportError, match="cannot reach Kibana"):
        import_dashboards(url, timeout_s=2)


def test_import_command_prints_per_object_errors_and_exits_1(
    http_server: RecordingServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.script = [ScriptedAnswer(200, PARTIAL_FAILURE)]
    assert main(["dashboards", "import", "--kibana-url", http_server.url]) == 1
    captured = capsys.readouterr()
    assert "imported 16 saved object(s)" in captured.out
    assert "not imported: lens bootwatch-lens-sites-by-state" in captured.err


def test_setup_with_a_kibana_url_installs_templates_then_imports(
    http_server: RecordingServer, es_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.script = [ScriptedAnswer(200, {"success": True, "successCount": 17, "errors": []})]
    assert main(["setup", "--es-url", es_store.url, "--kibana-url", http_server.url, "--space", "ops"]) == 0
    assert "imported 17 saved object(s)" in capsys.readouterr().out
    assert http_server.requests[0].path == "/s/ops/api/saved_objects/_import?overwrite=true"
