"""The process environment binmon runs in, injectable for tests (as httpie does)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO


@dataclass
class Environment:
    stdout: BinaryIO = field(default_factory=lambda: sys.stdout.buffer)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdout_isatty: bool = field(default_factory=lambda: sys.stdout.isatty())
    stderr_isatty: bool = field(default_factory=lambda: sys.stderr.isatty())
    no_color: bool = field(default_factory=lambda: "NO_COLOR" in os.environ)
    # Tests pin the terminal size; None means "ask the terminal".
    width: int | None = None
    height: int | None = None
    # Wall-clock seconds; tests pin it to judge "in the future" against fixed data.
    clock: Callable[[], float] = time.time
