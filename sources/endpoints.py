"""Which storage endpoints packager may talk to.

A source's endpoint is chosen by a user, so without a check the server could be made to
send requests to its own network (cloud metadata services, internal admin ports).
Endpoints that resolve to any address that is not public (loopback, private, link-local,
carrier-grade NAT, 6to4 or NAT64 addresses leading to one of these...) are refused unless
SOURCE_ENDPOINT_ALLOWLIST names them. This check gives a clear message when a source is
saved; sources.backends.network enforces the same rule on every connection.

(Folders on the server are sources only under LOCAL_SOURCE_ROOTS: sources.backends.local.)
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from sources.backends.errors import StorageError
from sources.backends.network import AddressRefused, checked_addresses


class EndpointRefused(StorageError):
    reason = "config"


QUERY_REFUSED = (
    "The endpoint URL takes no query string or fragment: a secret in it would be stored and shown "
    "as plain text. Give a SAS token or key in its own field, where it is kept encrypted."
)


def endpoint_shape_error(url: str) -> str:
    """What is wrong with an endpoint URL as typed ("" when nothing): never repeats the URL,
    which may carry a secret."""
    if not url:
        return ""
    if not url.startswith(("http://", "https://")):
        return "The endpoint must be an http:// or https:// URL."
    if "?" in url or "#" in url:
        return QUERY_REFUSED
    return ""


def check_endpoint(url: str) -> None:
    """Raise EndpointRefused (or StorageError when it cannot be resolved) for a bad endpoint."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EndpointRefused("The endpoint must be an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise EndpointRefused("Put credentials in their own fields, never in the endpoint URL.")
    if parts.query or parts.fragment:
        raise EndpointRefused(QUERY_REFUSED)
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise EndpointRefused("The endpoint URL has an invalid port.") from error
    try:
        checked_addresses(host, port)
    except AddressRefused as refused:
        raise EndpointRefused(refused.message) from refused
    except (socket.gaierror, UnicodeError) as error:
        raise StorageError(f"Could not resolve the endpoint host “{host}”.", reason="dns") from error
