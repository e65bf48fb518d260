"""The folder page writes what Django's filters would: its fast timestamp filters, and the rows
it works out in Python (sources.browse.folder_rows)."""

from __future__ import annotations

import datetime as dt
import unicodedata
import zoneinfo

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils import timezone

from sources import names
from sources.browse import LiveEntry, folder_rows, iso_time, minute
from sources.models import SourceObject

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
        ours = f"{minute(moment)}|{iso_time(moment)}"
        django = Template('{{ v|date:"Y-m-d H:i" }}|{{ v|date:"c" }}').render(Context({"v": moment}))
    assert ours == django


# The folder page's rows as its template wrote them with Django's filters, before
# folder_rows worked their values out in Python.
ROWS_WITH_FILTERS = """{% load humanize sources_tags %}{% for row in rows %}
<tr>
  <td><input type="checkbox" name="paths" value="{{ folder }}{{ row.name }}" aria-label="Select {{ row.name|visible }}"></td>
  {% if row.is_dir %}
  <td class="name"><span class="icon folder" aria-hidden="true"></span><a href="{{ urls.browse }}{{ folder|add:row.name|urlencode }}">{{ row.name|visible }}</a></td>
  {% if row.file_count is None %}<td class="num muted">—</td>{% else %}<td class="num">{{ row.size|filesizeformat }} <span class="muted">· {{ row.file_count|intcomma }} file{{ row.file_count|pluralize }}</span></td>{% endif %}
  <td></td>
  {% else %}
  <td class="name"><a href="{{ urls.object }}{{ folder|add:row.name|urlencode }}">{{ row.name|visible }}</a></td>
  <td class="num">{{ row.size|filesizeformat }}</td>
  <td title="{{ row.last_modified|date:"c" }}">{{ row.last_modified|date:"Y-m-d H:i" }}</td>
  {% endif %}
</tr>
{% endfor %}"""


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles"])
def test_folder_rows_show_what_the_filters_showed(zone: str) -> None:
    folder = "raw/<2024> & co/"
    moment = dt.datetime(2024, 5, 1, 13, 45, 59, 123456, tzinfo=dt.UTC)
    rows: list[SourceObject | LiveEntry] = [
        SourceObject(name="one/", is_dir=True, size=1536, file_count=1),
        SourceObject(name="many/", is_dir=True, size=5 * 1024**3, file_count=1234567),
        LiveEntry(path=folder + "live/", name="live/", is_dir=True),  # file count not known
        SourceObject(name='a "quoted" <b>&amp; name.csv', size=0, last_modified=moment),
        SourceObject(name="invoice\u202efdp.exe", size=1, last_modified=moment),  # hidden characters
        SourceObject(name="été #1 ?x=%41+y.txt", size=10**15, last_modified=None),
        LiveEntry(path=folder + "plain.bin", name="plain.bin", is_dir=False, size=999, last_modified=moment),
    ]
    urls = {"browse": "/sources/x/browse/", "object": "/sources/x/object/"}
    with timezone.override(zone):
        ours = render_to_string(
            "sources/_rows.html",
            {"folder_rows": folder_rows(rows, folder, browse_url=urls["browse"], object_url=urls["object"])},
        )
        filtered = Template(ROWS_WITH_FILTERS).render(Context({"rows": rows, "folder": folder, "urls": urls}))
    assert ours.strip() == filtered.strip()
    assert "&lt;U+202E&gt;" in ours and "1,234,567 files" in ours and "%C3%A9t%C3%A9%20%231" in ours


def test_visible_writes_out_every_hidden_character_and_nothing_else() -> None:
    hidden = [chr(code) for code in range(0x110000) if unicodedata.category(chr(code)) in {"Cc", "Cf"}]
    assert len(hidden) > 150
    for char in hidden:
        assert names.visible(f"a{char}b") == f"a<U+{ord(char):04X}>b"
    # Unprintable to Python but not hidden (separators, surrogates, unassigned): kept as they are.
    for name in ["été.csv", "数据.parquet", "a\u00a0b", "x\u2028y", "\U0001f642.txt", "a\ud800", "\U000e0080"]:
        assert names.visible(name) == name
