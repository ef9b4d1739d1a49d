"""Which proxy a request goes through: HTTP(S)_PROXY and NO_PROXY, as curl reads them.

aiohttp's ``trust_env`` looks up WS_PROXY/WSS_PROXY for WebSocket URLs only,
while users set HTTPS_PROXY and expect wss:// to follow it. Loopback is never
proxied: `binmon demo` and `binmon serve` must work behind a corporate proxy.
"""

from __future__ import annotations

import ipaddress

import aiohttp
import yarl
from aiohttp.helpers import get_env_proxy_for_url

_AS_HTTP = {"ws": "http", "wss": "https"}


def _loopback(host: str | None) -> bool:
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def env_proxy(url: yarl.URL | str) -> tuple[yarl.URL | None, aiohttp.BasicAuth | None]:
    url = url if isinstance(url, yarl.URL) else yarl.URL(url)
    if _loopback(url.host):
        return None, None
    for scheme in (url.scheme, _AS_HTTP.get(url.scheme, url.scheme)):
        try:
            return get_env_proxy_for_url(url.with_scheme(scheme))
        except LookupError:
            continue
    return None, None
