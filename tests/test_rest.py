"""The one HTTP layer (binmon.rest) against a real local server: every failure
becomes a RestError with its status, Binance code and bounded Retry-After, the
same way for public and signed calls. No network mocks: real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from binmon.errors import FatalConnectionError, RestError, RestRefused
from binmon.rest import MAX_RETRY_AFTER, RestClient, bounded_retry_after, retry_delay


class Answers:
    """A server that answers each GET with the next canned response, then 200."""

    def __init__(self, *responses: web.Response) -> None:
        self.responses = list(responses)
        self.requests: list[web.Request] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{path:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.responses:
            return self.responses.pop(0)
        return web.json_response({"symbols": []})


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


async def _get(aiohttp_server: Any, answers: Answers, **kw: Any) -> bytes:
    server = await aiohttp_server(answers.app())
    async with aiohttp.ClientSession() as session:
        client = RestClient(session, str(server.make_url("")), **kw)
        return await client.get("/fapi/v1/exchangeInfo")


def _binance(status: int, code: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": "said"}, status=status, headers=headers)


@pytest.mark.parametrize("status", [451, 401, 403])
async def test_refusals_are_fatal_with_or_without_a_binance_body(
    aiohttp_server: Any, status: int
) -> None:
    for response, code in (
        (web.Response(status=status, text="<html/>"), None),
        (_binance(status, -2015), -2015),
    ):
        with pytest.raises(RestRefused) as info:
            await _get(aiohttp_server, Answers(response))
        assert isinstance(info.value, FatalConnectionError)
        assert (info.value.status, info.value.code) == (status, code)


async def test_binance_error_bodies_keep_their_code(aiohttp_server: Any) -> None:
    with pytest.raises(RestError) as info:
        await _get(aiohttp_server, Answers(_binance(400, -1121)))
    assert (info.value.status, info.value.code) == (400, -1121)
    assert not isinstance(info.value, FatalConnectionError)


async def test_a_body_from_the_network_is_shown_printable(aiohttp_server: Any) -> None:
    with pytest.raises(RestError) as info:
        await _get(aiohttp_server, Answers(web.Response(status=500, text="\x1b[2Jbusy\n")))
    assert info.value.status == 500 and info.value.code is None
    assert "\x1b" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("1e12", MAX_RETRY_AFTER), ("soon", None), ("-5", 0.0)],
)
async def test_retry_after_is_carried_bounded(
    aiohttp_server: Any, header: str, expected: float | None
) -> None:
    with pytest.raises(RestError) as info:
        await _get(aiohttp_server, Answers(_binance(429, -1003, {"Retry-After": header})))
    assert info.value.status == 429 and info.value.retry_after == expected


def test_the_wait_before_a_retry_is_our_backoff_or_the_server_s_longer_one() -> None:
    assert retry_delay(RestError("x", retry_after=2.0), 0.5) == 2.0
    assert retry_delay(RestError("x", retry_after=0.0), 0.5) == 0.5
    assert retry_delay(RestError("x"), 0.5) == 0.5
    assert bounded_retry_after("inf", 0.0) is None
    assert bounded_retry_after("7200", 0.0) == MAX_RETRY_AFTER


async def test_transient_answers_are_retried_within_tries(aiohttp_server: Any) -> None:
    answers = Answers(web.Response(status=503), _binance(429, -1003, {"Retry-After": "3"}))
    sleeps = Sleeps()
    body = await _get(aiohttp_server, answers, tries=3, sleep=sleeps)
    assert body == b'{"symbols": []}'
    # Our backoff (0.5 s, then 1 s) unless the server asks for longer.
    assert sleeps.calls == [0.5, 3.0]
    assert len(answers.requests) == 3


async def test_a_wait_beyond_patience_is_reported_not_waited(aiohttp_server: Any) -> None:
    answers = Answers(_binance(429, -1003, {"Retry-After": "120"}))
    sleeps = Sleeps()
    with pytest.raises(RestError) as info:
        await _get(aiohttp_server, answers, tries=3, patience=60, sleep=sleeps)
    assert info.value.retry_after == 120 and sleeps.calls == []
    assert len(answers.requests) == 1


@pytest.mark.parametrize("status", [400, 404, 418, 500])
async def test_other_failures_are_not_retried_by_a_bounded_call(
    aiohttp_server: Any, status: int
) -> None:
    answers = Answers(web.Response(status=status), web.Response(status=status))
    with pytest.raises(RestError):
        await _get(aiohttp_server, answers, tries=3, sleep=Sleeps())
    assert len(answers.requests) == 1


async def test_the_api_key_header_never_follows_a_redirect(aiohttp_server: Any) -> None:
    answers = Answers(web.Response(status=302, headers={"Location": "/elsewhere"}))
    server = await aiohttp_server(answers.app())
    async with aiohttp.ClientSession() as session:
        client = RestClient(session, str(server.make_url("")))
        with pytest.raises(RestError) as info:
            await client.get("/fapi/v1/leverageBracket", headers={"X-MBX-APIKEY": "k"})
        assert info.value.status == 302 and len(answers.requests) == 1
        # A public call follows it.
        answers.responses.append(web.Response(status=302, headers={"Location": "/elsewhere"}))
        assert await client.get("/fapi/v1/exchangeInfo") == b'{"symbols": []}'


async def test_an_unreadable_200_is_a_rest_error(aiohttp_server: Any) -> None:
    for text in ("<html>not json</html>", "[1, 2]"):
        server = await aiohttp_server(Answers(web.Response(text=text)).app())
        async with aiohttp.ClientSession() as session:
            client = RestClient(session, str(server.make_url("")))
            with pytest.raises(RestError, match="unexpected answer") as info:
                await client.exchange_info()
        assert info.value.status is None


async def test_no_answer_is_a_rest_error_without_status() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        client = RestClient(session, f"http://127.0.0.1:{port}", tries=3, sleep=Sleeps())
        with pytest.raises(RestError, match=f"cannot reach 127.0.0.1:{port}") as info:
            await client.get("/fapi/v1/time")
    assert info.value.status is None and not isinstance(info.value, FatalConnectionError)
