"""Store selection and media types: the engine, an 8.x cluster and a 9.x cluster each get what they accept."""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from elasticsearch import BadRequestError, Elasticsearch

from parsers.store.connect import (
    MediaTypes,
    Store,
    add_store_arguments,
    connect,
    rewrite_media_type,
    settings_from_args,
)
from parsers.store.errors import StoreConfigError

pytestmark = pytest.mark.integration

_COMPAT = re.compile(r"compatible-with=(\d+)")


class FakeCluster(ThreadingHTTPServer):
    """A real HTTP server answering like an Elasticsearch node of one major version.

    Like Elasticsearch, it takes plain `application/json` or the vendor type with its own major
    version, and refuses any other `compatible-with` with 400. It records every request's headers.
    """

    def __init__(self, major: int) -> None:
        super().__init__(("127.0.0.1", 0), _FakeClusterHandler)
        self.major = major
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _FakeClusterHandler(BaseHTTPRequestHandler):
    server: FakeCluster

    def log_message(self, format: str, *args: object) -> None:
        # quiet: the test asserts on recorded requests instead
        return

    def _answer(self, status: int, body: dict[str, object], media_type: str) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.append((self.command, self.path, headers))
        major = self.server.major
        versions = {
            int(found.group(1))
            for name in ("content-type", "accept")
            if (found := _COMPAT.search(headers.get(name, "")))
        }
        if versions - {major}:
            reason = f"Content-Type/Accept compatible-with={sorted(versions)} is not supported by {major}.x"
            self._answer(
                400, {"error": {"type": "media_type_header_exception", "reason": reason}}, "application/json"
            )
            return
        media_type = (
            f"application/vnd.elasticsearch+json;compatible-with={major}" if versions else "application/json"
        )
        if self.path == "/":
            version = {"number": f"{major}.15.0", "build_flavor": "default"}
            self._answer(
                200, {"name": "fake", "version": version, "tagline": "You Know, for Search"}, media_type
            )
        else:
            self._answer(201, {"_index": "probe", "_id": "1", "result": "created"}, media_type)

    do_GET = do_PUT = do_POST = _handle


@pytest.fixture(params=[8, 9])
def fake_cluster(request: pytest.FixtureRequest) -> Iterator[FakeCluster]:
    server = FakeCluster(request.param)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_engine_accepts_writes_through_the_official_client(es_store: Store) -> None:
    client = es_store.client
    client.index(index="bootwatch-probe", id="1", document={"probe": True}, refresh=True)
    assert client.get(index="bootwatch-probe", id="1")["_source"] == {"probe": True}
    client.indices.delete(index="bootwatch-probe")


def test_no_url_starts_an_embedded_engine_that_stops_with_the_store() -> None:
    with connect() as store:
        assert store.is_embedded
        assert store.server.distribution == "opensearch"
        assert store.server.media_types is MediaTypes.PLAIN_JSON
        assert not store.capabilities.ilm and not store.capabilities.point_in_time
        assert store.client.count(index="*")["count"] == 0
        process = store.embedded.process if store.embedded else None
    assert process is not None and process.poll() is not None


def test_each_cluster_version_receives_media_types_it_accepts(fake_cluster: FakeCluster) -> None:
    with connect(fake_cluster.url) as store:
        assert store.server.major == fake_cluster.major
        assert store.capabilities.ilm
        store.client.index(index="probe", id="1", document={"a": 1})
    method, path, headers = fake_cluster.requests[-1]
    assert (method, path) == ("PUT", "/probe/_doc/1")
    expected = f"application/vnd.elasticsearch+json; compatible-with={fake_cluster.major}"
    assert headers["content-type"] == expected
    assert headers["accept"] == expected
    # the detection itself went out as plain JSON, which every server takes
    assert "compatible-with" not in fake_cluster.requests[0][2].get("accept", "")


def test_the_client_default_media_type_is_refused_by_an_8x_cluster() -> None:
    server = FakeCluster(8)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with pytest.raises(BadRequestError):
            Elasticsearch(server.url).index(index="probe", id="1", document={"a": 1})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_vendor_media_types_are_rewritten_per_server() -> None:
    nine = "application/vnd.elasticsearch+x-ndjson; compatible-with=9"
    assert rewrite_media_type(nine, MediaTypes.PLAIN_JSON) == "application/x-ndjson"
    assert (
        rewrite_media_type(nine, MediaTypes.COMPAT_8)
        == "application/vnd.elasticsearch+x-ndjson; compatible-with=8"
    )
    assert rewrite_media_type(nine, MediaTypes.CLIENT_DEFAULT) == nine


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_store_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_override_environment_which_overrides_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "bootwatch.toml"
    config.write_text('[store]\nes_url = "http://file:9200"\nusername = "file-user"\npassword = "p"\n')
    environ = {"BOOTWATCH_CONFIG": str(config), "BOOTWATCH_ES_URL": "http://env:9200"}
    from_env = settings_from_args(_args(), environ)
    assert (from_env.es_url, from_env.username) == ("http://env:9200", "file-user")
    from_flag = settings_from_args(_args("--es-url", "http://flag:9200"), environ)
    assert from_flag.es_url == "http://flag:9200"
    assert settings_from_args(_args(), {}).es_url is None


def test_an_unknown_config_key_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bootwatch.toml"
    config.write_text('[store]\nurl = "http://typo:9200"\n')
    with pytest.raises(StoreConfigError, match="store setting url"):
        settings_from_args(_args(), {"BOOTWATCH_CONFIG": str(config)})


def test_a_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    settings = settings_from_args(
        _args("--es-url", "https://x:9200", "--es-ca", str(tmp_path / "none.pem")), {}
    )
    with pytest.raises(StoreConfigError, match="CA bundle"):
        connect(settings=settings)


def test_a_store_table_with_a_password_in_a_world_readable_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    readable = tmp_path / "bootwatch.toml"
    readable.write_text('[store]\nes_url = "http://file:9200"\nusername = "u"\npassword = "p"\n')
    readable.chmod(0o644)
    private = tmp_path / "private.toml"
    private.write_text('[store]\nes_url = "http://file:9200"\napi_key = "k"\n')
    private.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        settings_from_args(_args(), {"BOOTWATCH_CONFIG": str(readable)})
        settings_from_args(_args(), {"BOOTWATCH_CONFIG": str(private)})
    (warning,) = [record.message for record in caplog.records if "holds secrets" in record.message]
    assert f"{readable} holds secrets (store.password)" in warning and f"chmod 600 {readable}" in warning
