"""Prometheus' own tools for the tests: find them, or say why not (a failure under CI=1)."""

from __future__ import annotations

import os
import shutil

import pytest


def tool(name: str) -> str:
    """Path of ``prometheus`` or ``promtool``; skips (fails in CI) when it is not installed."""
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
    )
    if path is not None:
        return path
    reason = f"{name} is not installed (Debian: apt-get install prometheus)"
    if os.environ.get("CI") == "1":
        pytest.fail(f"{reason}; CI=1 requires it")
    pytest.skip(reason)
