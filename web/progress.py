"""Rate and time left of a long job, as its progress line says them."""

from __future__ import annotations

import datetime as dt

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
