"""binmon.brackets_report without the command line: what is written, what is reported."""

from __future__ import annotations

import io
import json

import pytest

from binmon.brackets_report import brackets_line, report
from binmon.diag import Diagnostics
from binmon.env import Environment
from binmon.errors import BinmonError
from binmon.protocol import Bracket

LADDER = (
    Bracket(1, "0", "300000", "0.004", "0", "101", "150"),
    Bracket(2, "300000", "800000", "0.0050", "300.0", "51", "100"),
)
FOUND = {"BTCUSDT": LADDER, "ETHUSDT": LADDER[:1]}


def _env(*, terminal: bool = False) -> Environment:
    return Environment(stdout=io.BytesIO(), stderr=io.StringIO(), stdout_isatty=terminal, width=100)


def _report(env: Environment, wanted: list[str], notional: str | None = None) -> list[str]:
    """The symbols written, one JSON line each; raises what report() raises."""
    diag = Diagnostics(env.stderr)
    try:
        report(FOUND, wanted, notional, as_json=True, source="in f", env=env, diag=diag)
    finally:
        assert isinstance(env.stdout, io.BytesIO)
        written = [json.loads(x)["symbol"] for x in env.stdout.getvalue().splitlines()]
    return written


def test_no_symbol_wanted_is_every_symbol_in_order() -> None:
    assert _report(_env(), []) == ["BTCUSDT", "ETHUSDT"]


def test_what_is_found_is_written_before_what_is_missing_is_raised() -> None:
    env = _env()
    with pytest.raises(BinmonError, match="NOPEUSDT in f"):
        _report(env, ["ETHUSDT", "NOPEUSDT", "BTCUSDT"])
    assert isinstance(env.stdout, io.BytesIO)
    assert [json.loads(x)["symbol"] for x in env.stdout.getvalue().splitlines()] == [
        "ETHUSDT",
        "BTCUSDT",
    ]


def test_a_notional_past_the_last_cap_writes_no_json_line_for_that_symbol() -> None:
    env = _env()
    # 500000 fits BTCUSDT's second bracket, not ETHUSDT's only one.
    with pytest.raises(BinmonError, match="ETHUSDT"):
        _report(env, ["BTCUSDT", "ETHUSDT"], notional="500000")
    assert isinstance(env.stdout, io.BytesIO)
    (line,) = env.stdout.getvalue().splitlines()
    assert json.loads(line)["bracket"] == 2


def test_the_json_line_keeps_the_exchange_digits() -> None:
    from binmon.leverage import position

    line = brackets_line("BTCUSDT", LADDER, position(LADDER, "300000"))
    assert b'"maint_margin_ratio":0.0050,"cum":300.0' in line
    assert line.endswith(
        b'"notional":300000,"bracket":2,"maintenance_margin":1200,"max_leverage":100}\n'
    )


def test_tables_go_to_the_environment_s_stdout() -> None:
    env = _env(terminal=True)
    report(
        FOUND, ["BTCUSDT"], None, as_json=False, source="", env=env, diag=Diagnostics(env.stderr)
    )
    assert isinstance(env.stdout, io.BytesIO)
    text = env.stdout.getvalue().decode()
    assert "300000" in text and "0.40%" in text
    assert "\x1b" not in text  # a buffer is not a terminal: no colour
