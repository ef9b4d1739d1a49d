"""One module per command, each exposing ``command`` (a click command).

Commands are imported when they are wanted: ``binmon --help`` lists them from
``SHORT_HELP`` and ``binmon --version`` needs none, and a command pays for its
own module only. Command modules import only click at module level, so that
none pays for aiohttp or rich before it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Final

import click

# Every command, and the line `binmon --help` shows for it (also each
# command's own ``short_help``: one text for both).
SHORT_HELP: Final[dict[str, str]] = {
    "assets": "Asset index: index price, buffers and rates (live or JSON).",
    "brackets": "Leverage brackets of symbols (signed REST, or --from FILE).",
    "config": "The config file, and the settings in effect for a command.",
    "contracts": "Contract info: status, listings, delistings, bracket changes.",
    "demo": "`watch` against a local simulated exchange: no network needed.",
    "exporter": "Headless: Prometheus metrics and a health check over HTTP.",
    "record": "Write every received frame to FILE, with its receive time.",
    "serve": "A local Binance-compatible server (WebSocket + REST).",
    "upcoming": "Scheduled listings and deliveries/delistings, soonest first.",
    "watch": "Both streams at once: asset index, contracts and change log.",
}


class Commands(MutableMapping[str, click.Command]):
    """The group's commands by name (what ``click.Group.commands`` holds),
    each module imported the first time its command is looked up. Listing the
    names imports nothing."""

    def __init__(self) -> None:
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            if name not in SHORT_HELP:
                raise KeyError(name)
            module = importlib.import_module(f"{__name__}.{name}")
            command = self._loaded[name] = module.command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*SHORT_HELP, *self._loaded]))

    def __len__(self) -> int:
        return len(SHORT_HELP.keys() | self._loaded.keys())
