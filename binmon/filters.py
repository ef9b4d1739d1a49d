"""Which events the user asked for. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import translate

from binmon.protocol import ContractInfo


@dataclass(frozen=True)
class Filters:
    symbols: tuple[str, ...] = ()
    statuses: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    market: str | None = None  # "UM" | "CM"
    changes_only: bool = False

    @classmethod
    def build(
        cls,
        symbols: tuple[str, ...] = (),
        statuses: tuple[str, ...] = (),
        types: tuple[str, ...] = (),
        market: str | None = None,
        changes_only: bool = False,
    ) -> Filters:
        return cls(
            symbols=tuple(symbols),
            statuses=frozenset(s.upper() for s in statuses),
            types=frozenset(t.upper() for t in types),
            market=market.upper() if market else None,
            changes_only=changes_only,
        )

    def __post_init__(self) -> None:
        pattern = "|".join(translate(p.upper()) for p in self.symbols)
        object.__setattr__(self, "_symbol_re", re.compile(pattern) if pattern else None)

    def symbol_ok(self, symbol: str) -> bool:
        rx: re.Pattern[str] | None = self.__dict__["_symbol_re"]
        return rx is None or rx.match(symbol.upper()) is not None

    @property
    def filters_symbols(self) -> bool:
        return bool(self.symbols)

    def contract_ok(self, event: ContractInfo) -> bool:
        """Everything but ``changes_only``, which needs the state first."""
        if not self.symbol_ok(event.symbol):
            return False
        if self.statuses and (event.status or "").upper() not in self.statuses:
            return False
        if self.types and (event.contract_type or "").upper() not in self.types:
            return False
        # Events without `st` predate COIN-M on this stream: they are USD-M.
        return not (self.market and (event.market or "UM") != self.market)


_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class SymbolSearch:
    """What was typed at the live view's ``/`` prompt, as a symbol matcher.

    Text with a glob character (``*?[``) is a shell-style glob over the whole
    symbol, like ``--symbol``; plain text matches anywhere in it (``btc``
    finds ``BTCUSDT`` and ``WBTCUSDT``). Both ignore case.
    """

    text: str

    def __post_init__(self) -> None:
        typed = self.text.upper()
        pattern = ".*" + re.escape(typed) if _GLOB_CHARS.isdisjoint(typed) else translate(typed)
        object.__setattr__(self, "_rx", re.compile(pattern))

    @classmethod
    def parse(cls, text: str) -> SymbolSearch | None:
        """``None`` for empty text: no search at all."""
        text = text.strip()
        return cls(text) if text else None

    def matches(self, symbol: str) -> bool:
        rx: re.Pattern[str] = self.__dict__["_rx"]
        return rx.match(symbol.upper()) is not None
