"""Where to connect (the URLs of a run) and where to listen (the metrics), checked first.

Imports nothing heavy: the click layer uses it while parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Endpoints:
    ws_url: str
    rest_url: str
    # Only the testnet may still need the legacy /ws and /stream paths: whether
    # it serves the routed /market ones is not documented.
    legacy_fallback: bool = False


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used, or None."""
    import yarl

    if any(c.isspace() for c in url):
        return "it contains white space"
    try:
        parsed = yarl.URL(url)
        host, port = parsed.host, parsed.port
    except (ValueError, TypeError) as exc:
        return str(exc) or "cannot be parsed"
    if not host:
        return "it has no host"
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range"
    return None


def endpoints(ws_url: str | None, rest_url: str | None, testnet: bool) -> Endpoints:
    from binmon import protocol
    from binmon.errors import FatalConnectionError

    for name, url, schemes in (
        ("--ws-url", ws_url, ("ws://", "wss://")),
        ("--rest-url", rest_url, ("http://", "https://")),
    ):
        if url is None:
            continue
        if not url.lower().startswith(schemes):
            raise FatalConnectionError(
                f"invalid {name} {url!r}: it must start with {' or '.join(schemes)}"
            )
        problem = url_problem(url)
        if problem:
            raise FatalConnectionError(f"invalid {name} {url!r}: {problem}")
    return Endpoints(
        ws_url=ws_url or (protocol.TESTNET_WS_URL if testnet else protocol.DEFAULT_WS_URL),
        rest_url=rest_url or (protocol.TESTNET_REST_URL if testnet else protocol.DEFAULT_REST_URL),
        legacy_fallback=testnet and ws_url is None,
    )


# `binmon exporter`'s default address: loopback, and a port in the Prometheus
# exporter range (9100-9999); see the README ("Unattended").
LISTEN_HOST: Final = "127.0.0.1"
LISTEN_PORT: Final = 9477


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> Listen:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (loopback); ValueError says what is wrong."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 3:
            raise ValueError(f"{text!r}: an IPv6 address goes in brackets, e.g. [::1]:9477")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: an IPv6 address goes in brackets, e.g. [::1]:9477")
    if any(c.isspace() for c in host):
        raise ValueError(f"{text!r}: the host contains white space")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r}: the port must be a number from 0 to 65535")
    return Listen(host or LISTEN_HOST, int(port_text))
