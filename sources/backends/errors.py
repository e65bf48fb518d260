"""The errors every storage backend raises: the only part of the backends views may import."""

from __future__ import annotations

from web.errors import ApplicationError


class StorageError(ApplicationError):
    """A failure talking to storage, with a message a user can act on (never a credential)."""

    #: a short machine-readable reason: auth, not_found, unreachable, timeout, config, other
    reason = "other"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        if reason:
            self.reason = reason
        # What the user can fix (credentials, a missing object, a setting) is refused with
        # 422; the storage service failing or not answering is 502.
        super().__init__(message, status=422 if self.reason in {"auth", "not_found", "config"} else 502)


class ObjectNotFound(StorageError):
    reason = "not_found"


class SigningUnsupported(StorageError):
    reason = "config"
