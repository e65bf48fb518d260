"""The HTTP Range header (RFC 9110), read in one place for every view that answers it."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date, parse_http_date_safe

# (first, last) of one byte range; (None, n) is the last n bytes.
Spec = tuple[int | None, int | None]


def byte_ranges(header: str) -> list[Spec] | None:
    """The ranges of a `bytes=` Range header; None when it is absent or not well-formed
    (which a server answers as if there were no Range header)."""
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes" or not ranges.strip():
        return None
    specs: list[Spec] = []
    for spec in ranges.split(","):
        first, dash, last = (part.strip() for part in spec.partition("-"))
        if not dash or not (first or last) or not all(_digits(part) for part in (first, last) if part):
            return None
        if first and last and int(last) < int(first):
            return None
        specs.append((int(first) if first else None, int(last) if last else None))
    return specs


def _digits(text: str) -> bool:
    # isdigit() is true of "¹" and "²", which int() refuses: only ASCII digits count.
    return text.isascii() and text.isdigit()


def _satisfiable(spec: Spec, size: int) -> bool:
    first, last = spec
    if first is not None:
        return first < size
    return last is not None and last > 0 and size > 0


def range_is_unsatisfiable(header: str, size: int) -> bool:
    """True when every range of a well-formed `bytes=` Range header starts at or past the
    end of `size` bytes: the answer is 416."""
    specs = byte_ranges(header)
    if not specs:
        return False
    return not any(_satisfiable(spec, size) for spec in specs)


def single_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(start, end) inclusive of a one-range header; None to send everything (no header, a
    malformed one, or several ranges); "unsatisfiable" for a 416."""
    specs = byte_ranges(header)
    if specs is None or len(specs) != 1:
        return None
    if not _satisfiable(specs[0], size):
        return "unsatisfiable"
    first, last = specs[0]
    if first is None:
        return max(size - (last or 0), 0), size - 1
    return first, min(last, size - 1) if last is not None else size - 1


def bytes_response(
    request: HttpRequest, body: bytes, *, content_type: str, etag: str, last_modified: dt.datetime | None
) -> HttpResponse:
    """A small file packager serves itself, as HTTP clients expect a file: Content-Length,
    ETag (a strong validator: `etag` is the quoted content hash), Last-Modified, and an answer
    to If-None-Match (304), If-Modified-Since (304) and a one-range Range header (206, or 416
    past the end; several ranges get the whole file)."""
    validators = {"ETag": etag}
    if last_modified is not None:
        validators["Last-Modified"] = http_date(last_modified.timestamp())
    if not_modified(request, etag=etag, last_modified=last_modified):
        response = HttpResponse(status=304)
        for name, value in validators.items():
            response[name] = value
        return response
    size = len(body)
    wanted = single_range(request.headers.get("Range", ""), size)
    if_range = request.headers.get("If-Range")
    if wanted is not None and if_range is not None and if_range != etag:
        wanted = None  # the client's copy is another version: send it all
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416, content_type="text/plain; charset=utf-8")
        response["Content-Range"] = f"bytes */{size}"
    elif isinstance(wanted, tuple):
        start, end = wanted
        response = HttpResponse(body[start : end + 1], status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = HttpResponse(body, content_type=content_type)
    response["Content-Length"] = str(len(response.content))
    response["Accept-Ranges"] = "bytes"
    for name, value in validators.items():
        response[name] = value
    return response


def not_modified(request: HttpRequest, *, etag: str, last_modified: dt.datetime | None) -> bool:
    """Whether the client's copy is current (If-None-Match wins over If-Modified-Since)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and last_modified is not None and int(last_modified.timestamp()) <= since
