"""Who packager's own signed links were issued for, so that withdrawing that stops them.

A local-folder source has no storage service to presign for: its links point back at
packager (sources.views.local_file). A link issued through a share carries the grant
"share:<id>"; the app that issues such links registers how to tell whether the grant
still stands (shares does, when it starts), so a revoked share's links stop at once
instead of living out their lifetime. Storage URLs signed by S3 or Azure cannot be
recalled like this; they are short-lived instead.
"""

from __future__ import annotations

from collections.abc import Callable

_checks: dict[str, Callable[[str], bool]] = {}


def register(kind: str, check: Callable[[str], bool]) -> None:
    _checks[kind] = check


def grant_stands(grant: str) -> bool:
    """An unknown kind of grant never stands."""
    kind, _, value = grant.partition(":")
    check = _checks.get(kind)
    return check is not None and check(value)
