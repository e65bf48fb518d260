"""Small builders for tests: sources on the real test servers, indexed synchronously."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sources import services
from sources.models import Source


def make_source(owner: Any, fields: dict[str, Any], *, index: bool = True) -> Source:
    data = dict(fields)
    kind = data.pop("kind")
    credentials = {key: data.pop(key) for key in services.CREDENTIAL_NAMES if key in data}
    if "container" in data:
        data["bucket"] = data.pop("container")
    if "account_url" in data:
        data["endpoint_url"] = data.pop("account_url")
    if "path" in data:
        data["local_path"] = data.pop("path")
    source = services.source_create(
        owner=owner, kind=kind, fields=data, credentials=credentials, index=False, trusted=True
    )
    if index:
        services.source_index(source_pk=source.pk)
        source.refresh_from_db()
    return source


def make_local_source(owner: Any, folder: Path, name: str = "local") -> Source:
    return make_source(owner, {"name": name, "kind": "local", "path": str(folder)})


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for key, content in files.items():
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def store_objects(
    s3_client: Any, bucket: str, s3_objects: dict[str, bytes], container: Any, azure_objects: dict[str, bytes]
) -> None:
    """Put objects in an S3 bucket and an Azure container (a ContainerClient)."""
    for key, content in s3_objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=content)
    for key, content in azure_objects.items():
        container.upload_blob(key, content)


def publish(package: Any, message: str = "", created_by: Any = None) -> Any:
    """Publish the package's draft as its next version, synchronously, and return it published."""
    from packager import versions

    version = versions.package_publish(package=package, message=message, created_by=created_by)
    versions.version_publish_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.state == "published", (version.state, version.error, version.failed_paths)
    package.refresh_from_db()
    return version
