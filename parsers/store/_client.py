"""The heavy half of store selection: client, embedded engine, media types, settings.

Use it through `parsers.store.connect`, which re-exports the public names without importing this module
until they are needed (see there for how the store is chosen).

The 9.x `elasticsearch` client labels every body `application/vnd.elasticsearch+json; compatible-with=9`.
The embedded engine (and OpenSearch) answer that with 406 and an 8.x cluster rejects it too, so one
transport node class, `MediaTypeNode`, rewrites `Content-Type` / `Accept` to what the server detected at
connect accepts. Detection is a plain `info()` sent as `application/json`, which every server takes.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from elastic_transport import HttpHeaders, NodeConfig, TransportError, Urllib3HttpNode
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType, url_to_node_config
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.serializer import NdjsonSerializer, OrjsonSerializer
from osmem_server import OsmemError, OsmemServer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parsers.secret_config import warn_if_readable_by_others
from parsers.store.connect import CONFIG_ENV, SETTING_SOURCES
from parsers.store.errors import StoreConfigError, StoreUnavailable

MEDIA_TYPES_EXTRA = "_bootwatch_media_types"


class MediaTypes(StrEnum):
    """What the server accepts in `Content-Type` / `Accept`."""

    PLAIN_JSON = "plain"  # engine, OpenSearch, Elasticsearch < 8: application/json, application/x-ndjson
    COMPAT_8 = "compat-8"  # Elasticsearch 8.x: application/vnd.elasticsearch+json; compatible-with=8
    CLIENT_DEFAULT = "client"  # Elasticsearch 9.x: what the 9.x client sends already


_VENDOR_MEDIA_TYPE = re.compile(r"application/vnd\.elasticsearch\+([\w.-]+);\s*compatible-with=\d+")
_COMPAT_VERSION = re.compile(r"compatible-with=\d+")
_REWRITTEN_HEADERS = ("content-type", "accept")


def rewrite_media_type(value: str, media_types: MediaTypes) -> str:
    """One header value as the server wants it."""
    if media_types is MediaTypes.PLAIN_JSON:
        return _VENDOR_MEDIA_TYPE.sub(r"application/\1", value)
    if media_types is MediaTypes.COMPAT_8:
        return _COMPAT_VERSION.sub("compatible-with=8", value)
    return value


class MediaTypeNode(Urllib3HttpNode):
    """urllib3 node that sends the media types its server accepts (chosen per node in `_extras`)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self.media_types = MediaTypes(config._extras.get(MEDIA_TYPES_EXTRA, MediaTypes.CLIENT_DEFAULT))

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        if headers is not None and self.media_types is not MediaTypes.CLIENT_DEFAULT:
            headers = HttpHeaders(headers)
            for name in _REWRITTEN_HEADERS:
                if name in headers:
                    headers[name] = rewrite_media_type(headers[name], self.media_types)
        return super().perform_request(
            method, target, body=body, headers=headers, request_timeout=request_timeout
        )


@dataclass(frozen=True, slots=True)
class Capabilities:
    """APIs beyond the common set that the server has; code that uses one checks here first."""

    ilm: bool
    point_in_time: bool


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What `info()` said about the server."""

    distribution: str  # "elasticsearch" or "opensearch"
    version: str
    major: int

    @property
    def media_types(self) -> MediaTypes:
        if self.distribution != "elasticsearch" or self.major < 8:
            return MediaTypes.PLAIN_JSON
        return MediaTypes.COMPAT_8 if self.major == 8 else MediaTypes.CLIENT_DEFAULT

    @property
    def capabilities(self) -> Capabilities:
        # OpenSearch (and the engine imitating it) has neither `_ilm` nor Elasticsearch's point in time.
        is_elasticsearch = self.distribution == "elasticsearch"
        return Capabilities(ilm=is_elasticsearch, point_in_time=is_elasticsearch and self.major >= 8)

    @classmethod
    def from_info(cls, body: Mapping[str, object]) -> ServerInfo:
        version = body.get("version")
        if not isinstance(version, Mapping):
            raise StoreUnavailable(f"the server's info() answer has no version: {dict(body)!r}")
        number = str(version.get("number", "0"))
        major_text = number.split(".", 1)[0]
        return cls(
            distribution=str(version.get("distribution") or "elasticsearch"),
            version=number,
            major=int(major_text) if major_text.isdigit() else 0,
        )


class StoreSettings(BaseModel):
    """How to reach the store: the `[store]` table of the config file, overridden by env and flags."""

    model_config = ConfigDict(extra="forbid")

    es_url: str | None = Field(None, description="Elasticsearch URL; none = start the embedded engine")
    api_key: str | None = Field(None, description="API key (the base64 `id:key` form)")
    username: str | None = Field(None, description="Basic-auth user")
    password: str | None = Field(None, description="Basic-auth password")
    ca_certs: Path | None = Field(None, description="CA bundle (PEM) that signed the cluster's certificate")
    request_timeout_s: float = Field(30.0, gt=0, description="Per-request timeout in seconds")


class Store:
    """An open connection: the client, what the server is, and the embedded engine if we started one."""

    def __init__(
        self, client: Elasticsearch, server: ServerInfo, url: str, embedded: OsmemServer | None
    ) -> None:
        self.client = client
        self.server = server
        self.url = url
        self.embedded = embedded

    @property
    def capabilities(self) -> Capabilities:
        return self.server.capabilities

    @property
    def is_embedded(self) -> bool:
        return self.embedded is not None

    def close(self) -> None:
        self.client.close()
        if self.embedded is not None:
            self.embedded.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class OrjsonNdjsonSerializer(NdjsonSerializer, OrjsonSerializer):
    """Bulk bodies and answers through orjson (the client's own ndjson serializer uses `json`)."""


# orjson reads a bulk answer of a thousand items and writes its action lines several times faster
# than `json`; the collector spends that time on every batch.
SERIALIZERS = {
    OrjsonSerializer.mimetype: OrjsonSerializer(),
    OrjsonNdjsonSerializer.mimetype: OrjsonNdjsonSerializer(),
}


def _client(url: str, media_types: MediaTypes, settings: StoreSettings) -> Elasticsearch:
    try:
        node = url_to_node_config(url, use_default_ports_for_scheme=True)
    except ValueError as exc:
        raise StoreConfigError(f"store URL {url!r} is not a valid http(s) URL ({exc})") from None
    node = node.replace(_extras={MEDIA_TYPES_EXTRA: media_types.value})
    basic_auth = None
    if settings.username is not None:
        if settings.password is None:
            raise StoreConfigError("--es-user needs --es-password (or BOOTWATCH_ES_PASSWORD)")
        basic_auth = (settings.username, settings.password)
    if settings.ca_certs is not None and not settings.ca_certs.is_file():
        raise StoreConfigError(f"CA bundle {settings.ca_certs} does not exist; fix --es-ca")
    return Elasticsearch(
        hosts=[node],
        node_class=MediaTypeNode,
        api_key=settings.api_key,
        basic_auth=basic_auth,
        ca_certs=str(settings.ca_certs) if settings.ca_certs else None,
        request_timeout=settings.request_timeout_s,
        serializers=SERIALIZERS,
    )


def open_store(es_url: str | None = None, settings: StoreSettings | None = None) -> Store:
    """Open the store at `es_url` (or `settings.es_url`); with neither, start the embedded engine."""
    settings = settings or StoreSettings()
    url = es_url or settings.es_url
    embedded: OsmemServer | None = None
    if url is None:
        try:
            embedded = OsmemServer.start(japanese=False)
        except OsmemError as exc:
            raise StoreUnavailable(f"could not start the embedded engine: {exc}") from exc
        url = embedded.url
    try:
        probe = _client(url, MediaTypes.PLAIN_JSON, settings)
        try:
            server = ServerInfo.from_info(probe.info().body)
        finally:
            probe.close()
        client = _client(url, server.media_types, settings)
    except (TransportError, ApiError) as exc:
        if embedded is not None:
            embedded.close()
        raise StoreUnavailable(f"cannot reach the store at {url}: {exc}") from exc
    except BaseException:
        if embedded is not None:
            embedded.close()
        raise
    return Store(client, server, url, embedded)


def load_config_table(path: Path) -> dict[str, object]:
    """The `[store]` table of a TOML config file (empty when the file has none)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StoreConfigError(f"cannot read config file {path}: {exc.strerror}; fix {CONFIG_ENV}") from None
    except tomllib.TOMLDecodeError as exc:
        raise StoreConfigError(f"config file {path} is not valid TOML: {exc}") from None
    table = document.get("store", {})
    if not isinstance(table, dict):
        raise StoreConfigError(f"config file {path}: [store] must be a table")
    warn_if_readable_by_others(path, {"store": table})
    return table


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> StoreSettings:
    """Resolve the store settings: flags, then environment, then the config file's `[store]` table."""
    values: dict[str, object] = {}
    config_path = environ.get(CONFIG_ENV)
    if config_path:
        values.update(load_config_table(Path(config_path)))
    for flag, (env_name, field) in SETTING_SOURCES.items():
        flag_value = getattr(args, flag, None)
        if flag_value is not None:
            values[field] = flag_value
        elif environ.get(env_name):
            values[field] = environ[env_name]
    try:
        return StoreSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise StoreConfigError(f"store setting {where}: {first['msg']}") from None
