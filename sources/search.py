"""Search over a source's index: a name substring, a glob over the key, size and date ranges.

Every filter is SQL, so a search costs a page and a capped count, never a scan in Python.
Both read the partial index source_object_search (the live files of a source in key order,
with their size and date) or source_object_search_size (the same by size, for a size
range) without touching the table, and stop early: a page once it is full, the count at
COUNT_CAP + 1. The count is taken on the first page only; the cursor carries it to the
next ones. A size range is counted in size order, so its count also notes the first
matching key, where the page's walk in key order then starts.

A glob becomes filters on that index: its literal head as a key range, a LIKE (GLOB on
SQLite) pattern that matches a superset, the number of "/" in the key when the glob has no
"**" (which makes the superset exact), and a regular expression only for what remains. A
name substring is found by a trigram index (pg_trgm on PostgreSQL, FTS5 on SQLite) when few
names contain it; when many do, walking the keys in order fills a page at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, Lookup, Min, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Length, Replace

from sources.models import Source, SourceObject, SourceObjectQuerySet
from web.cursors import InvalidCursor, decode_cursor, encode_cursor
from web.errors import ApplicationError

COUNT_CAP = 100_000
# SQLite: a name substring goes through the trigram index when at most this many names hold
# it; past that, the matches are common enough that walking the keys in order fills a page
# sooner than sorting every candidate.
TRIGRAM_CANDIDATES = 5_000


class InvalidSearch(ApplicationError, ValueError):
    """A search the index cannot answer (422), with a message for the user, and the field at
    fault ("" when it is none of the form's, such as a damaged cursor)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class _PatternLookup(Lookup):
    """`<column> <operator> <pattern>`, for the pattern operators Django has no lookup for."""

    operator = ""
    suffix = ""

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} {self.operator} {rhs}{self.suffix}", (*lhs_params, *rhs_params)


@CharField.register_lookup
class Like(_PatternLookup):
    """`path__like="raw/%.csv"`: SQL LIKE with backslash escapes, case as the database has it."""

    lookup_name = "like"
    operator = "LIKE"
    suffix = " ESCAPE '\\'"


@CharField.register_lookup
class SqliteGlob(_PatternLookup):
    """`path__sqlite_glob="raw/*.csv"`: SQLite's own GLOB, case-sensitive, `*` crossing "/"."""

    lookup_name = "sqlite_glob"
    operator = "GLOB"


@dataclass(frozen=True)
class Glob:
    literal_head: str  # the characters before the first wildcard
    like: str  # a LIKE pattern matching every key the glob matches (and maybe more)
    sqlite_glob: str  # the same superset as a SQLite GLOB pattern (case-sensitive, unlike its LIKE)
    regex: str  # the exact match, anchored
    exact: bool  # the superset patterns (with `slashes`) match exactly what the glob does
    # Without "**", a matching key has exactly as many "/" as the glob: then no wildcard can
    # have matched a "/", so the superset patterns, whose wildcards cross "/", become exact.
    slashes: int | None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sqlite_glob_escape(text: str) -> str:
    return "".join(f"[{char}]" if char in "*?[" else char for char in text)


def parse_glob(pattern: str) -> Glob:
    """`*` and `?` stay inside one folder, `**` crosses folders, `[...]` is a character class."""
    regex: list[str] = []
    like: list[str] = []
    native: list[str] = []
    head_end: int | None = None
    # "%" and "*" in the superset patterns cross "/", so they are exact only where the glob
    # crosses folders too: "**", and a "*" right after "**/" ("**/*.csv" is "%.csv").
    exact = True
    has_class = False  # "[...]" is "_" / "?" in the superset patterns: any character
    literal_slashes = 0
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char in "*?[" and head_end is None:
            head_end = index
        if pattern.startswith("**/", index):
            regex.append("(?:.*/)?")
            like.append("%")
            native.append("*")
            index += 3
            if pattern.startswith("*", index) and not pattern.startswith("**", index):
                regex.append("[^/]*")
                index += 1
        elif pattern.startswith("**", index):
            regex.append(".*")
            like.append("%")
            native.append("*")
            index += 2
        elif char == "*":
            regex.append("[^/]*")
            like.append("%")
            native.append("*")
            exact = False
            index += 1
        elif char == "?":
            regex.append("[^/]")
            like.append("_")
            native.append("?")
            exact = False
            index += 1
        elif char == "[":
            end = pattern.find("]", index + 2)
            if end == -1:
                raise InvalidSearch("The glob has a “[” without its closing “]”.", field="glob")
            body = pattern[index + 1 : end]
            negated = body.startswith("!")
            members = re.escape(body[1:] if negated else body).replace("\\-", "-")
            regex.append(f"[^/{members}]" if negated else f"[{members}]")
            like.append("_")
            native.append("?")
            has_class = True
            index = end + 1
        else:
            literal_slashes += char == "/"
            regex.append(re.escape(char))
            like.append(_like_escape(char))
            native.append(_sqlite_glob_escape(char))
            index += 1
    crosses_folders = "**" in pattern
    return Glob(
        literal_head=pattern[: len(pattern) if head_end is None else head_end],
        like=re.sub("%+", "%", "".join(like)),
        sqlite_glob=re.sub(r"\*+", "*", "".join(native)),
        regex="^" + "".join(regex) + "$",
        exact=(exact or not crosses_folders) and not has_class,
        slashes=None if crosses_folders else literal_slashes,
    )


@dataclass(frozen=True)
class Search:
    q: str = ""
    glob: str = ""
    min_size: int | None = None
    max_size: int | None = None
    modified_after: dt.datetime | None = None
    modified_before: dt.datetime | None = None

    def is_empty(self) -> bool:
        return not (self.q or self.glob) and all(
            value is None for value in (self.min_size, self.max_size, self.modified_after, self.modified_before)
        )

    def as_json(self) -> dict[str, Any]:
        """Its fields as JSON values (dates as ISO 8601 text), for a job to keep."""
        values = dataclasses.asdict(self)
        for name in ("modified_after", "modified_before"):
            if values[name] is not None:
                values[name] = values[name].isoformat()
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Search:
        dates = {
            name: dt.datetime.fromisoformat(values[name])
            for name in ("modified_after", "modified_before")
            if values.get(name) is not None
        }
        return cls(**{**values, **dates})


def _key_range(head: str) -> Q:
    """Keys starting with head: a range of the key index on both databases (on PostgreSQL
    the key column is in the "C" collation, where ranges are code-point ranges)."""
    return Q(path__gte=head, path__lt=head + "\U0010ffff")


def _name_candidates(q: str) -> RawSQL | None:
    """SQLite: the ids of the rows whose name may contain q, from the FTS5 trigram index, or
    None when q is too short for trigrams or too common for the ids to be worth sorting.

    The trigram index folds case as icontains does (and more), so it finds a superset and
    the icontains filter stays the exact test. PostgreSQL's planner uses its pg_trgm index on
    UPPER(name) by itself.
    """
    if connection.vendor != "sqlite" or len(q) < 3:
        return None
    phrase = '"' + q.replace('"', '""') + '"'
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM source_object_name_trigram "
            "WHERE source_object_name_trigram MATCH %s LIMIT %s)",
            [phrase, TRIGRAM_CANDIDATES + 1],
        )
        (found,) = cursor.fetchone()
    if found > TRIGRAM_CANDIDATES:
        return None
    return RawSQL("SELECT rowid FROM source_object_name_trigram WHERE source_object_name_trigram MATCH %s", [phrase])


def matches(source: Source, search: Search) -> SourceObjectQuerySet:
    """The indexed files that match, in key order."""
    rows: SourceObjectQuerySet = SourceObject.objects.filter(source=source, is_dir=False, vanished_at__isnull=True)
    if search.glob:
        glob = parse_glob(search.glob)
        if glob.literal_head:
            rows = rows.filter(_key_range(glob.literal_head))
        # SQLite's LIKE ignores case, its GLOB does not; PostgreSQL's LIKE does not.
        if connection.vendor == "sqlite":
            rows = rows.filter(path__sqlite_glob=glob.sqlite_glob)
        else:
            rows = rows.filter(path__like=glob.like)
        if glob.slashes is not None:
            slashes = Length("path") - Length(Replace("path", Value("/"), Value("")))
            rows = rows.alias(slashes=slashes).filter(slashes=glob.slashes)
        if not glob.exact:
            rows = rows.filter(path__regex=glob.regex)
    if search.q:
        candidates = _name_candidates(search.q)
        if candidates is not None:
            rows = rows.filter(id__in=candidates)
        rows = rows.filter(name__icontains=search.q)
    if search.min_size is not None:
        rows = rows.filter(size__gte=search.min_size)
    if search.max_size is not None:
        rows = rows.filter(size__lte=search.max_size)
    if search.modified_after is not None:
        rows = rows.filter(last_modified__gte=search.modified_after)
    if search.modified_before is not None:
        rows = rows.filter(last_modified__lt=search.modified_before)
    return rows.order_by("path")


def search_count(source: Source, search: Search, *, cap: int | None = None) -> tuple[int, bool]:
    """How many files match, exact up to `cap`; (cap, False) means "more than cap"."""
    return _count(matches(source, search), COUNT_CAP if cap is None else cap)


def _count(rows: SourceObjectQuerySet, cap: int) -> tuple[int, bool]:
    # Only the key is selected, so the count reads a search index alone.
    counted = rows.order_by().values("path")[: cap + 1].count()
    return (cap, False) if counted > cap else (counted, True)


def _count_and_first(rows: SourceObjectQuerySet, cap: int) -> tuple[int, bool, str | None]:
    """The capped count, and the first matching key when every match was counted (None
    when none match, or more than `cap` do).

    For a size range, which the database counts through the size-led index: its order
    says nothing of where the matches lie in key order, and the smallest key it counted is
    the first match of all when it counted them all. Reading that key costs a little for
    each match counted (at most cap + 1 of them), and is read in the same pass.
    """
    found = rows.order_by().values("path")[: cap + 1].aggregate(counted=Count("*"), first=Min("path"))
    if found["counted"] > cap:
        return cap, False, None
    return found["counted"], True, found["first"]


@dataclass(frozen=True)
class SearchPage:
    rows: list[SourceObject]
    next_cursor: str  # "" after the last page
    total: int  # matches, exact up to COUNT_CAP
    exact: bool  # False: more than `total`


def search_page(source: Source, search: Search, *, cursor: str = "", limit: int = 200) -> SearchPage:
    """One page of matches, with the count of all of them.

    The first page counts; its cursor carries the count (and the last key shown) to the
    next page, which then costs one query. Raises InvalidSearch for a damaged cursor.
    """
    rows = matches(source, search)
    if cursor:
        try:
            after, total, exact = decode_cursor(cursor, str, int, bool)
        except InvalidCursor as error:
            raise InvalidSearch(error.message) from None
        page = rows.filter(path__gt=after)
    else:
        first: str | None = None
        if search.min_size is None and search.max_size is None:
            total, exact = _count(rows, COUNT_CAP)
        else:
            total, exact, first = _count_and_first(rows, COUNT_CAP)
        if total == 0:  # counted exactly: nothing to walk the index for
            return SearchPage([], "", 0, True)
        # The page walks the key index from the first match, not from the source's first key:
        # a size range whose few matches lie far down the keys (a size and date range on an
        # old part of the bucket) would otherwise read most of that index a second time.
        page = rows if first is None else rows.filter(path__gte=first)
    # The keys of the page first, from the search index alone (its filters compare columns
    # the index holds), then their rows: walking past many non-matching keys never reads
    # the table, on SQLite or PostgreSQL.
    keys = page.values("path")[: limit + 1]
    found = list(SourceObject.objects.filter(source=source, path__in=keys).order_by("path"))
    if len(found) <= limit:
        return SearchPage(found, "", total, exact)
    found = found[:limit]
    return SearchPage(found, encode_cursor(found[-1].path, total, exact), total, exact)


def common_folder(first: str, last: str) -> str:
    """The deepest folder ("a/b/") holding every path from first to last in key order."""
    shared = 0
    for left, right in zip(first, last, strict=False):
        if left != right:
            break
        shared += 1
    return first[:shared].rpartition("/")[0] + "/" if "/" in first[:shared] else ""
