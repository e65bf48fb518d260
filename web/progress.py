"""Rate and time left of a long job, as its progress line says them; when a job writes its progress."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from django.template.defaultfilters import filesizeformat
from django.utils import timezone


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def rate_and_time_left(done: int, total: int, started: dt.datetime | None, *, unit: str = "files") -> str:
    """ "12.5 MB/s · about 3 min left" (unit "bytes") or "40 files/s · about 9 s left"; "" before a rate is known."""
    if started is None or done <= 0:
        return ""
    elapsed = (timezone.now() - started).total_seconds()
    if elapsed <= 0.5:
        return ""
    rate = done / elapsed
    shown = (
        f"{filesizeformat(rate)}/s"
        if unit == "bytes"
        else f"{rate:,.0f} {unit}/s"
        if rate >= 10
        else f"{rate:.1f} {unit}/s"
    )
    if total > done:
        return f"{shown} · about {_duration((total - done) / rate)} left"
    return shown


def rate_and_estimate(done: int, expected: int, started: dt.datetime | None, *, unit: str = "files") -> str:
    """Like rate_and_time_left, for a job whose total is only an estimate (0: none yet):
    never empty, "estimating…" for what is not known yet ("40 objects/s · time left
    estimating…" once the job outgrew its estimate)."""
    line = rate_and_time_left(done, expected, started, unit=unit)
    if not line:
        return "estimating…"
    if "left" not in line:
        return f"{line} · time left estimating…"
    return line


class ProgressThrottle:
    """Says when a long job should write its progress: every `every` items, or once
    `seconds` passed since the last write with something new, whichever comes first, so a
    fast job writes a row per `every` items (never one per item) and a slow one still
    shows life every few seconds."""

    def __init__(self, *, every: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.seconds = seconds
        self.clock = clock
        self.pending = 0
        self.last = clock()

    def due(self, advanced: int = 1) -> bool:
        """Count `advanced` items; True (and start over) when a write is due now."""
        self.pending += advanced
        if self.pending <= 0:
            return False
        now = self.clock()
        if self.pending >= self.every or now - self.last >= self.seconds:
            self.pending = 0
            self.last = now
            return True
        return False

    def written(self) -> None:
        """The job wrote its progress for another reason (a full batch): start over."""
        self.pending = 0
        self.last = self.clock()
