"""Control messages parsed the way the exchange's parser reads them (Rust's serde_json).

Clients match on the exchange's error texts, which are serde_json's:
``expected value at line 1 column 1``, ``EOF while parsing a list at line 1
column 36``, ``trailing comma at line 1 column 12``. Python's :mod:`json`
words them differently, counts columns differently and accepts what serde
refuses (``NaN``, ``Infinity``), hence this small parser. Positions follow
serde_json: lines count from 1, columns are bytes, an error found by peeking
at a byte points at that byte (1-based), one found after consuming a byte
points just past it.

For the top-level object it also notes where its ``method`` value and the
object itself end: serde reports an unknown method and a missing field there.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

_WHITESPACE: Final = frozenset(b" \t\n\r")
_ESCAPES: Final = {
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}
_DIGITS: Final = frozenset(b"0123456789")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
# serde_json's default recursion limit.
_MAX_DEPTH: Final = 128


class SerdeError(ValueError):
    """A syntax error worded and positioned as serde_json does."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} at line {line} column {column}")


@dataclass(frozen=True)
class Parsed:
    value: Any
    # Byte index just past the top-level object's "method" value, if it had one.
    method_end: int | None
    # Byte index just past the top-level value.
    end: int
    data: bytes

    def at(self, message: str, index: int) -> str:
        """``message`` with serde_json's ending for byte ``index``."""
        return str(_error_at(self.data, message, index))


def _error_at(data: bytes, message: str, index: int) -> SerdeError:
    start = data.rfind(b"\n", 0, index) + 1
    return SerdeError(message, data.count(b"\n", 0, start) + 1, index - start)


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0
        self.method_end: int | None = None

    # -- errors: "error" points past the current byte, "peek" at the next one

    def error(self, message: str) -> SerdeError:
        return _error_at(self.data, message, self.i)

    def peek_error(self, message: str) -> SerdeError:
        return _error_at(self.data, message, min(len(self.data), self.i + 1))

    def whitespace(self) -> int | None:
        data, i = self.data, self.i
        while i < len(data) and data[i] in _WHITESPACE:
            i += 1
        self.i = i
        return data[i] if i < len(data) else None

    # -- values

    def value(self, depth: int) -> Any:
        peek = self.whitespace()
        if peek is None:
            raise self.peek_error("EOF while parsing a value")
        if peek == ord("{"):
            return self.object(depth + 1)
        if peek == ord("["):
            return self.array(depth + 1)
        if peek == ord('"'):
            self.i += 1
            return self.string()
        if peek == ord("-") or peek in _DIGITS:
            return self.number()
        for word, result in ((b"true", True), (b"false", False), (b"null", None)):
            if peek == word[0]:
                self.i += 1
                for expected in word[1:]:
                    if self.i >= len(self.data):
                        raise self.error("EOF while parsing a value")
                    self.i += 1
                    if self.data[self.i - 1] != expected:
                        raise self.error("expected ident")
                return result
        raise self.peek_error("expected value")

    def _enter(self, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise self.error("recursion limit exceeded")

    def array(self, depth: int) -> list[Any]:
        self.i += 1
        self._enter(depth)
        out: list[Any] = []
        while True:
            peek = self.whitespace()
            if peek is None:
                raise self.peek_error("EOF while parsing a list")
            if peek == ord("]"):
                self.i += 1
                return out
            if out:
                if peek != ord(","):
                    raise self.peek_error("expected `,` or `]`")
                self.i += 1
                peek = self.whitespace()
                if peek == ord("]"):
                    raise self.peek_error("trailing comma")
                if peek is None:
                    raise self.peek_error("EOF while parsing a value")
            out.append(self.value(depth))

    def object(self, depth: int) -> dict[str, Any]:
        top = depth == 1
        self.i += 1
        self._enter(depth)
        out: dict[str, Any] = {}
        first = True
        while True:
            peek = self.whitespace()
            if peek is None:
                raise self.peek_error("EOF while parsing an object")
            if peek == ord("}"):
                self.i += 1
                return out
            if not first:
                if peek != ord(","):
                    raise self.peek_error("expected `,` or `}`")
                self.i += 1
                peek = self.whitespace()
                if peek == ord("}"):
                    raise self.peek_error("trailing comma")
                if peek is None:
                    raise self.peek_error("EOF while parsing a value")
            first = False
            if peek != ord('"'):
                raise self.peek_error("key must be a string")
            self.i += 1
            key = self.string()
            colon = self.whitespace()
            if colon is None:
                raise self.peek_error("EOF while parsing an object")
            if colon != ord(":"):
                raise self.peek_error("expected `:`")
            self.i += 1
            out[key] = self.value(depth)
            if top and key == "method" and self.method_end is None:
                self.method_end = self.i

    def string(self) -> str:
        data = self.data
        parts: list[str] = []
        start = self.i
        while True:
            i = self.i
            if i >= len(data):
                raise self.error("EOF while parsing a string")
            byte = data[i]
            self.i = i + 1
            if byte == ord('"'):
                parts.append(data[start:i].decode("utf-8", "replace"))
                return "".join(parts)
            if byte < 0x20:
                raise self.error("control character (\\u0000-\\u001F) found while parsing a string")
            if byte == ord("\\"):
                parts.append(data[start:i].decode("utf-8", "replace"))
                parts.append(self.escape())
                start = self.i

    def escape(self) -> str:
        if self.i >= len(self.data):
            raise self.error("EOF while parsing a string")
        byte = self.data[self.i]
        self.i += 1
        if byte in _ESCAPES:
            return _ESCAPES[byte]
        if byte != ord("u"):
            raise self.error("invalid escape")
        code = self.hex4()
        if 0xD800 <= code < 0xDC00:
            # A high surrogate must be followed by an escaped low one.
            if self.data[self.i : self.i + 2] != b"\\u":
                raise self.error("lone leading surrogate in hex escape")
            self.i += 2
            low = self.hex4()
            if not 0xDC00 <= low < 0xE000:
                raise self.error("lone leading surrogate in hex escape")
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        return chr(code)

    def hex4(self) -> int:
        digits = self.data[self.i : self.i + 4]
        for n, byte in enumerate(digits):
            if byte not in _HEX:
                self.i += n + 1
                raise self.error("invalid escape")
        if len(digits) < 4:
            self.i = len(self.data)
            raise self.error("EOF while parsing a string")
        self.i += 4
        return int(digits, 16)

    def number(self) -> int | Decimal:
        data, start = self.data, self.i
        if data[self.i] == ord("-"):
            self.i += 1
        if self.i >= len(data):
            raise self.error("EOF while parsing a value")
        first = data[self.i]
        self.i += 1
        if first == ord("0"):
            if self.i < len(data) and data[self.i] in _DIGITS:
                raise self.peek_error("invalid number")
        elif first in _DIGITS:
            while self.i < len(data) and data[self.i] in _DIGITS:
                self.i += 1
        else:
            raise self.error("invalid number")
        is_float = False
        if self.i < len(data) and data[self.i] == ord("."):
            is_float = True
            self.i += 1
            self._digits()
        if self.i < len(data) and data[self.i] in b"eE":
            is_float = True
            self.i += 1
            if self.i < len(data) and data[self.i] in b"+-":
                self.i += 1
            self._digits()
        text = data[start : self.i]
        return Decimal(text.decode()) if is_float else int(text)

    def _digits(self) -> None:
        data = self.data
        if self.i >= len(data):
            raise self.error("EOF while parsing a value")
        if data[self.i] not in _DIGITS:
            raise self.peek_error("invalid number")
        while self.i < len(data) and data[self.i] in _DIGITS:
            self.i += 1


def parse(data: bytes) -> Parsed:
    """Parse one JSON text; raises :class:`SerdeError` worded as serde_json."""
    parser = _Parser(data)
    value = parser.value(0)
    end = parser.i
    if parser.whitespace() is not None:
        raise parser.peek_error("trailing characters")
    return Parsed(value, parser.method_end, end, data)
