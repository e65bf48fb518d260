"""The errors every storage backend raises: the only part of the backends views may import."""

from __future__ import annotations

from web.errors import ApplicationError

USER_FIXABLE = frozenset({"auth", "permission", "not_found", "config", "dns", "tls"})

#: reason -> the part of a connection a person checks first
PARTS = {
    "dns": "DNS: the endpoint's host name does not resolve",
    "tls": "TLS: the endpoint's certificate or HTTPS setup was refused",
    "unreachable": "Network: nothing answered at the endpoint",
    "timeout": "Network: the endpoint did not answer in time",
    "auth": "Credentials: the storage service refused them",
    "permission": "Permission: the credentials are valid but may not do this",
    "not_found": "Bucket or container: not found",
    "config": "Settings: the endpoint, region or addressing",
    "other": "Storage service: an unexpected answer",
}


class StorageError(ApplicationError):
    """A failure talking to storage, with a message a user can act on (never a credential)."""

    #: a short machine-readable reason: dns, tls, auth (credentials refused), permission
    #: (credentials accepted, action denied), not_found, unreachable, timeout, config, other
    reason = "other"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        if reason:
            self.reason = reason
        # What the user can fix (credentials, a missing object, a setting) is refused with
        # 422; the storage service failing or not answering is 502.
        super().__init__(message, status=422 if self.reason in USER_FIXABLE else 502)

    @property
    def part(self) -> str:
        """Which part of a connection failed, as the source form names it."""
        return PARTS.get(self.reason, PARTS["other"])


class ObjectNotFound(StorageError):
    reason = "not_found"


class SigningUnsupported(StorageError):
    reason = "config"
