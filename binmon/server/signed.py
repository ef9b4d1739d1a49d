"""Binance's checks for a signed (USER_DATA) REST request, with its error codes and wording."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from binmon.server import ServerConfig
from binmon.signing import verify

_MANDATORY: Final = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."
_ILLEGAL: Final = "Illegal characters found in parameter '{}'; legal range is '^[0-9]{{1,20}}$'."
_AHEAD: Final = "Timestamp for this request was 1000ms ahead of the server's time."
_RECV_WINDOW_DEFAULT: Final = 5000
_RECV_WINDOW_MAX: Final = 60000


def api_error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _int_param(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) <= 20 else None


def check_signed(request: web.Request, config: ServerConfig, now_ms: int) -> web.Response | None:
    """Binance's checks for a USER_DATA request; an error response, or None when it passes."""
    key = request.headers.get("X-MBX-APIKEY")
    if not key or not key.isascii() or not key.isalnum():
        return api_error(401, -2014, "API-key format invalid.")
    if key != config.api_key:
        return api_error(401, -2015, "Invalid API-key, IP, or permissions for action.")
    raw = request.rel_url.raw_query_string
    parts = raw.split("&") if raw else []
    signatures = [p for p in parts if p.startswith("signature=")]
    params = request.query
    if "timestamp" not in params or not params["timestamp"]:
        return api_error(400, -1102, _MANDATORY.format("timestamp"))
    if len(signatures) != 1 or signatures[0] == "signature=":
        return api_error(400, -1102, _MANDATORY.format("signature"))
    # The signature covers the exact query text sent, minus the signature itself.
    signed = "&".join(p for p in parts if not p.startswith("signature="))
    if not verify(signed, signatures[0].removeprefix("signature="), config.api_secret):
        return api_error(400, -1022, "Signature for this request is not valid.")
    timestamp = _int_param(params["timestamp"])
    if timestamp is None:
        return api_error(400, -1100, _ILLEGAL.format("timestamp"))
    recv_window = _RECV_WINDOW_DEFAULT
    if "recvWindow" in params:
        parsed = _int_param(params["recvWindow"])
        if parsed is None:
            return api_error(400, -1100, _ILLEGAL.format("recvWindow"))
        if parsed > _RECV_WINDOW_MAX:
            return api_error(400, -1131, "recvWindow must be less than 60000")
        recv_window = parsed
    if timestamp >= now_ms + 1000:
        return api_error(400, -1021, _AHEAD)
    if now_ms - timestamp > recv_window:
        return api_error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return None
