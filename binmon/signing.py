"""Binance request signing (HMAC-SHA256 of the exact query string). Pure."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode


def sign(query: str, secret: str) -> str:
    """Hex HMAC-SHA256 of ``query`` with ``secret``, as Binance expects."""
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


def signed_query(params: dict[str, str | int], secret: str) -> str:
    """``params`` as a query string with ``&signature=`` appended.

    The signature covers the exact text sent, so the same string must be used
    for the request: never let the HTTP client re-encode it.
    """
    query = urlencode(params)
    return f"{query}&signature={sign(query, secret)}"


def verify(query: str, signature: str, secret: str) -> bool:
    return hmac.compare_digest(sign(query, secret), signature)
