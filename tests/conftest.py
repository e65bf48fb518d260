"""Fixtures: users, and real storage servers started once per test session on 127.0.0.1.

- S3: SeaweedFS behind a proxy as strict as AWS (`seaweed`, `s3_bucket`; tests/s3_servers.py).
- Azure Blob: Azurite from npm, which does check SAS signatures.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from django.test import Client

from config.celery import app as celery_app
from tests.s3_servers import S3Server, s3_bucket, seaweed
from tests.servers import RedisServer, ServerProcess

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
# Azurite's well-known development account (public, documented emulator credentials).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

__all__ = ["S3Server", "s3_bucket", "seaweed"]  # the S3 fixtures, and what tests import from here

# Unit tests run Celery tasks in the calling thread, and a task's error fails the test that
# ran it; tests/test_tasks_worker.py runs a real worker.
celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True


@dataclass(frozen=True)
class AzureServer:
    account_url: str
    account_key: str = AZURITE_KEY

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={self.account_key};"
            f"BlobEndpoint={self.account_url};"
        )

    def service(self) -> BlobServiceClient:
        return BlobServiceClient(self.account_url, credential=self.account_key)

    def source_fields(self, container: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": f"azure {container}",
            "kind": "azure",
            "account_url": self.account_url,
            "container": container,
            "account_key": self.account_key,
            **extra,
        }


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureServer]:
    executable = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if not executable.exists():
        raise RuntimeError("Azurite is not installed: run `make install-test` (npm ci).")
    workdir = tmp_path_factory.mktemp("azurite")
    server = ServerProcess.spawn(
        "azurite",
        lambda port: [
            str(executable),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--silent",
            "--skipApiVersionCheck",
            "--inMemoryPersistence",
        ],
        cwd=workdir,  # its debug and extent files, if any, stay out of the repository
    )
    yield AzureServer(account_url=f"http://127.0.0.1:{server.port}/{AZURITE_ACCOUNT}")
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture
def azure_container(azurite: AzureServer) -> str:
    name = f"container-{uuid.uuid4().hex[:12]}"
    azurite.service().create_container(name)
    return name


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections and never answers: an endpoint that times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stopping.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stopping.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture(scope="session", autouse=True)
def _static_root() -> None:
    """Whitenoise warns when STATIC_ROOT is missing; tests serve static files from the finders."""
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(exist_ok=True)


@pytest.fixture(autouse=True)
def _test_settings(settings: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    settings.SOURCE_ENDPOINT_ALLOWLIST = ["127.0.0.1", "localhost"]
    # Tests keep their local-folder sources in pytest's temporary folders, beside the demo's.
    settings.LOCAL_SOURCE_ROOTS = [*settings.LOCAL_SOURCE_ROOTS, str(tmp_path_factory.getbasetemp())]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The access log counts in memory as in production; tests that read counts flush it
    # (shares.access_log.access_log_flush), and what a test left unwritten is dropped.
    settings.ACCESS_LOG_FLUSH_EVENTS = 1_000_000
    settings.ACCESS_LOG_FLUSH_SECONDS = 3600
    # Every resolve looks its share up afresh; tests of the lookup cache turn it on.
    settings.RESOLVE_CACHE_SECONDS = 0


@pytest.fixture(autouse=True)
def _unwritten_access_log_dropped() -> Iterator[None]:
    from shares import access_log

    yield
    access_log.access_log_discard()


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("olivia", password="owner-password-1")


@pytest.fixture
def outsider(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("oscar", password="outsider-password-1")


@pytest.fixture
def admin_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("ada", password="admin-password-1", is_staff=True)


API = "/api/v1"


class Api:
    """A tiny JSON client with a bearer token."""

    def __init__(self, client: Client, token: str | None) -> None:
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        kwargs: dict[str, Any] = dict(self.headers)
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif params:
            kwargs["data"] = params
        return getattr(self.client, method)(API + path, **kwargs)


@pytest.fixture
def api(owner: Any) -> Api:
    from packager.services import api_token_create

    _, token = api_token_create(user=owner, name="tests")
    return Api(Client(), token)


@pytest.fixture
def outsider_api(outsider: Any) -> Api:
    from packager.services import api_token_create

    _, token = api_token_create(user=outsider, name="tests")
    return Api(Client(), token)


@pytest.fixture
def owner_client(client: Any, owner: Any) -> Any:
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(client: Any, outsider: Any) -> Any:
    client.force_login(outsider)
    return client


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture
def wget() -> str:
    path = shutil.which("wget")
    if path is None:
        raise RuntimeError("wget is not installed: run `make install-test`.")
    return path
