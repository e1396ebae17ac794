"""Errors that the CLI turns into a one-line message and exit code 2 (bad input)."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: an unknown name, a wrong config key, a missing file.

    The CLI prints ``str(error)`` on one line and exits with code 2; no traceback.
    """


class StudyFailed(Exception):
    """A study raised while running; the run goes on with the other studies (exit code 1)."""
