"""The storage backends against real servers: SeaweedFS (S3), Azurite (Azure Blob), a folder."""

from __future__ import annotations

import datetime as dt
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sources.backends import ObjectNotFound, SigningUnsupported, StorageError
from sources.backends.azure import AzureBackend
from sources.backends.local import LocalBackend
from sources.backends.s3 import S3Backend
from tests.conftest import AzureServer, S3Server

ODD_KEYS = [
    "with space/a b.txt",
    "unicode/dätä-ü.csv",
    "plus/a+b.txt",
    "percent/100%.txt",
    "hash/#1.txt",
    "question/why?.txt",
]


def s3_backend(server: S3Server, bucket: str, **config: Any) -> S3Backend:
    return S3Backend(
        {
            "bucket": bucket,
            "endpoint_url": server.endpoint_url,
            "region": server.region,
            "addressing_style": "path",
            **config,
        },
        {"access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key},
    )


def fetch(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_it_lists_stats_reads_and_signs_s3_objects_with_odd_keys(seaweed: S3Server, s3_bucket: str) -> None:
    client = seaweed.client()
    for index, key in enumerate(ODD_KEYS):
        client.put_object(Bucket=s3_bucket, Key=key, Body=f"content {index}".encode())
    backend = s3_backend(seaweed, s3_bucket)

    listed = list(backend.iter_objects())
    assert sorted(info.key for info in listed) == sorted(ODD_KEYS)
    for index, key in enumerate(ODD_KEYS):
        info = backend.stat(key)
        assert info.size == len(f"content {index}")
        assert backend.read(key) == f"content {index}".encode()
        assert backend.read(key, length=4) == b"cont"
        status, body = fetch(backend.sign_url(key))
        assert (status, body) == (200, f"content {index}".encode()), key
        status, body = fetch(backend.sign_url(key, method="HEAD"), method="HEAD")
        assert status == 200


def test_it_pins_versions_in_a_versioned_s3_bucket(seaweed: S3Server, s3_bucket: str) -> None:
    client = seaweed.client()
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    first = client.put_object(Bucket=s3_bucket, Key="data.csv", Body=b"first")["VersionId"]
    second = client.put_object(Bucket=s3_bucket, Key="data.csv", Body=b"second version")["VersionId"]
    backend = s3_backend(seaweed, s3_bucket)

    [info] = list(backend.iter_objects())
    assert info.version_id == second
    assert info.size == len(b"second version")
    assert fetch(backend.sign_url("data.csv", version_id=first)) == (200, b"first")
    assert backend.stat("data.csv", version_id=first).size == len(b"first")


def test_it_reports_s3_errors_clearly(seaweed: S3Server, s3_bucket: str) -> None:
    with pytest.raises(StorageError) as unknown_bucket:
        s3_backend(seaweed, "no-such-bucket-here").check()
    assert unknown_bucket.value.reason == "not_found"
    assert "does not exist" in unknown_bucket.value.message

    with pytest.raises(ObjectNotFound):
        s3_backend(seaweed, s3_bucket).stat("missing.txt")

    unreachable = S3Backend(
        {"bucket": "b", "endpoint_url": "http://127.0.0.1:9", "addressing_style": "path", "connect_timeout": 1},
        {"access_key_id": "a", "secret_access_key": "b"},
    )
    with pytest.raises(StorageError) as refused:
        unreachable.check()
    assert refused.value.reason == "unreachable"
    assert "Could not connect" in refused.value.message


def test_a_source_without_keys_never_borrows_the_servers_own_identity(
    seaweed: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server's AWS_* variables (or ~/.aws, or its role) can read this bucket; a source saved
    without keys must still be refused, not served with the server's identity."""
    seaweed.client().put_object(Bucket=s3_bucket, Key="secret.csv", Body=b"a,b\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_access_key)
    (tmp_path / "credentials").write_text(
        f"[default]\naws_access_key_id = {seaweed.access_key_id}\naws_secret_access_key = {seaweed.secret_access_key}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    keyless = S3Backend(
        {
            "bucket": s3_bucket,
            "endpoint_url": seaweed.endpoint_url,
            "region": seaweed.region,
            "addressing_style": "path",
        },
        {},
    )
    for attempt in (keyless.check, lambda: keyless.stat("secret.csv"), lambda: keyless.sign_url("secret.csv")):
        with pytest.raises(StorageError) as refused:
            attempt()
        assert refused.value.reason == "auth" and refused.value.message == "No credentials are set for this source."
    # The same bucket with the keys given to the source answers.
    assert s3_backend(seaweed, s3_bucket).stat("secret.csv").size == 4


def test_it_lists_and_signs_azure_blobs_and_azurite_refuses_a_tampered_sas(
    azurite: AzureServer, azure_container: str
) -> None:
    container = azurite.service().get_container_client(azure_container)
    for index, key in enumerate(ODD_KEYS):
        container.upload_blob(key, f"blob {index}".encode())
    backend = AzureBackend(
        {"bucket": azure_container, "endpoint_url": azurite.account_url}, {"account_key": azurite.account_key}
    )

    assert sorted(info.key for info in backend.iter_objects()) == sorted(ODD_KEYS)
    for index, key in enumerate(ODD_KEYS):
        assert backend.stat(key).size == len(f"blob {index}")
        url = backend.sign_url(key, expires_in=60)
        assert fetch(url) == (200, f"blob {index}".encode()), key
        assert fetch(url, method="HEAD")[0] == 200

    url = backend.sign_url(ODD_KEYS[0], expires_in=60)
    signature = url.split("sig=")[1].split("&")[0]
    tampered = url.replace(f"sig={signature}", "sig=" + ("A" if signature[0] != "A" else "B") + signature[1:])
    assert fetch(tampered)[0] == 403
    # A URL for one blob does not open another.
    other = url.replace("with%20space/a%20b.txt", "plus/a%2Bb.txt")
    assert other != url
    assert fetch(other)[0] == 403


def test_it_connects_to_azure_with_a_connection_string_and_refuses_to_sign_with_a_sas_token(
    azurite: AzureServer, azure_container: str
) -> None:
    azurite.service().get_container_client(azure_container).upload_blob("a.txt", b"hello")
    by_string = AzureBackend(
        {"bucket": azure_container, "endpoint_url": ""}, {"connection_string": azurite.connection_string}
    )
    by_string.check()
    assert fetch(by_string.sign_url("a.txt")) == (200, b"hello")

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    sas = generate_container_sas(
        "devstoreaccount1",
        azure_container,
        account_key=azurite.account_key,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    by_sas = AzureBackend({"bucket": azure_container, "endpoint_url": azurite.account_url}, {"sas_token": sas})
    assert [info.key for info in by_sas.iter_objects()] == ["a.txt"]
    with pytest.raises(SigningUnsupported):
        by_sas.sign_url("a.txt")


def test_it_reports_azure_errors_clearly(azurite: AzureServer, azure_container: str) -> None:
    wrong_key = AzureBackend(
        {"bucket": azure_container, "endpoint_url": azurite.account_url},
        {"account_key": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="},
    )
    with pytest.raises(StorageError) as auth:
        wrong_key.check()
    assert auth.value.reason == "auth"

    missing = AzureBackend(
        {"bucket": "no-such-container", "endpoint_url": azurite.account_url}, {"account_key": azurite.account_key}
    )
    with pytest.raises(StorageError) as not_found:
        missing.check()
    assert not_found.value.reason == "not_found"

    with pytest.raises(ObjectNotFound):
        AzureBackend(
            {"bucket": azure_container, "endpoint_url": azurite.account_url}, {"account_key": azurite.account_key}
        ).stat("nope")


def test_it_keeps_local_sources_inside_their_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_bytes(b"inside")
    (tmp_path / "secret.txt").write_bytes(b"outside")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    backend = LocalBackend({"path": str(root), "source_id": "x"}, {})

    assert [info.key for info in backend.iter_objects()] == ["sub/a.txt"]
    assert backend.read("sub/a.txt") == b"inside"
    for escape in ("../secret.txt", "link.txt", "sub/../../secret.txt", "/etc/passwd"):
        with pytest.raises(ObjectNotFound):
            backend.read(escape)
