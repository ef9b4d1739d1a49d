"""The one way tests wait: poll a condition until it holds, or fail naming what
never happened. Never a bare sleep: a test waits exactly as long as it must.

``wait_until`` is for coroutines (it yields to the event loop between polls),
``wait_until_sync`` for threads and subprocesses; both share the deadline.
``step``, if given, is what to do between polls instead of sleeping: reading
a terminal or a pipe, which itself waits for the next output.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

TIMEOUT = 10.0  # generous: a loaded CI machine is slow, and success returns at once
POLL = 0.01

# What was awaited, for the failure message: text, or a function giving it then
# (the state worth showing is the state at the deadline).
What = str | Callable[[], str]


class _Deadline:
    def __init__(self, timeout: float, what: What) -> None:
        self.end = time.monotonic() + timeout
        self.timeout = timeout
        self.what = what

    def check(self) -> None:
        if time.monotonic() > self.end:
            what = self.what() if callable(self.what) else self.what
            pytest.fail(f"waited {self.timeout:g} s in vain for {what}")


async def wait_until(
    condition: Callable[[], bool], timeout: float = TIMEOUT, what: What = "the condition"
) -> None:
    deadline = _Deadline(timeout, what)
    while not condition():
        deadline.check()
        await asyncio.sleep(POLL)


async def wait_until_async(
    condition: Callable[[], Awaitable[bool]],
    timeout: float = TIMEOUT,
    what: What = "the condition",
    interval: float = POLL,
) -> None:
    """For a condition that must itself await (an HTTP request, say)."""
    deadline = _Deadline(timeout, what)
    while not await condition():
        deadline.check()
        await asyncio.sleep(interval)


def wait_until_sync(
    condition: Callable[[], bool],
    timeout: float = TIMEOUT,
    what: What = "the condition",
    step: Callable[[], object] | None = None,
) -> None:
    deadline = _Deadline(timeout, what)
    while not condition():
        deadline.check()
        if step is None:
            time.sleep(POLL)
        else:
            step()
