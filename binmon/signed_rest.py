"""Signed REST: ``GET /fapi/v1/leverageBracket`` and ``GET /fapi/v3/account``,
with the clock synced to the exchange.

The HTTP itself (timeout, retries, Retry-After, the words for every failure)
is binmon.rest's; this module adds what a signed call needs on top: the
credentials, the exchange's clock, and a fresh signature per attempt.

The API secret lives only inside :class:`Credentials` and is used only to
compute a signature: it never reaches a URL, a header, a log line, an
exception or a repr.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Final
from urllib.parse import urlencode

import aiohttp
import msgspec

from binmon.account import Account, decode_account
from binmon.diag import Diagnostics, printable
from binmon.errors import BinmonError, RestError, UsageProblem
from binmon.leverage import SymbolBrackets, decode_rest
from binmon.rest import (
    BAD_SYMBOL,
    KEY_ENV,
    SECRET_ENV,
    TIMESTAMP_OUTSIDE_WINDOW,
    RestClient,
    retry_after_seconds,
)
from binmon.signing import sign

__all__ = [
    "KEY_ENV",
    "SECRET_ENV",
    "Credentials",
    "SignedClient",
    "credentials_from_env",
    "retry_after_seconds",
]

LEVERAGE_BRACKET_PATH: Final = "/fapi/v1/leverageBracket"
ACCOUNT_PATH: Final = "/fapi/v3/account"
TIME_PATH: Final = "/fapi/v1/time"
DEFAULT_RECV_WINDOW: Final = 5000
DEFAULT_MAX_TRIES: Final = 3
# A Retry-After longer than this is reported instead of waited out: a
# one-off command that hangs for minutes looks broken.
PATIENCE: Final = 60.0


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


_TIME: Final = msgspec.json.Decoder(_ServerTime)


class SignedClient:
    """Signed GETs against the exchange (``brackets``, ``--account``, and any signed endpoint).

    Use as ``async with SignedClient(...) as client``. ``clock`` and ``sleep``
    are injectable so tests neither wait nor depend on the wall clock.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        recv_window: int = DEFAULT_RECV_WINDOW,
        max_tries: int = DEFAULT_MAX_TRIES,
        diag: Diagnostics | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._base_url = base_url
        self._credentials = credentials
        self.recv_window = recv_window
        self._max_tries = max_tries
        self._diag = diag
        self._clock = clock
        self._sleep = sleep
        self._session = session
        self._owns_session = session is None
        self._rest: RestClient | None = None
        # Exchange time minus local time, in ms; None until the first sync.
        self.offset_ms: int | None = None

    def __repr__(self) -> str:
        return f"SignedClient({self._base_url!r}, {self._credentials!r})"

    async def __aenter__(self) -> SignedClient:
        if self._session is None:
            # Proxies (HTTPS_PROXY/HTTP_PROXY/NO_PROXY) are chosen per request by
            # binmon.proxy. TLS certificates are always verified (aiohttp's
            # default, never overridden).
            self._session = aiohttp.ClientSession()
        self._rest = RestClient(
            self._session,
            self._base_url,
            tries=self._max_tries,
            patience=PATIENCE,
            diag=self._diag,
            clock=self._clock,
            sleep=self._sleep,
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

    @property
    def rest(self) -> RestClient:
        assert self._rest is not None, "use `async with SignedClient(...)`"
        return self._rest

    def _debug(self, message: str) -> None:
        if self._diag is not None:
            self._diag.debug(message)

    # --- endpoints -----------------------------------------------------------

    async def sync_clock(self) -> int:
        """Measure the exchange clock's offset from ours; returns it in ms."""
        before = self._clock()
        body = await self.rest.get(TIME_PATH)
        after = self._clock()
        try:
            server = _TIME.decode(body).serverTime
        except msgspec.DecodeError:
            raise self.rest.unexpected(TIME_PATH, "not a server time") from None
        # The server read its clock somewhere during the round trip: assume the middle.
        self.offset_ms = server - int((before + after) / 2 * 1000)
        self._debug(f"exchange clock is {self.offset_ms:+d} ms from ours")
        return self.offset_ms

    async def leverage_brackets(self, symbol: str | None = None) -> list[SymbolBrackets]:
        """Brackets of one symbol, or of every symbol when ``symbol`` is None."""
        params = {} if symbol is None else {"symbol": symbol}
        try:
            body = await self.signed_get(LEVERAGE_BRACKET_PATH, params)
        except RestError as exc:
            if exc.code == BAD_SYMBOL and symbol is not None:
                raise BinmonError(f"unknown symbol {printable(symbol)} ({exc})") from None
            raise
        try:
            return decode_rest(body)
        except ValueError as exc:
            raise self.rest.unexpected(LEVERAGE_BRACKET_PATH, exc) from None

    async def account(self) -> Account:
        """Margin balances and positions of the key's USD-M futures account."""
        body = await self.signed_get(ACCOUNT_PATH)
        try:
            return decode_account(body)
        except ValueError as exc:
            raise self.rest.unexpected(ACCOUNT_PATH, exc) from None

    async def signed_get(self, path: str, params: Mapping[str, str | int] | None = None) -> bytes:
        """A signed GET of any endpoint; resyncs the clock and retries once on -1021."""
        if self.offset_ms is None:
            await self.sync_clock()
        headers = {"X-MBX-APIKEY": self._credentials.api_key}
        try:
            return await self.rest.get(path, lambda: self._signed(params or {}), headers)
        except RestError as exc:
            if exc.code != TIMESTAMP_OUTSIDE_WINDOW:
                raise
        self._debug("timestamp outside recvWindow (-1021): resyncing the clock")
        await self.sync_clock()
        try:
            return await self.rest.get(path, lambda: self._signed(params or {}), headers)
        except RestError as exc:
            if exc.code != TIMESTAMP_OUTSIDE_WINDOW:
                raise
            raise RestError(
                f"{exc}, even after resyncing the clock",
                status=exc.status,
                code=exc.code,
            ) from None

    def _signed(self, params: Mapping[str, str | int]) -> str:
        # Built per attempt: after waiting out a Retry-After, an earlier
        # timestamp would be outside recvWindow.
        assert self.offset_ms is not None
        query = urlencode(
            {
                **params,
                "recvWindow": self.recv_window,
                "timestamp": int(self._clock() * 1000) + self.offset_ms,
            }
        )
        return f"{query}&signature={self._credentials.sign(query)}"
