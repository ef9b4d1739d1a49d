"""Exit statuses and the errors that map to them."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


class BinmonError(Exception):
    """An expected failure: printed as one ``Error: …`` line, exit 1."""

    exit_status = ExitStatus.ERROR


class UsageProblem(BinmonError):
    """Wrong use of the command line that click itself cannot see: exit 2."""

    exit_status = ExitStatus.USAGE


class FatalConnectionError(BinmonError):
    """The exchange refused us for good (HTTP 451, 401/403, invalid URL)."""
