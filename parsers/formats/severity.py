"""Severity inference for the families that write no severity field (legacy, setup, provider, plain).

Rules (LOG_FORMATS.md section 1): an explicit prefix the component wrote wins (`ERROR -`,
`WARNING -`, `Err>`, `Warn>:`, `#$#$#$#$#$ ERROR:`); otherwise text containing `error` or `fail`
(but not `failover`) is an error, `warn` a warning, anything else info.
"""

from __future__ import annotations

import re

# ERROR - Setup failed, Win32 error = 5          -> error
# WARNING - Failed to connect, retrying          -> warning (the prefix wins over "Failed")
# ~#$#$#$#$#$ ERROR: Bootstrap could not start   -> error
# Warn>: low disk space                          -> warning
_EXPLICIT_PREFIX = re.compile(
    r"[\s~#$*]*(?:(?P<error>(?i:error)\s*[-:]|Err>)|(?P<warning>(?i:warning)\s*[-:]|Warn>))"
)


def infer_level(message: str) -> str:
    """`error`, `warning` or `info` for a message that carries no severity field."""
    # Substring tests on the lower-cased text first: most messages are plain info and cost no regex.
    lowered = message.lower()
    has_error = "err" in lowered and ("error" in lowered or "err>" in lowered)
    # "failover" is routine (a sender switching address), not a failure.
    if not has_error and "fail" in lowered:
        has_error = "fail" in lowered.replace("failover", "")
    has_warning = "warn" in lowered
    if not has_error and not has_warning:
        return "info"
    prefix = _EXPLICIT_PREFIX.match(message)
    if prefix is not None:
        return "error" if prefix.group("error") is not None else "warning"
    return "error" if has_error else "warning"
