"""Which network addresses the storage clients may connect to, checked at connect time.

A source's endpoint is chosen by a user. Checking its host name once, when the source is
saved, is not enough: boto3 and azure-core resolve the name again for every new
connection (a DNS record can change in between: "DNS rebinding"), and with virtual-host
addressing boto3 connects to `<bucket>.<endpoint host>`, a name nobody checked. So every
connection these clients open goes through the connection classes below: they resolve the
name themselves, refuse it when any of its addresses is not a public (global) address, and
connect to exactly the addresses they checked.

Addresses and host names in SOURCE_ENDPOINT_ALLOWLIST (an in-house MinIO, the test
servers on 127.0.0.1) are let through. An allow-listed name covers its subdomains, the
virtual-host names of its buckets.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import requests
from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError

from sources.backends.errors import StorageError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 ranges that carry an IPv4 address inside (6to4, NAT64): they are only as public as
# the IPv4 address they lead to.
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# NAT64 for a local network (RFC 8215): leads inside by definition.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


class AddressRefused(StorageError):
    """A storage client tried to connect to an address outside the allow-list.

    Not a connection error: the client libraries let it through unwrapped (botocore wraps
    it once, see find_refusal) instead of retrying what can only be refused again.
    """

    reason = "config"

    def __init__(self, host: str, address: str) -> None:
        super().__init__(
            f"The endpoint “{host}” resolves to an internal address ({address}), which is not "
            "allowed. An administrator can allow it with SOURCE_ENDPOINT_ALLOWLIST."
        )
        self.host = host
        self.address = address


def allowlist() -> tuple[set[str], list[Network]]:
    """The host names and the networks of SOURCE_ENDPOINT_ALLOWLIST."""
    names: set[str] = set()
    networks: list[Network] = []
    for item in settings.SOURCE_ENDPOINT_ALLOWLIST:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.lower().rstrip("."))
    return names, networks


def host_allowed(host: str, names: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == name or host.endswith("." + name) for name in names)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_allowed(address: Address, networks: Iterable[Network]) -> bool:
    """A public address, or one the allow-list names."""
    networks = list(networks)
    if any(address in network for network in networks):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_allowed(embedded, networks)
    return address.is_global


def parse_address(value: str) -> Address:
    return ipaddress.ip_address(value.split("%")[0])


def checked_addresses(host: str, port: int) -> list[str] | None:
    """The addresses `host` resolves to, every one allowed; None for an allow-listed name.

    AddressRefused names the first address that is not allowed; socket.gaierror when the
    name does not resolve.
    """
    names, networks = allowlist()
    if host_allowed(host, names):
        return None
    addresses: list[str] = []
    for info in socket.getaddrinfo(host.strip("[]"), port, proto=socket.IPPROTO_TCP):
        address = parse_address(str(info[4][0]))
        if not address_allowed(address, networks):
            raise AddressRefused(host, str(address))
        if str(address) not in addresses:
            addresses.append(str(address))
    return addresses


class GuardedConnectionMixin:
    """Connects only to addresses it has checked itself, resolving the name once."""

    def _new_conn(self) -> socket.socket:
        connection: Any = self
        try:
            addresses = checked_addresses(connection._dns_host, connection.port)
        except socket.gaierror as error:
            raise NameResolutionError(connection.host, connection, error) from error
        if addresses is None:
            return super()._new_conn()  # type: ignore[misc]
        name = connection._dns_host
        failure: NewConnectionError | None = None
        for address in addresses:
            # urllib3 connects to _dns_host; `host` (TLS server name, Host header) derives
            # from it, so the name is restored before anything else reads it.
            connection._dns_host = address
            try:
                sock: socket.socket = super()._new_conn()  # type: ignore[misc]
            except NewConnectionError as error:
                failure = error
                continue
            finally:
                connection._dns_host = name
            peer = parse_address(str(sock.getpeername()[0]))
            if not address_allowed(peer, allowlist()[1]):  # cannot happen; never trust it blindly
                sock.close()
                raise AddressRefused(connection.host, str(peer))
            return sock
        assert failure is not None
        raise failure


# botocore's connection classes and urllib3's type hints disagree on a few methods.
class _GuardedAWSHTTPConnection(GuardedConnectionMixin, AWSHTTPConnection):  # type: ignore[misc]
    pass


class _GuardedAWSHTTPSConnection(GuardedConnectionMixin, AWSHTTPSConnection):  # type: ignore[misc]
    pass


class _GuardedAWSHTTPConnectionPool(AWSHTTPConnectionPool):
    ConnectionCls = _GuardedAWSHTTPConnection


class _GuardedAWSHTTPSConnectionPool(AWSHTTPSConnectionPool):
    ConnectionCls = _GuardedAWSHTTPSConnection


class _GuardedHTTPConnection(GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def guard_boto_client(client: Any) -> None:
    """Make a botocore client open its connections through the guarded classes.

    botocore keeps one dict of pool classes per HTTP session and hands that same dict to
    its pool managers (also the proxy ones), so updating it covers every connection.
    tests/test_sources_endpoints.py fails if a botocore release stops honouring it.
    """
    pool_classes = client._endpoint.http_session._pool_classes_by_scheme
    pool_classes.update({"http": _GuardedAWSHTTPConnectionPool, "https": _GuardedAWSHTTPSConnectionPool})


class GuardedAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter (for azure-core's transport) whose connections are guarded."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }


def guarded_session() -> requests.Session:
    session = requests.Session()
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def connection_failure(error: BaseException | None) -> StorageError | None:
    """A DNS or TLS failure somewhere behind an error that a client library wrapped."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (NameResolutionError, socket.gaierror)):
            return StorageError("The endpoint's host name does not resolve (DNS).", reason="dns")
        if isinstance(error, ssl.SSLError) or type(error).__name__ in {"SSLError", "SSLCertVerificationError"}:
            return StorageError(
                "The TLS handshake with the endpoint failed: check its https:// URL and certificate.", reason="tls"
            )
        seen.add(id(error))
        inner = getattr(error, "kwargs", {}).get("error")  # botocore's HTTPClientError
        error = inner if isinstance(inner, BaseException) else (error.__cause__ or error.__context__)
    return None


def find_refusal(error: BaseException | None) -> AddressRefused | None:
    """The AddressRefused behind an error that a client library wrapped."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, AddressRefused):
            return error
        seen.add(id(error))
        inner = getattr(error, "kwargs", {}).get("error")  # botocore's HTTPClientError
        error = inner if isinstance(inner, BaseException) else (error.__cause__ or error.__context__)
    return None
