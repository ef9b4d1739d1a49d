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


class RestError(BinmonError):
    """A REST call failed: no answer, an HTTP error, or an answer binmon cannot read.

    ``status`` is the HTTP status (None when nothing was answered), ``code``
    Binance's error code when the body was ``{"code": N, "msg": …}``, and
    ``retry_after`` how long the server asked us to wait, already bounded
    (binmon.rest.MAX_RETRY_AFTER).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class RestRefused(RestError, FatalConnectionError):
    """HTTP 451, 401 or 403 on a REST call: asking again cannot help."""
