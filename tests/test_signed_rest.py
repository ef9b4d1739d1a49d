"""Signed REST client and ``binmon brackets`` against a local fake exchange.

The fake checks what the real one checks (signature over the exact query
string, API key header, timestamp inside recvWindow against its own clock)
and can be told to answer with errors. No network mocks: real HTTP on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from binmon.cli import main
from binmon.errors import BinmonError, FatalConnectionError, RestError, UsageProblem
from binmon.signed_rest import (
    Credentials,
    SignedClient,
    credentials_from_env,
    retry_after_seconds,
)
from binmon.signing import sign, signed_query, verify

REPO = Path(__file__).resolve().parent.parent
KEY = "FakeApiKey0123456789"
# Distinctive, so that a leak anywhere is unmistakable.
SECRET = "s3cr3t-9f2c7e1d-never-print-me-b04a"

# Exact number text matters: 0.0050 and 300.0 must come back unchanged.
BTC = (
    '{"symbol":"BTCUSDT","brackets":['
    '{"bracket":1,"initialLeverage":150,"notionalCap":300000,"notionalFloor":0,'
    '"maintMarginRatio":0.004,"cum":0},'
    '{"bracket":2,"initialLeverage":100,"notionalCap":800000,"notionalFloor":300000,'
    '"maintMarginRatio":0.0050,"cum":300.0}]}'
)
ETH = (
    '{"symbol":"ETHUSDT","notionalCoef":1.0,"brackets":['
    '{"bracket":1,"initialLeverage":"125","notionalCap":"50000","notionalFloor":"0",'
    '"maintMarginRatio":"0.004","cum":"0.0"}]}'
)
SYMBOLS = {"BTCUSDT": BTC, "ETHUSDT": ETH}
ACCOUNT = (
    '{"totalMarginBalance":"1234.50000000","assets":['
    '{"asset":"USDT","walletBalance":"-120.5","unrealizedProfit":"0.25",'
    '"marginBalance":"-120.25000000"},'
    '{"asset":"BNB","walletBalance":"0","unrealizedProfit":"0","marginBalance":"0.00000000"},'
    '{"asset":"BTC","walletBalance":"0.02","unrealizedProfit":"0","marginBalance":"0.02000000"}],'
    '"positions":[{"symbol":"BTCUSDT","positionAmt":"-0.5","notional":"-32000.10"},'
    '{"symbol":"ETHUSDT","positionAmt":"0","notional":"0"}]}'
)


def _error(status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


@dataclass
class SignedExchange:
    """Enough of fapi.binance.com for signed ``leverageBracket`` calls."""

    key: str = KEY
    secret: str = SECRET
    offset_ms: int = 0
    # Added to offset_ms right after the first /fapi/v1/time answer, to make
    # the client's freshly measured offset wrong.
    jump_after_first_time_ms: int | None = None
    forced: list[web.Response] = field(default_factory=list)
    # stall: hold every leverageBracket request until release(); arrived is
    # set when one is being held, so a test can act at exactly that moment.
    stall: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    _release: asyncio.Event | None = None
    time_calls: int = 0
    bracket_calls: int = 0
    queries: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # Successive /fapi/v3/account answers; the last one stays.
    accounts: list[str] = field(default_factory=lambda: [ACCOUNT])
    # Which account reads (counting from 1) fail with an exchange error.
    failing_accounts: set[int] = field(default_factory=set)
    account_calls: int = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/fapi/v1/time", self.time)
        app.router.add_get("/fapi/v1/leverageBracket", self.leverage_bracket)
        app.router.add_get("/fapi/v3/account", self.account)
        return app

    def release(self) -> None:
        """Let stalled requests finish (call on the server's loop)."""
        self.stall = False
        if self._release is not None:
            self._release.set()

    async def time(self, request: web.Request) -> web.Response:
        self.time_calls += 1
        response = web.json_response({"serverTime": self.now_ms()})
        if self.time_calls == 1 and self.jump_after_first_time_ms is not None:
            self.offset_ms += self.jump_after_first_time_ms
        return response

    async def leverage_bracket(self, request: web.Request) -> web.Response:
        self.bracket_calls += 1
        # The raw query: what was signed must be what arrived, byte for byte.
        raw = request.raw_path.partition("?")[2]
        self.queries.append(raw)
        self.headers.append(dict(request.headers))
        if self.stall:
            self._release = self._release or asyncio.Event()
            self.arrived.set()
            await self._release.wait()
        if self.forced:
            return self.forced.pop(0)
        params = self._verified(request, raw)
        if isinstance(params, web.Response):
            return params
        symbol = params.get("symbol")
        if symbol is None:
            return web.Response(
                text="[" + ",".join(SYMBOLS.values()) + "]", content_type="application/json"
            )
        if symbol not in SYMBOLS:
            return _error(400, -1121, "Invalid symbol.")
        return web.Response(text=SYMBOLS[symbol], content_type="application/json")

    async def account(self, request: web.Request) -> web.Response:
        raw = request.raw_path.partition("?")[2]
        self.queries.append(raw)
        self.account_calls += 1
        if self.account_calls in self.failing_accounts:
            return _error(400, -1001, "Internal error; unable to process your request.")
        if self.forced:
            return self.forced.pop(0)
        params = self._verified(request, raw)
        if isinstance(params, web.Response):
            return params
        body = self.accounts.pop(0) if len(self.accounts) > 1 else self.accounts[0]
        return web.Response(text=body, content_type="application/json")

    def _verified(self, request: web.Request, raw: str) -> dict[str, str] | web.Response:
        """The signed parameters, or the exchange's error answer."""
        key = request.headers.get("X-MBX-APIKEY", "")
        if not re.fullmatch(r"[A-Za-z0-9]{1,64}", key):
            return _error(401, -2014, "API-key format invalid.")
        if key != self.key:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload, sep, signature = raw.rpartition("&signature=")
        if not sep:
            return _error(400, -1102, "Mandatory parameter 'signature' was not sent.")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return _error(400, -1022, "Signature for this request is not valid.")
        params = {k: v[0] for k, v in parse_qs(payload).items()}
        timestamp = int(params["timestamp"])
        window = int(params.get("recvWindow", "5000"))
        now = self.now_ms()
        if timestamp > now + 1000 or now - timestamp > window:
            return _error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return params


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # trust_env=True would send 127.0.0.1 traffic to a proxy from the environment.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("BINMON_REST_URL", "BINANCE_API_KEY", "BINANCE_API_SECRET"):
        monkeypatch.delenv(name, raising=False)


class Sleeps:
    """An injectable ``asyncio.sleep`` that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


async def _serve(aiohttp_server: Any, fake: SignedExchange) -> str:
    server = await aiohttp_server(fake.app())
    return str(server.make_url("")).rstrip("/")


def _client(base: str, *, key: str = KEY, secret: str = SECRET, **kw: Any) -> SignedClient:
    return SignedClient(base, Credentials(key, secret), **kw)


# --- signing -------------------------------------------------------------------


def test_official_signing_vector() -> None:
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    query = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000"
        "&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
    )
    expected = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
    assert sign(query, secret) == expected
    assert verify(query, expected, secret)
    assert Credentials("k", secret).sign(query) == expected
    params: dict[str, str | int] = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": 1,
        "price": 9000,
        "timeInForce": "GTC",
        "recvWindow": 5000,
        "timestamp": 1591702613943,
    }
    assert signed_query(params, secret) == f"{query}&signature={expected}"


def test_credentials_never_show_the_secret() -> None:
    creds = Credentials(KEY, SECRET)
    client = _client("https://fapi.binance.com")
    for text in (repr(creds), str(creds), repr(client), f"{creds}"):
        assert SECRET not in text
        assert KEY not in text  # only a hint of the key either
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(creds)


def test_missing_credentials_is_a_usage_problem() -> None:
    with pytest.raises(UsageProblem) as info:
        credentials_from_env({})
    message = str(info.value)
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "--from"):
        assert name in message
    with pytest.raises(UsageProblem, match="BINANCE_API_SECRET is not set"):
        credentials_from_env({"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": "  "})
    creds = credentials_from_env({"BINANCE_API_KEY": f" {KEY}\n", "BINANCE_API_SECRET": SECRET})
    assert creds.api_key == KEY


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds("1", now) == 1.0
    assert retry_after_seconds("0.25", now) == 0.25
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("nan", now) is None
    assert retry_after_seconds("-5", now) == 0.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:15:20 GMT", now) == pytest.approx(120.0)


# --- the client against the fake exchange --------------------------------------


async def test_happy_path_exact_numbers_and_signed_request(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        [btc] = await client.leverage_brackets("BTCUSDT")
    assert btc.symbol == "BTCUSDT"
    first, second = btc.brackets
    assert (first.notional_floor, first.notional_cap, first.maint_margin_ratio) == (
        "0",
        "300000",
        "0.004",
    )
    assert (second.maint_margin_ratio, second.cum, second.max_leverage) == (
        "0.0050",
        "300.0",
        "100",
    )
    assert second.min_leverage is None
    assert fake.time_calls == 1 and fake.bracket_calls == 1
    query = fake.queries[0]
    assert re.fullmatch(
        r"symbol=BTCUSDT&recvWindow=5000&timestamp=\d{13}&signature=[0-9a-f]{64}", query
    )
    assert fake.headers[0]["X-MBX-APIKEY"] == KEY
    assert SECRET not in query and all(SECRET not in v for v in fake.headers[0].values())


async def test_every_symbol_and_string_numbers(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        items = await client.leverage_brackets()
    assert [i.symbol for i in items] == ["BTCUSDT", "ETHUSDT"]
    [eth] = items[1].brackets
    assert (eth.max_leverage, eth.notional_cap, eth.cum) == ("125", "50000", "0.0")
    assert "symbol=" not in fake.queries[0]


async def test_account_holdings_and_positions(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        account = await client.account()
    # Non-zero balances in the account's order, exact; absolute notionals.
    assert [(h.asset, str(h.quantity)) for h in account.holdings] == [
        ("USDT", "-120.25000000"),
        ("BTC", "0.02000000"),
    ]
    assert {s: str(n) for s, n in account.positions.items()} == {"BTCUSDT": "32000.10"}
    assert account.total_margin_balance == "1234.50000000"
    assert re.fullmatch(r"recvWindow=5000&timestamp=\d{13}&signature=[0-9a-f]{64}", fake.queries[0])


async def test_account_bad_key_and_bad_answer(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    base = await _serve(aiohttp_server, fake)
    async with _client(base, key="WrongKey") as client:
        with pytest.raises(RestError, match="API key rejected"):
            await client.account()
    fake.forced.append(web.json_response({"assets": [{"asset": "BTC", "marginBalance": "x"}]}))
    async with _client(base) as client:
        with pytest.raises(BinmonError, match=r"unexpected answer from .*/fapi/v3/account"):
            await client.account()


async def test_query_is_sent_exactly_as_signed(aiohttp_server: Any) -> None:
    # urlencode makes "BTC USDT/X" "BTC+USDT%2FX"; a client that re-quoted it
    # would break the signature and get -1022 instead of "Invalid symbol".
    fake = SignedExchange()
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        with pytest.raises(BinmonError, match=r"unknown symbol BTC USDT/X .*Invalid symbol"):
            await client.leverage_brackets("BTC USDT/X")
    assert fake.queries[0].startswith("symbol=BTC+USDT%2FX&")


@pytest.mark.parametrize("offset_ms", [-3_600_000, 3_600_000])
async def test_clock_skew_corrected_via_server_time(aiohttp_server: Any, offset_ms: int) -> None:
    fake = SignedExchange(offset_ms=offset_ms)
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        await client.leverage_brackets("BTCUSDT")
        assert client.offset_ms is not None
        assert abs(client.offset_ms - offset_ms) < 1000
    assert fake.time_calls == 1 and fake.bracket_calls == 1


async def test_minus_1021_resyncs_once_and_retries(aiohttp_server: Any) -> None:
    fake = SignedExchange(jump_after_first_time_ms=60_000)
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        [btc] = await client.leverage_brackets("BTCUSDT")
    assert btc.symbol == "BTCUSDT"
    assert fake.time_calls == 2 and fake.bracket_calls == 2


async def test_minus_1021_twice_is_an_error(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    fake.forced = [
        _error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        for _ in range(2)
    ]
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        with pytest.raises(RestError, match="even after resyncing") as info:
            await client.leverage_brackets("BTCUSDT")
    assert info.value.code == -1021
    assert fake.time_calls == 2 and fake.bracket_calls == 2


@pytest.mark.parametrize(
    ("key", "secret", "code", "words"),
    [
        ("bad key!", SECRET, -2014, "API key rejected"),
        ("SomeOtherKey42", SECRET, -2015, "API key rejected"),
        (KEY, "wrong-secret", -1022, "signature rejected"),
    ],
)
async def test_key_and_signature_errors(
    aiohttp_server: Any, key: str, secret: str, code: int, words: str
) -> None:
    fake = SignedExchange()
    base = await _serve(aiohttp_server, fake)
    async with _client(base, key=key, secret=secret) as client:
        with pytest.raises(RestError) as info:
            await client.leverage_brackets("BTCUSDT")
    assert info.value.code == code
    message = str(info.value)
    assert words in message and f"(code {code})" in message and "\n" not in message
    assert SECRET not in message and secret not in repr(info.value)
    assert fake.bracket_calls == 1  # not retried


async def test_429_waits_retry_after_then_succeeds(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    fake.forced = [_error(429, -1003, "Too many requests.", {"Retry-After": "1"})]
    base = await _serve(aiohttp_server, fake)
    sleeps = Sleeps()
    async with _client(base, sleep=sleeps) as client:
        [btc] = await client.leverage_brackets("BTCUSDT")
    assert btc.symbol == "BTCUSDT"
    assert sleeps.calls == [1.0]
    assert fake.bracket_calls == 2


async def test_retry_after_a_long_wait_is_signed_afresh(aiohttp_server: Any) -> None:
    # Time "passes" (for both sides) only inside the injected sleep: a retry
    # that reused the first timestamp would be 30 s stale and get -1021.
    fake = SignedExchange()
    fake.forced = [_error(429, -1003, "Too many requests.", {"Retry-After": "30"})]
    base = await _serve(aiohttp_server, fake)
    shift = [0.0]

    async def sleep(seconds: float) -> None:
        shift[0] += seconds
        fake.offset_ms += int(seconds * 1000)

    async with _client(base, sleep=sleep, clock=lambda: time.time() + shift[0]) as client:
        await client.leverage_brackets("BTCUSDT")
    assert (fake.time_calls, fake.bracket_calls) == (1, 2)
    stamps = [int(parse_qs(q)["timestamp"][0]) for q in fake.queries]
    assert stamps[1] - stamps[0] >= 30_000


async def test_429_gives_up_after_bounded_tries(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    fake.forced = [_error(429, -1003, "Too many requests.", {"Retry-After": "2"}) for _ in range(5)]
    base = await _serve(aiohttp_server, fake)
    sleeps = Sleeps()
    async with _client(base, sleep=sleeps, max_tries=3) as client:
        with pytest.raises(BinmonError, match=r"rate limited .*HTTP 429.*retry after 2 s"):
            await client.leverage_brackets("BTCUSDT")
    assert sleeps.calls == [2.0, 2.0]
    assert fake.bracket_calls == 3


async def test_5xx_is_retried(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    fake.forced = [web.Response(status=503, text="busy")]
    base = await _serve(aiohttp_server, fake)
    sleeps = Sleeps()
    async with _client(base, sleep=sleeps) as client:
        await client.leverage_brackets("BTCUSDT")
    assert len(sleeps.calls) == 1 and fake.bracket_calls == 2


async def test_418_says_banned_until(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    fake.forced = [_error(418, -1003, "Way too many requests; IP banned.", {"Retry-After": "120"})]
    base = await _serve(aiohttp_server, fake)
    async with _client(base, clock=lambda: 1_700_000_000.0) as client:
        client.offset_ms = 0  # skip /time: the fake's clock is real, ours is pinned
        with pytest.raises(BinmonError, match=r"banned .*until 2023-11-14 22:15:20 UTC.*HTTP 418"):
            await client.leverage_brackets("BTCUSDT")
    assert fake.bracket_calls == 1


async def test_451_restricted_location(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    fake.forced = [web.Response(status=451, text="<html>unavailable</html>")]
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        with pytest.raises(FatalConnectionError, match=r"HTTP 451, restricted location"):
            await client.leverage_brackets("BTCUSDT")


async def test_unexpected_body_is_a_clear_error(aiohttp_server: Any) -> None:
    fake = SignedExchange()
    fake.forced = [web.Response(text='{"symbol":"X","brackets":[{"bracket":"one"}]}')]
    base = await _serve(aiohttp_server, fake)
    async with _client(base) as client:
        with pytest.raises(BinmonError, match="unexpected answer from"):
            await client.leverage_brackets("BTCUSDT")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_host() -> None:
    async with _client(f"http://127.0.0.1:{_closed_port()}") as client:
        with pytest.raises(BinmonError, match=r"^cannot reach 127\.0\.0\.1"):
            await client.leverage_brackets("BTCUSDT")


# --- the command, end to end ------------------------------------------------------


class ThreadedExchange:
    """The fake exchange on its own loop in a thread, for synchronous CLI runs."""

    def __init__(self, fake: SignedExchange) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _start(self) -> str:
        self._runner = web.AppRunner(self.fake.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ThreadedExchange:
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        self.loop.call_soon_threadsafe(self.fake.release)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def signed_exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedExchange]:
    with ThreadedExchange(SignedExchange()) as running:
        monkeypatch.setenv("BINANCE_API_KEY", KEY)
        monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
        monkeypatch.setenv("BINMON_REST_URL", running.url)
        yield running


def _run_main(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capfd.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_cli_json_from_exchange_with_verbose(
    signed_exchange: ThreadedExchange, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run_main(
        ["-v", "brackets", "btcusdt", "--json", "--notional", "300000"], capfd
    )
    assert code == 0, err
    assert out == (
        '{"type":"brackets","symbol":"BTCUSDT","brackets":['
        '{"bracket":1,"notional_floor":0,"notional_cap":300000,"maint_margin_ratio":0.004,'
        '"cum":0,"min_leverage":null,"max_leverage":150},'
        '{"bracket":2,"notional_floor":300000,"notional_cap":800000,"maint_margin_ratio":0.0050,'
        '"cum":300.0,"min_leverage":null,"max_leverage":100}],'
        '"notional":300000,"bracket":2,"maintenance_margin":1200,"max_leverage":100}\n'
    )
    assert "GET http://127.0.0.1" in err and "/fapi/v1/leverageBracket?symbol=BTCUSDT" in err
    assert "signature=" not in err
    assert SECRET not in out + err


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda f: setattr(f, "key", "AnotherKey9"), "API key rejected"),
        (lambda f: setattr(f, "secret", "other-secret"), "signature rejected"),
        (lambda f: f.forced.append(_error(401, -2014, "API-key format invalid.")), "(code -2014)"),
        (lambda f: f.forced.append(web.Response(status=418)), "banned"),
        (lambda f: f.forced.append(web.Response(status=451)), "restricted location"),
        (lambda f: f.forced.append(_error(400, -1121, "Invalid symbol.")), "unknown symbol"),
    ],
)
def test_cli_errors_are_one_line(
    signed_exchange: ThreadedExchange,
    capfd: pytest.CaptureFixture[str],
    setup: Any,
    expected: str,
) -> None:
    setup(signed_exchange.fake)
    code, out, err = _run_main(["brackets", "-v", "BTCUSDT"], capfd)
    assert code == 1
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and expected in errors[0], err
    assert "Traceback" not in err
    assert SECRET not in out + err


def test_cli_429_then_success(
    signed_exchange: ThreadedExchange, capfd: pytest.CaptureFixture[str]
) -> None:
    # A fractional Retry-After keeps the real wait tiny.
    signed_exchange.fake.forced.append(
        _error(429, -1003, "Too many requests.", {"Retry-After": "0.01"})
    )
    code, out, err = _run_main(["brackets", "ETHUSDT", "--json"], capfd)
    assert code == 0, err
    assert out.startswith('{"type":"brackets","symbol":"ETHUSDT"')
    assert signed_exchange.fake.bracket_calls == 2


def test_cli_missing_symbol_among_several(
    signed_exchange: ThreadedExchange, capfd: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run_main(["brackets", "ETHUSDT", "NOPEUSDT", "btcusdt"], capfd)
    assert code == 1
    assert [line.split('"symbol":"')[1][:7] for line in out.splitlines()] == ["ETHUSDT", "BTCUSDT"]
    assert err.strip() == "Error: no brackets for NOPEUSDT from the exchange"
    assert "symbol=" not in signed_exchange.fake.queries[0]  # one request for all


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith(("BINANCE_", "BINMON_"))
    }
    env.update(extra)
    return env


def test_subprocess_unreachable_host_and_secret_not_leaked() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    env = _subprocess_env(BINANCE_API_KEY=KEY, BINANCE_API_SECRET=SECRET)
    done = subprocess.run(
        [sys.executable, "-m", "binmon", "-v", "brackets", "BTCUSDT", "--rest-url", url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("Error: cannot reach 127.0.0.1")
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_subprocess_happy_path(signed_exchange: ThreadedExchange) -> None:
    env = _subprocess_env(
        BINANCE_API_KEY=KEY, BINANCE_API_SECRET=SECRET, BINMON_REST_URL=signed_exchange.url
    )
    done = subprocess.run(
        [sys.executable, "-m", "binmon", "brackets", "-v"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line[:40] for line in lines] == [
        '{"type":"brackets","symbol":"BTCUSDT","b',
        '{"type":"brackets","symbol":"ETHUSDT","b',
    ]
    assert SECRET not in done.stdout + done.stderr


async def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    # A self-signed certificate must be refused: there is no way to turn
    # verification off.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    fake = SignedExchange()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with _client(f"https://127.0.0.1:{port}") as client:
            with pytest.raises(BinmonError, match=r"TLS certificate of 127\.0\.0\.1:\d+ could not"):
                await client.leverage_brackets("BTCUSDT")
    finally:
        await runner.cleanup()
    assert fake.time_calls == 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGINT")
def test_subprocess_ctrl_c_is_130_without_traceback(signed_exchange: ThreadedExchange) -> None:
    signed_exchange.fake.stall = True
    env = _subprocess_env(
        BINANCE_API_KEY=KEY, BINANCE_API_SECRET=SECRET, BINMON_REST_URL=signed_exchange.url
    )
    with subprocess.Popen(
        [sys.executable, "-m", "binmon", "brackets", "BTCUSDT"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        # Interrupt exactly while the signed request is in flight.
        assert signed_exchange.fake.arrived.wait(20)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert out == "" and "Traceback" not in err
    assert SECRET not in out + err


def test_decode_account_shapes() -> None:
    from binmon.account import decode_account

    account = decode_account(
        b'{"assets":[{"asset":"BTC","marginBalance":"0.00000000","walletBalance":"1"},'
        b'{"asset":"usdc","marginBalance":-5},{"asset":"USDC","marginBalance":"7"}],'
        b'"positions":[{"symbol":"BTCUSDT","notional":"-100.5","positionSide":"SHORT"},'
        b'{"symbol":"BTCUSDT","notional":"250","positionSide":"LONG"},'
        b'{"symbol":"ETHUSDT","notional":"0"}],"extra":{"any":[1,2]}}'
    )
    # Zero balances left out, assets upper-cased, the first of a repeated asset kept;
    # Hedge Mode's two sides: the larger one, as an absolute notional.
    assert [(h.asset, str(h.quantity)) for h in account.holdings] == [("USDC", "-5")]
    assert {s: str(n) for s, n in account.positions.items()} == {"BTCUSDT": "250"}
    assert account.total_margin_balance is None
    for bad in (b"[]", b'{"assets":[{"asset":"BTC"}]}', b'{"positions":[{"symbol":1}]}'):
        with pytest.raises(ValueError):
            decode_account(bad)
