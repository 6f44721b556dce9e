"""Secrets beside a config file, for the shipper and the central side alike: a warning when a file
holding secrets is readable by others, and a secret read from an environment variable or a file.

One copy serves both: the central side imports shipper modules (as it does `shippers.framing`), the
shipper imports nothing central. Nothing here imports pydantic.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path


def warn_if_exposed(path: Path, keys: list[str], *, runs_as: str, log: logging.Logger) -> None:
    """Log one warning when `path` holds the secrets `keys` and its group or everyone may read it.

    `runs_as` names the program whose user should own the file ("the shipper"). POSIX only: on
    Windows the ACL decides who reads the file, and the mode bits do not show it.
    """
    if not keys or os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # it was just read; a file gone since then holds no secret worth a warning
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "%s holds secrets (%s) and is readable by %s: run `chmod 600 %s` (the file owned by the user "
            "%s runs as)",
            path, ", ".join(keys), "everyone" if mode & stat.S_IROTH else "its group", path, runs_as,
        )


def secret_from_source(name: str, what: str, env_name: str | None, file_path: Path | None, *,
                       error: type[Exception], runs_as: str, log: logging.Logger,
                       environ: Mapping[str, str] = os.environ) -> str | None:
    """The secret `<name>_env` (an environment variable) or `<name>_file` (a file) gives, None when
    neither is set. `what` names the secret in messages ("key", "password"); a variable not set, a
    file not readable or empty raises `error` saying how to fix it."""
    if env_name:
        value = environ.get(env_name, "")
        if not value:
            raise error(f"{name}_env names the environment variable {env_name}, which is not set or empty: "
                        f"set it, or point {name}_file at a file holding the {what}")
        return value
    if file_path is not None:
        try:
            value = file_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise error(f"{name}_file: cannot read {file_path} ({exc.strerror}): create it with the {what}, "
                        f"readable by this service's user only (chmod 600)") from None
        if not value:
            raise error(f"{name}_file: {file_path} is empty: write the {what} into it")
        warn_if_exposed(file_path, [f"{name}_file"], runs_as=runs_as, log=log)  # a key file is a secret too
        return value
    return None
