"""The control-message parser: serde_json's values, errors and positions."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binmon.server.serde import SerdeError, parse

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON, st.booleans())
def test_parses_what_json_writes(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only, indent=1 if ascii_only else None)
    assert parse(text.encode()).value == value


@given(st.binary(max_size=40))
def test_any_bytes_give_a_value_or_a_serde_error(data: bytes) -> None:
    try:
        parse(data)
    except SerdeError as exc:
        assert " at line " in str(exc)


def test_numbers_keep_their_digits() -> None:
    assert parse(b"[0, -7, 1.50, 2e3, 18446744073709551616]").value == [
        0,
        -7,
        Decimal("1.50"),
        Decimal("2e3"),
        2**64,
    ]


def test_escapes_and_surrogate_pairs() -> None:
    assert parse(b'"a\\n\\u00e9\\ud83d\\ude00\\/"').value == "a\n\u00e9\U0001f600/"
    with pytest.raises(SerdeError, match="lone leading surrogate"):
        parse(b'"\\ud83d"')


def test_positions_of_the_method_and_the_end() -> None:
    parsed = parse(b'{"id": 1, "method": "LIST"}  ')
    assert parsed.method_end == 26 and parsed.end == 27
    assert parsed.at("missing field `x`", parsed.end) == "missing field `x` at line 1 column 27"
    nested = parse(b'{"params": {"method": 1}}')
    assert nested.method_end is None


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(SerdeError, match="recursion limit exceeded"):
        parse(b"[" * 1000)
