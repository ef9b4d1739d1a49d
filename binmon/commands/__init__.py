"""One module per command, each exposing ``command`` (a click command).

Command modules import only click at module level: ``binmon --help`` must not
pay for aiohttp or rich.
"""

from __future__ import annotations

import importlib

import click

_NAMES = (
    "watch",
    "assets",
    "contracts",
    "brackets",
    "record",
    "exporter",
    "serve",
    "demo",
    "upcoming",
    "config",
)


def _load() -> list[click.Command]:
    commands = []
    for name in _NAMES:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        commands.append(module.command)
    return commands


COMMANDS = _load()
