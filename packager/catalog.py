"""The catalog: the packages a user can see, searched, filtered by team, sorted, a page at a time.

One query for a page whatever its size (totals, downloads and team in the same SELECT),
plus the user's team roles once. Pages are keyset pages: the cursor carries the sort
value and the id of the last package shown.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from packager.models import Package, PackageEntry, PackageFolder
from teams import policy
from web.cursors import InvalidCursor, decode_cursor, encode_cursor

SORTS = ("name", "-name", "updated", "-updated", "size", "-size", "downloads", "-downloads")
# What each sort orders by: a column or an annotation.
_SORT_FIELDS = {"name": "name_key", "updated": "updated_at", "size": "size_key", "downloads": "downloads"}
_DIGITS = re.compile(r"\d+")


def natural_key(name: str) -> str:
    """A text key whose plain order is the natural order of names: "Campaign 2" before
    "Campaign 10". Digit runs are zero-padded to 20 places; case is folded."""
    return _DIGITS.sub(lambda match: match.group().lstrip("0").rjust(20, "0")[-20:], name.casefold())[:400]


def is_readme(path: str) -> bool:
    """The draft's README: the one the package page shows, at the top."""
    return path.casefold() in {"readme.md", "readme", "readme.txt", "readme.rst"}


def catalog_rows(user: Any, *, q: str = "", team: Any = None) -> QuerySet[Package]:
    # Share lives in shares, above packager: its model is reached through the relation.
    share_model: Any = Package._meta.get_field("shares").related_model
    whole = PackageFolder.objects.filter(package=OuterRef("pk"), path="")
    rows = (
        Package.objects.filter(policy.visible(user))
        .select_related("team")
        .annotate(
            entry_count=Coalesce(Subquery(whole.values("file_count")[:1]), Value(0)),
            total_size=Coalesce(Subquery(whole.values("size")[:1]), Value(0)),
            downloads=Coalesce(
                Subquery(
                    share_model.objects.filter(package=OuterRef("pk"))
                    .order_by()
                    .values("package")
                    .annotate(total=Sum(F("zip_count") + F("resolve_count")))
                    .values("total")[:1]
                ),
                Value(0),
            ),
        )
    )
    if team is not None:
        rows = rows.filter(team=team)
    q = q.strip()
    if q:
        in_paths = PackageEntry.objects.filter(package=OuterRef("pk"), path__icontains=q)
        rows = rows.filter(
            Q(name__icontains=q) | Q(description__icontains=q) | Q(readme_text__icontains=q) | Exists(in_paths)
        )
    return rows


@dataclass(frozen=True)
class CatalogPage:
    packages: list[Package]
    next_cursor: str | None


def catalog_page(rows: QuerySet[Package], *, sort: str, cursor: str, limit: int) -> CatalogPage:
    descending = sort.startswith("-")
    field = _SORT_FIELDS[sort.lstrip("-")]
    kind: type = str if field == "name_key" else (str if field == "updated_at" else int)
    if cursor:
        value, last_id = decode_cursor(cursor, kind, int)
        if field == "updated_at":
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                raise InvalidCursor() from None
        after = "lt" if descending else "gt"
        rows = rows.filter(Q(**{f"{field}__{after}": value}) | Q(**{field: value, f"pk__{after}": last_id}))
    order = [f"-{field}", "-pk"] if descending else [field, "pk"]
    page = list(rows.order_by(*order)[: limit + 1])
    if len(page) <= limit:
        return CatalogPage(page, None)
    page = page[:limit]
    last = getattr(page[-1], field)
    return CatalogPage(page, encode_cursor(last.isoformat() if field == "updated_at" else last, page[-1].pk))
