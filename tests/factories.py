"""Small builders for tests: sources on the real test servers, indexed synchronously."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sources import indexing, services
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
        indexing.source_index(source_pk=source.pk)
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
    from packager import checksumming, versions

    version = versions.package_publish(package=package, message=message, created_by=created_by)
    checksumming.version_publish_run(version_pk=version.pk)
    version.refresh_from_db()
    assert version.state == "published", (version.state, version.error, version.failed_paths)
    package.refresh_from_db()
    return version


def insert_rows(model: Any, columns: list[str], rows: Iterable[tuple[Any, ...]], *, batch: int = 10_000) -> None:
    """Rows inserted straight with executemany, for large fixtures and benchmarks (the ORM's
    bulk_create spends more time building SQL than the database spends storing rows)."""
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: executemany would make one round trip per row.
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
        for chunk in _batched(rows, batch):
            cursor.executemany(sql, chunk)


def _batched(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def add_version_entries(
    version: Any, count: int, *, source_id: int, first_position: int, folder: str = "many/"
) -> None:
    """`count` data entries appended to a version as rows: f0000000.bin, f0000001.bin, ..."""
    from packager.models import VersionEntry

    columns = [
        "package_version_id", "position", "path", "parent", "kind", "size", "sha256", "md5",
        "source_id", "key", "version_id", "etag", "text_name", "drift",
    ]  # fmt: skip
    insert_rows(
        VersionEntry,
        columns,
        (
            (version.pk, first_position + index, f"{folder}f{index:07d}.bin", folder, "pointer", index,
             f"{index:064x}", f"{index:032x}", source_id, f"{folder}f{index:07d}.bin", "", f'"{index:032x}"', "", "")
            for index in range(count)
        ),
    )  # fmt: skip
