"""Store selection: which Elasticsearch-API server every command talks to, and how (the public face).

One place decides the store for `replay`, `collect`, `queries`, `alerts`, `stats` and `setup`, so two
commands pointed at one URL see the same data: `--es-url`, else `BOOTWATCH_ES_URL`, else the `[store]`
table of the TOML file named by `BOOTWATCH_CONFIG`; with none of them, an embedded osmem-server runs as a
child of the command and stops with it. Credentials: `--es-api-key`, `--es-user`/`--es-password`, a CA
bundle with `--es-ca` (each also from its `BOOTWATCH_ES_*` variable or the config table).

This module imports only the standard library, because every command's `add_arguments` calls
`add_store_arguments` while the CLI is built (and `bootwatch ship` on a secondary must not load the
central stack). The client, the media-type node class and the engine live in `parsers.store._client`,
loaded on first use; its public names are re-exported here.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parsers.store._client import (
        Capabilities,
        MediaTypeNode,
        MediaTypes,
        ServerInfo,
        Store,
        StoreSettings,
        load_config_table,
        rewrite_media_type,
        settings_from_args,
    )

__all__ = [
    "CONFIG_ENV",
    "SETTING_SOURCES",
    "URL_ENV",
    "Capabilities",
    "MediaTypeNode",
    "MediaTypes",
    "ServerInfo",
    "Store",
    "StoreSettings",
    "add_store_arguments",
    "connect",
    "connect_from_args",
    "load_config_table",
    "rewrite_media_type",
    "settings_from_args",
]

CONFIG_ENV = "BOOTWATCH_CONFIG"
URL_ENV = "BOOTWATCH_ES_URL"

# command-line attribute -> (environment variable, `StoreSettings` field); flags win over env
SETTING_SOURCES: dict[str, tuple[str, str]] = {
    "es_url": (URL_ENV, "es_url"),
    "es_api_key": ("BOOTWATCH_ES_API_KEY", "api_key"),
    "es_user": ("BOOTWATCH_ES_USER", "username"),
    "es_password": ("BOOTWATCH_ES_PASSWORD", "password"),
    "es_ca": ("BOOTWATCH_ES_CA", "ca_certs"),
}

_LAZY_NAMES = frozenset(
    {
        "Capabilities",
        "MediaTypeNode",
        "MediaTypes",
        "ServerInfo",
        "Store",
        "StoreSettings",
        "load_config_table",
        "rewrite_media_type",
        "settings_from_args",
    }
)


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """The store options every command shares (flags override env, env overrides the config file)."""
    group = parser.add_argument_group(
        "store",
        f"Elasticsearch selection (else env, else the [store] table of ${CONFIG_ENV}); none = embedded",
    )
    group.add_argument("--es-url", metavar="URL", help=f"Elasticsearch URL (env {URL_ENV})")
    group.add_argument(
        "--es-api-key", metavar="KEY", help="API key, base64 id:key (env BOOTWATCH_ES_API_KEY)"
    )
    group.add_argument("--es-user", metavar="USER", help="basic-auth user (env BOOTWATCH_ES_USER)")
    group.add_argument(
        "--es-password", metavar="PASSWORD", help="basic-auth password (env BOOTWATCH_ES_PASSWORD)"
    )
    group.add_argument("--es-ca", metavar="PEM", type=Path, help="CA bundle for TLS (env BOOTWATCH_ES_CA)")


def connect(es_url: str | None = None, settings: StoreSettings | None = None) -> Store:
    """Open the store at `es_url` (or `settings.es_url`); with neither, start the embedded engine.

    Detects the server with a plain `info()` and sets the media types it accepts. Raises
    `StoreConfigError` for settings the user must fix, `StoreUnavailable` when it cannot be reached."""
    from parsers.store._client import open_store

    return open_store(es_url, settings)


def connect_from_args(args: argparse.Namespace) -> Store:
    """`connect` with the settings the command's `add_store_arguments` options (or env, config) give."""
    from parsers.store._client import open_store, settings_from_args

    return open_store(None, settings_from_args(args))


def __getattr__(name: str) -> Any:
    # the heavy names load `parsers.store._client` (elasticsearch, osmem-server) on first access only
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module("parsers.store._client"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
