"""The one exception family a user can cause, each with the exit code it maps to."""

from __future__ import annotations

__all__ = ["HarnessError", "BadInput", "Undecided", "EXIT_PASS", "EXIT_VIOLATION", "EXIT_UNKNOWN", "EXIT_BAD_INPUT"]

EXIT_PASS = 0
EXIT_VIOLATION = 1
EXIT_UNKNOWN = 2
EXIT_BAD_INPUT = 3


class HarnessError(Exception):
    """An error the user should read as one line; never shown as a traceback."""

    exit_code = EXIT_UNKNOWN


class BadInput(HarnessError):
    """A scenario, option or run folder that cannot be used as given (exit 3)."""

    exit_code = EXIT_BAD_INPUT


class Undecided(HarnessError):
    """The run could not decide: target never ready, a fault did not land, a server died (exit 2)."""

    exit_code = EXIT_UNKNOWN
