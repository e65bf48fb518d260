"""The HTTP Range header (RFC 9110), read in one place for every view that answers it."""

from __future__ import annotations

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
