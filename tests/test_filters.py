"""Symbol matching: the command line's globs and the live view's `/` filter."""

from __future__ import annotations

import pytest

from binmon.filters import Filters, SymbolSearch


@pytest.mark.parametrize(
    ("typed", "matches", "misses"),
    [
        # No glob character: any part of the symbol, any case.
        ("btc", ("BTCUSDT", "WBTCUSDT", "BTCUSD_PERP", "ETHBTC"), ("ETHUSDT", "BCHUSDT")),
        ("_perp", ("BTCUSD_PERP",), ("BTCUSDT",)),
        # A glob matches the whole symbol, as -s does.
        ("btc*", ("BTCUSDT", "BTCDOMUSDT"), ("WBTCUSDT", "ETHBTC")),
        ("*usdc", ("BTCUSDC", "ETHUSDC"), ("BTCUSDCX", "BTCUSDT")),
        ("?tcusdt", ("BTCUSDT",), ("WBTCUSDT",)),
        ("[ab]*", ("ADAUSDT", "BTCUSDT"), ("ETHUSDT",)),
        # An unclosed bracket is a literal, not an error.
        ("[x", ("[X",), ("X", "[XUSDT")),
        # Regular-expression characters in plain text are literal too.
        ("1000.", (), ("1000XUSDT",)),
    ],
)
def test_search_text_is_a_substring_or_a_glob(
    typed: str, matches: tuple[str, ...], misses: tuple[str, ...]
) -> None:
    search = SymbolSearch.parse(typed)
    assert search is not None
    for symbol in matches:
        assert search.matches(symbol), symbol
        assert search.matches(symbol.lower()), symbol
    for symbol in misses:
        assert not search.matches(symbol), symbol


def test_blank_search_is_no_search() -> None:
    assert SymbolSearch.parse("") is None
    assert SymbolSearch.parse("   ") is None
    assert SymbolSearch.parse(" eth ") == SymbolSearch("eth")


def test_command_line_globs() -> None:
    filters = Filters.build(symbols=("btc*", "ETHUSDT"))
    assert filters.symbol_ok("BTCUSDT") and filters.symbol_ok("ethusdt")
    assert not filters.symbol_ok("WBTCUSDT")
