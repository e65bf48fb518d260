"""Jobs for isolation workers in tests (a small module: a worker imports it by name)."""

from __future__ import annotations

import time


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
