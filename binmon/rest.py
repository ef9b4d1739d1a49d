"""One HTTP layer for Binance REST, public and signed calls alike (aiohttp).

Every REST call goes through :meth:`RestClient.get`, so there is one timeout,
one Retry-After policy and one translation of failures (no answer,
451/401/403/418/429, Binance's ``{"code": N, "msg": …}`` bodies) into the
:class:`~binmon.errors.RestError` family. Signing happens elsewhere
(binmon.signed_rest): a signed call hands ``get`` a query builder, run once
per attempt so that every retry carries a fresh timestamp.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
import msgspec
from yarl import URL

from binmon.diag import Diagnostics, printable
from binmon.errors import FatalConnectionError, RestError, RestRefused
from binmon.protocol import AssetIndex, number_text
from binmon.proxy import env_proxy

# One timeout for every REST call: exchangeInfo is a few hundred KB, which a
# slow link needs some seconds for; a dead host is found out by `connect`.
TIMEOUT_SECONDS: Final = 20.0
_TIMEOUT: Final = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS, connect=10)

# Longest Retry-After believed: past that, a bogus header ("inf", "1e12")
# must not stall binmon for good.
MAX_RETRY_AFTER: Final = 3600.0

# The exchange asks us to come back later: the only answers a bounded
# retry (a one-off command) tries again.
TRANSIENT: Final = frozenset({429, 502, 503, 504})

KEY_ENV: Final = "BINANCE_API_KEY"
SECRET_ENV: Final = "BINANCE_API_SECRET"

# Binance error codes (EXCHANGE.md).
TIMESTAMP_OUTSIDE_WINDOW: Final = -1021
BAD_SIGNATURE: Final = -1022
BAD_SYMBOL: Final = -1121
BAD_KEY_FORMAT: Final = -2014
BAD_KEY_OR_PERMISSIONS: Final = -2015


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds (fractions allowed) or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def bounded_retry_after(value: str | None, now: float) -> float | None:
    """The wait ``Retry-After`` asks for, as binmon will honour it (at most an hour)."""
    seconds = retry_after_seconds(value, now)
    return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def retry_delay(exc: RestError, backoff: float) -> float:
    """How long to wait before trying again: our backoff, or longer if the server says so."""
    return max(backoff, exc.retry_after or 0.0)


def describe(exc: object) -> str:
    """A network error in words, printable (its text may come from the network)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        reason = exc.os_error.strerror or exc.os_error
        return printable(f"cannot resolve host {exc.host} (DNS: {reason})", limit=160)
    if isinstance(exc, aiohttp.ClientConnectorError):
        # aiohttp's own wording says "ssl:default" even for ws:// and http:// URLs.
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            reason = "connection refused"
        else:
            reason = os_error.strerror or str(os_error)
        return printable(f"cannot connect to {exc.host}:{exc.port} ({reason})", limit=160)
    text = str(exc) or type(exc).__name__
    return printable(text, limit=160)


def refusal(status: int, subject: str) -> str | None:
    """The words for an HTTP status that refuses us for good (REST and WebSocket alike)."""
    if status == 451:
        return f"{subject}: HTTP 451, restricted location (Binance does not serve this location)"
    if status in (401, 403):
        return f"{subject}: HTTP {status}, access refused"
    return None


def fatal_http_status(status: int, what: str) -> FatalConnectionError | None:
    words = refusal(status, what)
    return None if words is None else FatalConnectionError(words)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class _ErrorBody(msgspec.Struct):
    code: int
    msg: str = ""


_ERROR: Final = msgspec.json.Decoder(_ErrorBody)


def http_failure(
    host: str, path: str, status: int, body: bytes, retry_after: str | None, now: float
) -> RestError:
    """An answer other than 200, in words, as the error binmon raises for it."""
    wait = retry_after_seconds(retry_after, now)
    bounded = None if wait is None else min(wait, MAX_RETRY_AFTER)
    try:
        error: _ErrorBody | None = _ERROR.decode(body)
    except msgspec.DecodeError:
        error = None
    code = None if error is None else error.code
    kind = RestRefused if status in (401, 403, 451) else RestError

    def failure(message: str) -> RestError:
        return kind(message, status=status, code=code, retry_after=bounded)

    if status == 451:
        return failure(refusal(status, host) or "")
    if status == 418:
        until = "" if wait is None else f" until {_utc(now + wait)}"
        return failure(
            f"this IP address is banned by {host}{until} (HTTP 418) "
            f"for ignoring rate limits; wait before trying again"
        )
    if status == 429:
        later = "" if bounded is None else f"; retry after {bounded:g} s"
        return failure(f"rate limited by {host} (HTTP 429){later}")
    if error is None:
        words = refusal(status, host)
        if words is not None:
            return failure(words)
        detail = printable(body[:200].decode(errors="replace"), limit=200).strip()
        return failure(f"{host}{path} answered HTTP {status}{': ' + detail if detail else ''}")
    said = f"{printable(error.msg, limit=200)} (code {error.code})"
    if error.code in (BAD_KEY_FORMAT, BAD_KEY_OR_PERMISSIONS):
        return failure(
            f"API key rejected by {host}: {said}; check {KEY_ENV}, that the key may read "
            f"futures account data, and that its IP allow-list includes this machine"
        )
    if error.code == TIMESTAMP_OUTSIDE_WINDOW:
        return failure(f"{host} rejected the request time: {said}")
    if error.code == BAD_SIGNATURE:
        return failure(
            f"signature rejected by {host}: {said}; check that {SECRET_ENV} belongs to {KEY_ENV}"
        )
    return failure(f"{host}{path} answered HTTP {status}: {said}")


def network_failure(host: str, exc: BaseException) -> RestError:
    """No answer at all, in words: what a user can check (DNS, TLS, a refusal, a timeout)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return RestError(
            f"TLS certificate of {host} could not be verified: {printable(exc.certificate_error)}"
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return RestError(f"TLS failure talking to {host}: {printable(exc)}")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        reason = f"cannot resolve the host name (DNS: {exc.os_error.strerror or exc.os_error})"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            reason = "connection refused"
        else:
            reason = os_error.strerror or str(os_error)
    elif isinstance(exc, TimeoutError):
        reason = f"no answer within {TIMEOUT_SECONDS:g} s"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    return RestError(f"cannot reach {host}: {printable(reason, limit=160)}")


class RestClient:
    """GETs against one REST base URL, with bounded retries of transient answers.

    ``tries`` is how many attempts one call may make: a one-off command
    retries 429/502/503/504 itself, waiting at most ``patience`` seconds
    each time (a longer Retry-After is reported instead: a command that
    hangs for minutes looks broken); a streaming command passes 1 and
    retries in its own loop while the streams run. ``clock`` and ``sleep``
    are injectable so tests neither wait nor depend on the wall clock.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        tries: int = 1,
        patience: float = MAX_RETRY_AFTER,
        diag: Diagnostics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self._base = URL(self.base_url)
        port = self._base.explicit_port
        self.host = f"{self._base.host or self.base_url}{'' if port is None else f':{port}'}"
        self._tries = max(1, tries)
        self._patience = patience
        self._diag = diag
        self._clock = clock
        self._sleep = sleep

    def _debug(self, message: str) -> None:
        if self._diag is not None:
            self._diag.debug(message)

    async def get(
        self,
        path: str,
        query: Callable[[], str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """The body of a 200 answer to ``GET path?query()``, or a :class:`RestError`."""
        for attempt in range(1, self._tries + 1):
            try:
                return await self._once(path, "" if query is None else query(), headers)
            except RestError as exc:
                if exc.status not in TRANSIENT or attempt == self._tries:
                    raise
                delay = retry_delay(exc, 0.5 * 2 ** (attempt - 1))
                if delay > self._patience:
                    raise
                self._debug(f"HTTP {exc.status}: retrying in {delay:g} s")
                await self._sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _once(self, path: str, query: str, headers: Mapping[str, str] | None) -> bytes:
        # Only what precedes a signature is shown: the rest is noise in a log.
        shown = query.partition("&signature=")[0]
        self._debug(f"GET {self._base}{path}{'?' + shown if shown else ''}")
        # encoded=True: the bytes signed must be the bytes sent, so yarl and
        # aiohttp must not re-quote the query string.
        text = f"{self._base}{path}"
        try:
            url = URL(f"{text}?{query}" if query else text, encoded=True)
        except ValueError:
            raise FatalConnectionError(f"invalid REST URL {self.base_url!r}") from None
        try:
            proxy, proxy_auth = env_proxy(url)
            async with self.session.get(
                url,
                headers=headers,
                timeout=_TIMEOUT,
                # An API key header must not follow a redirect to another host.
                allow_redirects=not headers,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                body = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except aiohttp.InvalidURL:
            raise FatalConnectionError(f"invalid REST URL {self.base_url!r}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise network_failure(self.host, exc) from None
        self._debug(f"HTTP {status} ({len(body)} bytes)")
        if status != 200:
            raise http_failure(self.host, path, status, body, retry_after, self._clock())
        return body

    def unexpected(self, path: str, why: object) -> RestError:
        """A 200 answer binmon cannot read (the exchange changed, or it is not the exchange)."""
        return RestError(f"unexpected answer from {self.host}{path}: {printable(why, limit=200)}")

    # --- public endpoints -------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        path = "/fapi/v1/exchangeInfo"
        try:
            info = msgspec.json.decode(await self.get(path))
        except msgspec.DecodeError as exc:
            raise self.unexpected(path, exc) from None
        if not isinstance(info, dict):
            raise self.unexpected(path, "not a JSON object")
        return info

    async def asset_index(self) -> list[AssetIndex]:
        path = "/fapi/v1/assetIndex"
        body = await self.get(path)
        try:
            return asset_index_from_rest(body)
        except (msgspec.DecodeError, ValueError) as exc:
            raise self.unexpected(path, exc) from None


class _AssetIndexRest(msgspec.Struct):
    symbol: str
    time: int
    index: str
    bidBuffer: str
    askBuffer: str
    bidRate: str
    askRate: str
    autoExchangeBidBuffer: str
    autoExchangeAskBuffer: str
    autoExchangeBidRate: str
    autoExchangeAskRate: str


_ASSET_INDEX_REST = msgspec.json.Decoder(list[_AssetIndexRest] | _AssetIndexRest)


def asset_index_from_rest(body: bytes) -> list[AssetIndex]:
    """``GET /fapi/v1/assetIndex`` in the stream's event shape; bad entries raise."""
    decoded = _ASSET_INDEX_REST.decode(body)
    items = decoded if isinstance(decoded, list) else [decoded]
    events = []
    for r in items:
        values = [
            r.index,
            r.bidBuffer,
            r.askBuffer,
            r.bidRate,
            r.askRate,
            r.autoExchangeBidBuffer,
            r.autoExchangeAskBuffer,
            r.autoExchangeBidRate,
            r.autoExchangeAskRate,
        ]
        for v in values:
            number_text(v)
        events.append(AssetIndex(r.symbol, r.time, *values))
    return events
