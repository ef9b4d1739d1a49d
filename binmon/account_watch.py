"""``--account``: the signed account read at start and every few seconds.

Each answer's holdings and positions are handed to ``apply``. A read that
fails keeps what the last one gave (the streams go on) and says so on
stderr; only a first read refused for good (a bad key, a banned location)
ends the run, since nothing asked for could be shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from binmon.account import Account
from binmon.diag import Diagnostics
from binmon.errors import BinmonError, FatalConnectionError
from binmon.signed_rest import Credentials, SignedClient


async def watch_account(
    rest_url: str,
    credentials: Credentials,
    session: Any,
    *,
    every: float,
    apply: Callable[[Account], None],
    diag: Diagnostics,
    first: asyncio.Event | None = None,
) -> None:
    """Runs until cancelled; ``first`` is set once the first read has been
    tried, whatever came of it."""
    read_once = False
    async with SignedClient(rest_url, credentials, diag=diag, session=session) as client:
        while True:
            try:
                account = await client.account()
            except BinmonError as exc:
                if isinstance(exc, FatalConnectionError) and not read_once:
                    raise
                kept = "keeping the last holdings" if read_once else "no holdings yet"
                diag.warn(f"account refresh failed ({exc}); {kept}", key="account")
            else:
                read_once = True
                diag.debug(
                    f"account: {len(account.holdings)} holdings, {len(account.positions)} positions"
                )
                apply(account)
            if first is not None:
                first.set()
            await asyncio.sleep(every)
