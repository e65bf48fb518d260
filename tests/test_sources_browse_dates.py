"""The folder page's fast timestamp filters write exactly what Django's `date` filter does."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone

MOMENTS = [
    dt.datetime(2024, 5, 1, 13, 45, 59, 123456, tzinfo=dt.UTC),
    dt.datetime(2023, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(2024, 3, 31, 1, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    None,
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/Los_Angeles"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_minute_and_iso_time_write_what_the_date_filter_writes(zone: str, moment: dt.datetime | None) -> None:
    with timezone.override(zone):
        ours = Template("{% load sources_tags %}{{ v|minute }}|{{ v|iso_time }}").render(Context({"v": moment}))
        django = Template('{{ v|date:"Y-m-d H:i" }}|{{ v|date:"c" }}').render(Context({"v": moment}))
    assert ours == django
