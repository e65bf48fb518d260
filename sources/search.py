"""Search over a source's index: a name substring, a glob over the key, size and date ranges.

Every filter is SQL, so a search costs a page and a capped count, never a scan in Python.
A glob becomes three filters: its literal head as a key range (served by the
(source, path) index), a LIKE pattern that matches a superset (served on PostgreSQL by the
trigram index on path), and the exact regular expression for what remains.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import CharField, Lookup, Q

from sources.models import Source, SourceObject, SourceObjectQuerySet, decode_cursor, encode_cursor

COUNT_CAP = 100_000


class InvalidSearch(ValueError):
    """A search the index cannot answer, with a message for the user."""


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
    exact: bool  # the superset patterns match exactly what the glob does: no regex needed


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
                raise InvalidSearch("The glob has a “[” without its closing “]”.")
            body = pattern[index + 1 : end]
            negated = body.startswith("!")
            members = re.escape(body[1:] if negated else body).replace("\\-", "-")
            regex.append(f"[^/{members}]" if negated else f"[{members}]")
            like.append("_")
            native.append("?")
            exact = False
            index = end + 1
        else:
            regex.append(re.escape(char))
            like.append(_like_escape(char))
            native.append(_sqlite_glob_escape(char))
            index += 1
    return Glob(
        literal_head=pattern[: len(pattern) if head_end is None else head_end],
        like=re.sub("%+", "%", "".join(like)),
        sqlite_glob=re.sub(r"\*+", "*", "".join(native)),
        regex="^" + "".join(regex) + "$",
        exact=exact,
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


def _key_range(head: str) -> Q:
    """Keys starting with head, as a range the (source, path) index serves on every database.

    PostgreSQL compares with the column's collation, so its range is the LIKE prefix served
    by the varchar_pattern_ops index instead.
    """
    if connection.vendor == "postgresql":
        return Q(path__like=_like_escape(head) + "%")
    return Q(path__gte=head, path__lt=head + "\U0010ffff")


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
        if not glob.exact:
            rows = rows.filter(path__regex=glob.regex)
    if search.q:
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


def search_page(
    source: Source, search: Search, *, cursor: str = "", limit: int = 200
) -> tuple[list[SourceObject], str]:
    """One page of matches and the cursor of the next ("" after the last)."""
    rows = matches(source, search)
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        rows = rows.filter(path__gt=position[1])
    found = list(rows[: limit + 1])
    if len(found) <= limit:
        return found, ""
    found = found[:limit]
    return found, encode_cursor(False, found[-1].path)


def search_count(source: Source, search: Search, *, cap: int | None = None) -> tuple[int, bool]:
    """How many files match, exact up to `cap`; (cap, False) means "more than cap"."""
    cap = COUNT_CAP if cap is None else cap
    counted = matches(source, search).order_by()[: cap + 1].count()
    return (cap, False) if counted > cap else (counted, True)


def common_folder(first: str, last: str) -> str:
    """The deepest folder ("a/b/") holding every path from first to last in key order."""
    shared = 0
    for left, right in zip(first, last, strict=False):
        if left != right:
            break
        shared += 1
    return first[:shared].rpartition("/")[0] + "/" if "/" in first[:shared] else ""
