"""Defaults a user can change with a flag, each stated once.

Imported by the click layer (for ``--help``) and by the core alike, so it
imports nothing.
"""

from __future__ import annotations

from typing import Final

# Reconnect when the asset index (a 1 s stream) has been silent this long.
STALE_AFTER: Final = 10.0
# Open a replacement connection after this long: Binance closes at 24 h.
MAX_CONNECTION_AGE: Final = 23 * 3600.0
# A feed alert when a stream has not been connected and delivering this long.
ALERT_AFTER: Final = 30.0
# --exec: commands at once, and how long each may run.
EXEC_MAX_RUNNING: Final = 4
EXEC_TIMEOUT: Final = 30.0
# --account: how often the signed account is read again.
ACCOUNT_EVERY: Final = 30.0
