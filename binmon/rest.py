"""Public REST endpoints binmon seeds its state from (aiohttp)."""

from __future__ import annotations

import email.utils
import math
import time
from typing import Any

import aiohttp
import msgspec

from binmon.diag import printable
from binmon.errors import BinmonError, FatalConnectionError
from binmon.protocol import AssetIndex, number_text
from binmon.proxy import env_proxy

_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=10)


class RestError(BinmonError):
    """A REST call failed in a way worth retrying later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


# Longest wait a streaming command accepts from Retry-After: past that, a
# bogus header ("inf", "1e12") must not stall it for good.
MAX_STREAM_RETRY_AFTER = 3600.0


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


def fatal_http_status(status: int, what: str) -> FatalConnectionError | None:
    if status == 451:
        return FatalConnectionError(
            f"{what}: HTTP 451, Binance does not serve this location (restricted region)"
        )
    if status in (401, 403):
        return FatalConnectionError(f"{what}: HTTP {status}, access refused")
    return None


class RestClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def get(self, path: str) -> bytes:
        url = f"{self.base_url}{path}"
        try:
            proxy, proxy_auth = env_proxy(url)
            async with self.session.get(
                url, timeout=_TIMEOUT, proxy=proxy, proxy_auth=proxy_auth
            ) as response:
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RestError(f"GET {url}: {describe(exc)}") from None
        fatal = fatal_http_status(response.status, f"GET {url}")
        if fatal:
            raise fatal
        if response.status != 200:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
            if retry_after is not None:
                retry_after = min(retry_after, MAX_STREAM_RETRY_AFTER)
            detail = printable(body[:200].decode(errors="replace"))
            raise RestError(f"GET {url}: HTTP {response.status} {detail}", retry_after)
        return body

    async def exchange_info(self) -> dict[str, Any]:
        info = msgspec.json.decode(await self.get("/fapi/v1/exchangeInfo"))
        if not isinstance(info, dict):
            raise RestError("exchangeInfo: unexpected response")
        return info

    async def asset_index(self) -> list[AssetIndex]:
        body = await self.get("/fapi/v1/assetIndex")
        try:
            return asset_index_from_rest(body)
        except (msgspec.DecodeError, ValueError) as exc:
            raise RestError(f"assetIndex: unexpected response ({exc})") from None
