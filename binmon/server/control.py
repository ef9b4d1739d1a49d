"""WebSocket control messages (SUBSCRIBE, LIST_SUBSCRIPTIONS, ...) answered as the exchange does.

Exact replies and error codes, because clients are written against them.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from binmon.server.connection import Connection

_METHODS: Final = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_UNKNOWN_METHOD: Final = "Invalid request: unknown variant `{}`, expected one of " + ", ".join(
    f"`{m}`" for m in _METHODS
)
_BAD_ID: Final = "Invalid request: request ID must be an unsigned integer"
_STREAM_RE: Final = re.compile(r"[A-Za-z0-9!@_.\-]{1,200}")
_MAX_ID: Final = 2**64 - 1


def _error(code: int, msg: str, req_id: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "msg": msg}
    if req_id is not None:
        out["id"] = req_id
    return out


def _valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID


def handle_control(conn: Connection, text: str) -> dict[str, Any]:
    """The reply to one control message, exactly as the exchange words it."""
    try:
        request = json.loads(text)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            detail = f"{exc.msg[0].lower()}{exc.msg[1:]} at line {exc.lineno} column {exc.colno}"
        else:
            detail = str(exc)
        return _error(3, f"Invalid JSON: {detail}", None)
    if not isinstance(request, dict):
        return _error(2, "Invalid request: expected an object", None)
    req_id = request.get("id")
    if not _valid_id(req_id):
        return _error(2, _BAD_ID, None)
    assert isinstance(req_id, int)
    if "method" not in request:
        return _error(2, "Invalid request: missing field `method`", req_id)
    method = request["method"]
    if not isinstance(method, str) or method not in _METHODS:
        return _error(2, _UNKNOWN_METHOD.format(method), req_id)
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
