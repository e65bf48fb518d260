"""What other apps do once a version is published, without packager knowing them.

An app that serves versions registers a callback when it starts (shares does: it has its
shares' git repositories built for the new version); the publish run calls every callback
with the version's id once the version is out, after its transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable

_callbacks: dict[str, Callable[[int], None]] = {}


def register(name: str, callback: Callable[[int], None]) -> None:
    _callbacks[name] = callback


def version_published(version_pk: int) -> None:
    for callback in _callbacks.values():
        callback(version_pk)
