"""--account's reader against a real signed HTTP server on 127.0.0.1: refreshes, failures."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from aiohttp import web

from binmon.account import Account
from binmon.account_watch import watch_account
from binmon.diag import Diagnostics
from binmon.errors import FatalConnectionError
from binmon.signed_rest import Credentials
from tests.test_signed_rest import KEY, SECRET, SignedExchange
from tests.waiting import wait_until


def _account(usdt: str, btc_notional: str) -> str:
    return json.dumps(
        {
            "totalMarginBalance": "1",
            "assets": [{"asset": "USDT", "marginBalance": usdt}],
            "positions": [{"symbol": "BTCUSDT", "notional": btc_notional}],
        }
    )


async def _watch(
    aiohttp_server: Any, fake: SignedExchange, key: str = KEY
) -> tuple[list[Account], io.StringIO, asyncio.Task[None]]:
    server = await aiohttp_server(fake.app())
    seen: list[Account] = []
    err = io.StringIO()
    task = asyncio.create_task(
        watch_account(
            str(server.make_url("")).rstrip("/"),
            Credentials(key, SECRET),
            None,
            every=0.01,
            apply=seen.append,
            diag=Diagnostics(err, warn_interval=0),
        )
    )
    return seen, err, task


async def test_refreshes_replace_and_a_failed_one_keeps_the_last(aiohttp_server: Any) -> None:
    fake = SignedExchange(accounts=[_account("100", "-5"), _account("250.5", "7")])
    seen, err, task = await _watch(aiohttp_server, fake)
    try:
        await wait_until(lambda: len(seen) >= 2)
        assert [str(a.holdings[0].quantity) for a in seen[:2]] == ["100", "250.5"]
        assert [str(a.positions["BTCUSDT"]) for a in seen[:2]] == ["5", "7"]
        # The exchange fails a read: a warning, nothing applied, and reading goes on.
        fake.forced.append(web.json_response({"code": -1001, "msg": "Internal"}, status=500))
        before = len(seen)
        await wait_until(lambda: "account refresh failed" in err.getvalue())
        await wait_until(lambda: len(seen) > before + 1)
        assert "keeping the last holdings" in err.getvalue()
        assert not task.done()
    finally:
        task.cancel()


async def test_a_first_read_refused_for_good_ends_the_run(aiohttp_server: Any) -> None:
    seen, _, task = await _watch(aiohttp_server, SignedExchange(), key="SomeOtherKey42")
    with pytest.raises(FatalConnectionError, match="API key rejected"):
        await task
    assert seen == []
