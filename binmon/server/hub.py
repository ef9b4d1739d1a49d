"""Who listens to which stream: frames are encoded once and the same bytes go to all."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import msgspec

from binmon.server.sentlog import frame_keys

if TYPE_CHECKING:
    from binmon.server.connection import Connection

ASSET_INDEX_ALL: Final = "!assetIndex@arr"
CONTRACT_INFO: Final = "!contractInfo"
ASSET_STREAM_SUFFIX: Final = "@assetIndex"


def _stream_bytes(name: str) -> bytes:
    return msgspec.json.encode(name)


class Hub:
    """Who listens to which stream; frames are encoded once and shared."""

    def __init__(self, *, keys: bool = False) -> None:
        self._subscribers: dict[str, set[Connection]] = {}
        self._envelope_prefix: dict[str, bytes] = {}
        self.first_subscriber = asyncio.Event()
        # With a sent log: each frame's keys, extracted once for all its subscribers.
        self.keys = keys

    def add(self, stream: str, conn: Connection) -> None:
        self._subscribers.setdefault(stream, set()).add(conn)
        self.first_subscriber.set()

    def discard(self, stream: str, conn: Connection) -> None:
        subs = self._subscribers.get(stream)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self._subscribers[stream]

    def wanted(self, stream: str) -> bool:
        return stream in self._subscribers

    def publish(self, stream: str, payload: bytes) -> None:
        subs = self._subscribers.get(stream)
        if not subs:
            return
        combined: bytes | None = None
        keys = frame_keys(payload) if self.keys else None
        for conn in tuple(subs):
            if conn.combined:
                if combined is None:
                    prefix = self._envelope_prefix.get(stream)
                    if prefix is None:
                        prefix = b'{"stream":' + _stream_bytes(stream) + b',"data":'
                        self._envelope_prefix[stream] = prefix
                    combined = prefix + payload + b"}"
                conn.push(stream, combined, keys)
            else:
                conn.push(stream, payload, keys)
