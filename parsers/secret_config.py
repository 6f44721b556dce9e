"""Secrets in the central side's config files: warn when others can read them, read keys from env or file.

Every central loader (collector, alert runner, the store's `[store]` table) calls
`warn_if_readable_by_others` once it has parsed a file: a file that holds a secret (shared key,
password, API key, passphrase, an authorization header...) and is readable by its group or by
everyone gets one warning naming the file, the secret keys and the fix. Starting still goes on, because
a readable file is a risk, not a broken setup. On Windows the mode bits say nothing about the ACL, so
the check is skipped there.

`read_secret` resolves the `<key>_env` / `<key>_file` forms, so a secret can live in the environment
(a compose `.env`, a systemd `EnvironmentFile`) or in a secret file instead of the TOML file.
Both are the shipper's own (`shippers.secrets`), since the shipper imports nothing central.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shippers.secrets import secret_from_source, warn_if_exposed

log = logging.getLogger("bootwatch.config")

SECRET_KEY_NAMES = frozenset({"shared_key", "password", "api_key", "passphrase", "key_passphrase", "token"})
# Request headers are free-form: these words in a header's name mark its value as a credential.
_SECRET_HEADER_WORDS = ("auth", "token", "key", "secret", "cookie", "password")


class SecretSourceError(ValueError):
    """A `<key>_env` or `<key>_file` that gives no secret; the message names the key and the fix."""


def secret_keys(document: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the keys in a parsed TOML document that hold a non-empty secret."""
    found: list[str] = []
    for key, value in document.items():
        where = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if key == "headers":
                found += [f"{where}.{name}" for name, header in value.items()
                          if header and any(word in str(name).lower() for word in _SECRET_HEADER_WORDS)]
            else:
                found += secret_keys(value, f"{where}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    found += secret_keys(item, f"{where}[{index}].")
        elif key in SECRET_KEY_NAMES and value:  # an empty value is "no secret", e.g. shared_key = ""
            found.append(where)
    return found


def warn_if_readable_by_others(path: Path, document: Mapping[str, Any]) -> None:
    """Log one warning when `path` holds secrets and its group or everyone may read it (POSIX only)."""
    warn_if_exposed(path, secret_keys(document), runs_as="the service", log=log)


def read_secret(key: str, env_name: str | None, file_path: Path | None,
                environ: Mapping[str, str] = os.environ) -> str | None:
    """The secret `<key>_env` or `<key>_file` gives, None when neither is set; SecretSourceError if empty."""
    return secret_from_source(key, "key", env_name, file_path, error=SecretSourceError, runs_as="the service",
                              log=log, environ=environ)
