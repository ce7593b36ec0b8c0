"""karl's known errors: the CLI prints their message and exits non-zero (`--debug` for the
traceback). Anything else reaching the CLI is a bug."""

from __future__ import annotations


class KarlError(Exception):
    """A failure the user can act on; its message says what to do."""

    exit_code = 1


class UsageError(KarlError):
    """An invalid flag or flag combination."""

    exit_code = 2
