"""The closed sets of values the schema, the rules and the stores share, without pydantic.

Kept apart from `parsers.schema` so the parse path (formats, rules, `bootwatch parse`) can name them
without building every pydantic model at start-up.
"""

from __future__ import annotations

from typing import Literal

LogFormat = Literal["sms_legacy", "cmtrace", "smssetup", "smsprov", "plain"]
LogLevel = Literal["info", "warning", "error"]
LifecycleAction = Literal[
    "install.started", "install.progress", "install.failed", "install.succeeded", "bootstrap.stopped"
]
AttemptState = Literal["in_progress", "succeeded", "failed_unreported", "stalled", "dark"]
