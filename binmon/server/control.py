"""WebSocket control messages (SUBSCRIBE, LIST_SUBSCRIPTIONS, ...) answered as the exchange does.

Exact replies and error codes, because clients are written against them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from binmon.server import serde

if TYPE_CHECKING:
    from binmon.server.connection import Connection

_METHODS: Final = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_UNKNOWN_METHOD: Final = "unknown variant `{}`, expected one of " + ", ".join(
    f"`{m}`" for m in _METHODS
)
_BAD_ID: Final = "Invalid request: request ID must be an unsigned integer"
_STREAM_RE: Final = re.compile(r"[A-Za-z0-9!@_.\-]{1,200}")
_MAX_ID: Final = 2**64 - 1
# The futures docs say ids are unsigned integers, yet Binance's own SDK sends
# UUID strings (36 characters) and the exchange answers them: accept what it
# accepts, and echo every id back exactly as sent.
_MAX_ID_LENGTH: Final = 36
# A request without an id, or with a bad one, is answered without one.
_NO_ID: Final = object()


def _error(code: int, msg: str, req_id: object) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "msg": msg}
    if req_id is not _NO_ID:
        out["id"] = req_id
    return out


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return len(value) <= _MAX_ID_LENGTH
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID


def handle_control(conn: Connection, text: str) -> dict[str, Any]:
    """The reply to one control message, exactly as the exchange words it."""
    try:
        parsed = serde.parse(text.encode())
    except serde.SerdeError as exc:
        return _error(3, f"Invalid JSON: {exc}", _NO_ID)
    request = parsed.value
    if not isinstance(request, dict):
        return _error(2, "Invalid request: expected an object", _NO_ID)
    req_id = request.get("id")
    if not _valid_id(req_id):
        return _error(2, _BAD_ID, _NO_ID)
    if "method" not in request:
        missing = parsed.at("missing field `method`", parsed.end)
        return _error(2, f"Invalid request: {missing}", req_id)
    method = request["method"]
    if not isinstance(method, str) or method not in _METHODS:
        unknown = _UNKNOWN_METHOD.format(method)
        if parsed.method_end is not None:
            unknown = parsed.at(unknown, parsed.method_end)
        return _error(2, f"Invalid request: {unknown}", req_id)
    if set(request) - {"method", "params", "id"}:
        return _error(2, "Invalid request: too many parameters", req_id)
    params = request.get("params")
    if params is not None and not isinstance(params, list):
        return _error(2, "Invalid request: params must be an array", req_id)
    params = params or []

    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not all(isinstance(p, str) and _STREAM_RE.fullmatch(p) for p in params):
            return _error(2, "Invalid request: invalid stream", req_id)
        if method == "SUBSCRIBE":
            new = [p for p in dict.fromkeys(params) if p not in conn.streams]
            if len(conn.streams) + len(new) > conn.state.config.max_streams:
                return _error(2, "Invalid request: too many streams", req_id)
            for stream in new:
                conn.subscribe(stream)
        else:
            for stream in params:
                conn.unsubscribe(stream)
        return {"result": None, "id": req_id}
    if method == "LIST_SUBSCRIPTIONS":
        if params:
            return _error(2, "Invalid request: too many parameters", req_id)
        return {"result": list(conn.streams), "id": req_id}
    # SET_PROPERTY / GET_PROPERTY
    if not params or not isinstance(params[0], str):
        return _error(2, "Invalid request: property name must be a string", req_id)
    if len(params) > (2 if method == "SET_PROPERTY" else 1):
        return _error(2, "Invalid request: too many parameters", req_id)
    if params[0] != "combined":
        return _error(0, "Unknown property", req_id)
    if method == "GET_PROPERTY":
        return {"result": conn.combined, "id": req_id}
    if len(params) < 2 or not isinstance(params[1], bool):
        return _error(1, "Invalid value type: expected Boolean", req_id)
    conn.combined = params[1]
    return {"result": None, "id": req_id}
