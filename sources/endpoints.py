"""Which storage endpoints packager may talk to.

A source's endpoint is chosen by a user, so without a check the server could be made to
send requests to its own network (cloud metadata services, internal admin ports).
Endpoints that resolve to loopback, private, link-local or otherwise reserved addresses
are refused unless SOURCE_ENDPOINT_ALLOWLIST names them.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from sources.backends.base import StorageError


class EndpointRefused(StorageError):
    reason = "config"


def _allowlist() -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    names: set[str] = set()
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for item in settings.SOURCE_ENDPOINT_ALLOWLIST:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.lower().rstrip("."))
    return names, networks


def _is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def check_endpoint(url: str) -> None:
    """Raise EndpointRefused (or StorageError when it cannot be resolved) for a bad endpoint."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EndpointRefused("The endpoint must be an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise EndpointRefused("Put credentials in their own fields, never in the endpoint URL.")
    host = parts.hostname.lower().rstrip(".")
    names, networks = _allowlist()
    if host in names:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise EndpointRefused("The endpoint URL has an invalid port.") from error
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise StorageError(f"Could not resolve the endpoint host “{host}”.", reason="unreachable") from error
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if _is_internal(address) and not any(address in network for network in networks):
            raise EndpointRefused(
                f"The endpoint “{host}” resolves to an internal address ({address}), which "
                "is not allowed. An administrator can allow it with SOURCE_ENDPOINT_ALLOWLIST."
            )
