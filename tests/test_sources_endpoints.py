"""Storage endpoints: which addresses the S3 and Azure clients may reach, checked at connect time.

Nothing here leaves the machine: name resolution is scripted, and any attempt to connect
to an address that is not loopback fails the test before a packet is sent.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from sources import services
from sources.backends import StorageError
from sources.backends.azure import AzureBackend
from sources.backends.network import address_allowed
from sources.endpoints import EndpointRefused, check_endpoint
from tests.conftest import AZURITE_ACCOUNT, AzureServer, S3Server
from tests.test_sources_backends import s3_backend

PUBLIC_ADDRESS = "8.8.8.8"  # never contacted: the connect guard below fails the test first
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


@pytest.fixture
def no_traffic_off_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not ipaddress.ip_address(address[0]).is_loopback:
            pytest.fail(f"a connection to {address[0]} was attempted")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch, no_traffic_off_this_machine: None) -> Callable[[str, list[str]], None]:
    """Script the answers for names under .rebind.test: one per lookup, the last one repeated."""
    answers: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in answers:
            if name.endswith(".rebind.test"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return _real_getaddrinfo(host, port, *args, **kwargs)
        queue = answers[name]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lambda name, addresses: answers.__setitem__(name, list(addresses))


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT, where some clouds keep their metadata service
        "169.254.169.254",
        "10.0.0.1",
        "127.0.0.2",
        "0.0.0.0",  # noqa: S104
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.2",
        "2002:7f00:2::1",  # 6to4 of 127.0.0.2
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a00:1",  # local-use NAT64
    ],
)
def test_it_refuses_every_address_that_is_not_global(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), [])


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1", "2002:808:808::1", "64:ff9b::808:808"])
def test_it_allows_public_addresses(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), [])


def test_it_allows_internal_addresses_that_the_allowlist_names() -> None:
    assert address_allowed(ipaddress.ip_address("100.64.0.1"), [ipaddress.ip_network("100.64.0.0/10")])
    assert address_allowed(ipaddress.ip_address("::ffff:10.1.2.3"), [ipaddress.ip_network("10.0.0.0/8")])


@pytest.mark.parametrize(
    "host", ["127.0.0.2", "0x7f000002", "2130706434", "[::ffff:127.0.0.2]", "100.64.0.1", "[2002:7f00:2::1]"]
)
def test_it_refuses_endpoints_spelled_as_internal_addresses(host: str, settings: Any) -> None:
    settings.SOURCE_ENDPOINT_ALLOWLIST = ["127.0.0.1"]
    with pytest.raises(EndpointRefused, match="internal address"):
        check_endpoint(f"http://{host}:9000")


def test_it_refuses_an_s3_endpoint_that_rebinds_to_loopback_after_the_check(
    seaweed: S3Server, s3_bucket: str, dns: Any, settings: Any, owner: Any
) -> None:
    settings.SOURCE_ENDPOINT_ALLOWLIST = []
    port = urlsplit(seaweed.endpoint_url).port
    # Public when the source is checked, then the test's S3 server on 127.0.0.1.
    dns("storage.rebind.test", [PUBLIC_ADDRESS, "127.0.0.1"])
    fields = {**seaweed.source_fields(s3_bucket), "endpoint_url": f"http://storage.rebind.test:{port}"}
    credentials = {name: fields.pop(name) for name in ("access_key_id", "secret_access_key")}
    fields.pop("kind")

    with pytest.raises(StorageError, match=r"internal address \(127\.0\.0\.1\)") as refused:
        services.source_create(owner=owner, kind="s3", fields=fields, credentials=credentials)
    assert refused.value.reason == "config"


def test_it_refuses_to_read_an_object_once_the_name_rebinds(
    seaweed: S3Server, s3_bucket: str, dns: Any, settings: Any
) -> None:
    settings.SOURCE_ENDPOINT_ALLOWLIST = []
    seaweed.client().put_object(Bucket=s3_bucket, Key="secret.txt", Body=b"internal answer")
    port = urlsplit(seaweed.endpoint_url).port
    dns("storage.rebind.test", [PUBLIC_ADDRESS, "127.0.0.1"])
    check_endpoint(f"http://storage.rebind.test:{port}")
    backend = s3_backend(seaweed, s3_bucket, endpoint_url=f"http://storage.rebind.test:{port}")

    with pytest.raises(StorageError, match="internal address") as refused:
        backend.read("secret.txt", length=64 * 1024)
    assert refused.value.reason == "config"


def test_it_checks_the_virtual_host_name_of_the_bucket(
    seaweed: S3Server, s3_bucket: str, dns: Any, settings: Any
) -> None:
    settings.SOURCE_ENDPOINT_ALLOWLIST = []
    port = urlsplit(seaweed.endpoint_url).port
    dns("s3.rebind.test", [PUBLIC_ADDRESS])
    dns(f"{s3_bucket}.s3.rebind.test", ["127.0.0.2"])
    check_endpoint(f"http://s3.rebind.test:{port}")  # the endpoint itself looks public
    backend = s3_backend(seaweed, s3_bucket, endpoint_url=f"http://s3.rebind.test:{port}", addressing_style="virtual")

    with pytest.raises(StorageError, match=rf"“{s3_bucket}\.s3\.rebind\.test” resolves to an internal") as refused:
        backend.check()
    assert refused.value.reason == "config"


def test_it_refuses_an_azure_endpoint_that_rebinds_to_loopback(
    azurite: AzureServer, azure_container: str, dns: Any, settings: Any
) -> None:
    settings.SOURCE_ENDPOINT_ALLOWLIST = []
    port = urlsplit(azurite.account_url).port
    host = f"{AZURITE_ACCOUNT}.blob.core.rebind.test"  # the SDK reads the account name from it
    dns(host, [PUBLIC_ADDRESS, "127.0.0.1"])
    account_url = f"http://{host}:{port}"
    check_endpoint(account_url)
    backend = AzureBackend(
        {"bucket": azure_container, "endpoint_url": account_url}, {"account_key": azurite.account_key}
    )

    with pytest.raises(StorageError, match=r"internal address \(127\.0\.0\.1\)") as refused:
        backend.check()
    assert refused.value.reason == "config"


@pytest.fixture
def redirecting_server(no_traffic_off_this_machine: None) -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that redirects every request to a second one, which records its hits."""
    hits: list[str] = []

    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)

    class Redirect(Target):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{target.server_port}/internal{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for server in (target, origin):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{origin.server_port}/{AZURITE_ACCOUNT}", hits
    for server in (target, origin):
        server.shutdown()
        server.server_close()


def test_it_does_not_follow_redirects_from_azure(redirecting_server: tuple[str, list[str]], azurite: Any) -> None:
    account_url, hits = redirecting_server
    backend = AzureBackend({"bucket": "data", "endpoint_url": account_url}, {"account_key": azurite.account_key})

    with pytest.raises(StorageError):
        backend.check()
    assert hits == []
