"""Signed REST: ``GET /fapi/v1/leverageBracket`` and ``GET /fapi/v3/account``,
with the clock synced to the exchange.

Every failure the exchange or the network can produce becomes a
:class:`~binmon.errors.BinmonError` with a one-line, human message.

The API secret lives only inside :class:`Credentials` and is used only to
compute a signature: it never reaches a URL, a header, a log line, an
exception or a repr.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Final
from urllib.parse import urlencode

import aiohttp
import msgspec
from yarl import URL

from binmon.account import Account, decode_account
from binmon.diag import Diagnostics, printable
from binmon.errors import BinmonError, FatalConnectionError, UsageProblem
from binmon.leverage import SymbolBrackets, decode_rest
from binmon.proxy import env_proxy
from binmon.rest import retry_after_seconds
from binmon.signing import sign

KEY_ENV: Final = "BINANCE_API_KEY"
SECRET_ENV: Final = "BINANCE_API_SECRET"

LEVERAGE_BRACKET_PATH: Final = "/fapi/v1/leverageBracket"
ACCOUNT_PATH: Final = "/fapi/v3/account"
TIME_PATH: Final = "/fapi/v1/time"
DEFAULT_RECV_WINDOW: Final = 5000
DEFAULT_TIMEOUT: Final = 15.0
DEFAULT_MAX_TRIES: Final = 3
# A Retry-After longer than this is reported instead of waited out: a
# one-off command that hangs for minutes looks broken.
MAX_RETRY_AFTER: Final = 60.0

# Binance error codes (BINANCE.md).
TIMESTAMP_OUTSIDE_WINDOW: Final = -1021
BAD_SIGNATURE: Final = -1022
BAD_SYMBOL: Final = -1121
BAD_KEY_FORMAT: Final = -2014
BAD_KEY_OR_PERMISSIONS: Final = -2015


class Credentials:
    """An API key and secret. Neither ``repr`` nor ``str`` shows the secret."""

    __slots__ = ("_secret", "api_key")

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self._secret = secret

    def sign(self, query: str) -> str:
        return sign(query, self._secret)

    def __repr__(self) -> str:
        # Even the key is only hinted at: logs and bug reports get pasted around.
        return f"Credentials(api_key={self.api_key[:4]!r}…, secret=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("Credentials cannot be pickled")


def credentials_from_env(environ: Mapping[str, str] | None = None) -> Credentials:
    """Credentials from the environment, or :class:`UsageProblem` naming what is missing."""
    environ = os.environ if environ is None else environ
    key = environ.get(KEY_ENV, "").strip()
    secret = environ.get(SECRET_ENV, "").strip()
    missing = [name for name, value in ((KEY_ENV, key), (SECRET_ENV, secret)) if not value]
    if missing:
        raise UsageProblem(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
            f"set {KEY_ENV} and {SECRET_ENV} to an API key and secret that may read "
            f"USD-M futures account data, or use --from FILE to read brackets from a "
            f"recording or `binmon contracts --json` output"
        )
    return Credentials(key, secret)


class _ServerTime(msgspec.Struct):
    serverTime: int


class _ErrorBody(msgspec.Struct):
    code: int
    msg: str = ""


_TIME: Final = msgspec.json.Decoder(_ServerTime)
_ERROR: Final = msgspec.json.Decoder(_ErrorBody)


class ExchangeError(BinmonError):
    """The exchange answered ``{"code": N, "msg": "…"}``; ``code`` is kept for callers."""

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class SignedClient:
    """A small signed client for the endpoints ``brackets`` and ``--account`` need.

    Use as ``async with SignedClient(...) as client``. ``clock`` and ``sleep``
    are injectable so tests neither wait nor depend on the wall clock.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        recv_window: int = DEFAULT_RECV_WINDOW,
        timeout: float = DEFAULT_TIMEOUT,
        max_tries: int = DEFAULT_MAX_TRIES,
        diag: Diagnostics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._base = URL(base_url.rstrip("/"))
        port = self._base.explicit_port
        self.host = f"{self._base.host or base_url}{'' if port is None else f':{port}'}"
        self._credentials = credentials
        self.recv_window = recv_window
        self._timeout = timeout
        self._max_tries = max(1, max_tries)
        self._diag = diag
        self._clock = clock
        self._sleep = sleep
        self._session = session
        self._owns_session = session is None
        # Exchange time minus local time, in ms; None until the first sync.
        self.offset_ms: int | None = None

    def __repr__(self) -> str:
        return f"SignedClient({str(self._base)!r}, {self._credentials!r})"

    async def __aenter__(self) -> SignedClient:
        if self._session is None:
            # Proxies (HTTPS_PROXY/HTTP_PROXY/NO_PROXY) are chosen per request by
            # binmon.proxy. TLS certificates are always verified (aiohttp's
            # default, never overridden).
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _debug(self, message: str) -> None:
        if self._diag is not None:
            self._diag.debug(message)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # --- endpoints -----------------------------------------------------------

    async def sync_clock(self) -> int:
        """Measure the exchange clock's offset from ours; returns it in ms."""
        before = self._clock()
        body = await self._get(TIME_PATH, lambda: "")
        after = self._clock()
        try:
            server = _TIME.decode(body).serverTime
        except msgspec.DecodeError:
            raise BinmonError(
                f"unexpected answer from {self.host}{TIME_PATH}: not a server time"
            ) from None
        # The server read its clock somewhere during the round trip: assume the middle.
        self.offset_ms = server - int((before + after) / 2 * 1000)
        self._debug(f"exchange clock is {self.offset_ms:+d} ms from ours")
        return self.offset_ms

    async def leverage_brackets(self, symbol: str | None = None) -> list[SymbolBrackets]:
        """Brackets of one symbol, or of every symbol when ``symbol`` is None."""
        params: dict[str, str | int] = {} if symbol is None else {"symbol": symbol}
        try:
            body = await self.signed_get(LEVERAGE_BRACKET_PATH, params)
        except ExchangeError as exc:
            if exc.code == BAD_SYMBOL and symbol is not None:
                raise BinmonError(f"unknown symbol {printable(symbol)} ({exc})") from None
            raise
        try:
            return decode_rest(body)
        except ValueError as exc:
            raise BinmonError(
                f"unexpected answer from {self.host}{LEVERAGE_BRACKET_PATH}: {printable(exc)}"
            ) from None

    async def account(self) -> Account:
        """Margin balances and positions of the key's USD-M futures account."""
        body = await self.signed_get(ACCOUNT_PATH, {})
        try:
            return decode_account(body)
        except ValueError as exc:
            raise BinmonError(
                f"unexpected answer from {self.host}{ACCOUNT_PATH}: {printable(exc)}"
            ) from None

    async def signed_get(self, path: str, params: Mapping[str, str | int]) -> bytes:
        """A signed GET; resyncs the clock and retries once on -1021."""
        if self.offset_ms is None:
            await self.sync_clock()
        resynced = False
        while True:
            try:
                return await self._get(path, lambda: self._signed(params), signed=True)
            except ExchangeError as exc:
                if exc.code != TIMESTAMP_OUTSIDE_WINDOW or resynced:
                    raise
                self._debug("timestamp outside recvWindow (-1021): resyncing the clock")
                resynced = True
                await self.sync_clock()

    def _signed(self, params: Mapping[str, str | int]) -> str:
        assert self.offset_ms is not None
        query = urlencode(
            {
                **params,
                "recvWindow": self.recv_window,
                "timestamp": self._now_ms() + self.offset_ms,
            }
        )
        return f"{query}&signature={self._credentials.sign(query)}"

    # --- transport -----------------------------------------------------------

    def _url(self, path: str, query: str) -> URL:
        # encoded=True: the bytes signed must be the bytes sent, so yarl and
        # aiohttp must not re-quote the query string.
        text = f"{self._base}{path}"
        return URL(f"{text}?{query}" if query else text, encoded=True)

    async def _get(
        self, path: str, make_query: Callable[[], str], *, signed: bool = False
    ) -> bytes:
        """GET with bounded retries on 429/5xx; ``make_query`` runs per attempt.

        A signed query is rebuilt for each attempt: after waiting out a
        Retry-After, the first timestamp would be outside recvWindow.
        """
        assert self._session is not None, "use `async with SignedClient(...)`"
        headers = {"X-MBX-APIKEY": self._credentials.api_key} if signed else {}
        for attempt in range(1, self._max_tries + 1):
            query = make_query()
            shown = query.partition("&signature=")[0]
            self._debug(f"GET {self._base}{path}{'?' + shown if shown else ''}")
            try:
                # No redirects: the API key header must not follow them to another host.
                url = self._url(path, query)
                proxy, proxy_auth = env_proxy(url)
                async with self._session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    proxy=proxy,
                    proxy_auth=proxy_auth,
                ) as response:
                    body = await response.read()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except aiohttp.ClientConnectorCertificateError as exc:
                raise BinmonError(
                    f"TLS certificate of {self.host} could not be verified: "
                    f"{printable(exc.certificate_error)}"
                ) from None
            except aiohttp.ClientSSLError as exc:
                raise BinmonError(f"TLS failure talking to {self.host}: {printable(exc)}") from None
            except aiohttp.ClientConnectorError as exc:
                reason = (
                    "connection refused"
                    if isinstance(exc.os_error, ConnectionRefusedError)
                    else exc.os_error.strerror or str(exc)
                )
                raise BinmonError(f"cannot reach {self.host}: {printable(reason)}") from None
            except aiohttp.InvalidURL:
                raise FatalConnectionError(f"invalid REST URL {str(self._base)!r}") from None
            except TimeoutError:
                raise BinmonError(
                    f"cannot reach {self.host}: no answer within {self._timeout:g} s"
                ) from None
            except aiohttp.ClientError as exc:
                raise BinmonError(
                    f"cannot reach {self.host}: {printable(type(exc).__name__)}"
                    f"{': ' + printable(exc) if str(exc) else ''}"
                ) from None
            self._debug(f"HTTP {status} ({len(body)} bytes)")
            if status == 200:
                return body
            wait = retry_after_seconds(retry_after, self._clock())
            retryable = status == 429 or status in (502, 503, 504)
            if retryable and attempt < self._max_tries:
                delay = wait if wait is not None else 0.5 * 2 ** (attempt - 1)
                if delay <= MAX_RETRY_AFTER:
                    self._debug(f"HTTP {status}: retrying in {delay:g} s")
                    await self._sleep(delay)
                    continue
            raise self._failure(path, status, body, wait)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _failure(self, path: str, status: int, body: bytes, wait: float | None) -> BinmonError:
        where = f"{self.host}{path}"
        if status == 451:
            return FatalConnectionError(
                f"{self.host} refuses service from this location (HTTP 451, restricted location)"
            )
        if status == 418:
            until = "" if wait is None else f" until {_utc(self._clock() + wait)}"
            return BinmonError(
                f"this IP address is banned by {self.host}{until} (HTTP 418) "
                f"for ignoring rate limits; wait before trying again"
            )
        if status == 429:
            later = "" if wait is None else f"; retry after {wait:g} s"
            return BinmonError(f"rate limited by {self.host} (HTTP 429){later}")
        try:
            error = _ERROR.decode(body)
        except msgspec.DecodeError:
            return ExchangeError(f"HTTP {status} from {where}", status=status)
        msg = printable(error.msg, limit=200)
        said = f"{msg} (code {error.code})"
        if error.code in (BAD_KEY_FORMAT, BAD_KEY_OR_PERMISSIONS):
            advice = (
                f"check {KEY_ENV}, that the key may read futures account data, "
                f"and that its IP allow-list includes this machine"
            )
            return ExchangeError(
                f"API key rejected by {self.host}: {said}; {advice}", error.code, status
            )
        if error.code == BAD_SIGNATURE:
            return ExchangeError(
                f"signature rejected by {self.host}: {said}; check that {SECRET_ENV} "
                f"belongs to {KEY_ENV}",
                error.code,
                status,
            )
        if error.code == TIMESTAMP_OUTSIDE_WINDOW:
            return ExchangeError(
                f"{self.host} rejected the request time even after resyncing the clock: {said}",
                error.code,
                status,
            )
        return ExchangeError(f"{where} answered HTTP {status}: {said}", error.code, status)
