"""The one exception type for user mistakes: printed as one line, exit code 2, never a traceback."""


class UserError(Exception):
    """A mistake the user can fix (a missing file, a bad config key); the message says what and how."""

    exit_code = 2
