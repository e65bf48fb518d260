"""The bucket or container of a django-storages storage (S3 or Azure) that keeps packager's
own files (TEXT_STORAGE): storage-library calls stay in the backends."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from sources.backends.errors import StorageError


def storage_bucket_ensure(storage: Any, kind: str) -> bool:
    """Create the bucket (kind "s3") or container ("azure") of `storage` if it is missing;
    True when it was created. StorageError when the bucket cannot be reached."""
    if kind == "s3":
        client = storage.connection.meta.client
        try:
            client.head_bucket(Bucket=storage.bucket_name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
                raise StorageError(f"The text bucket {storage.bucket_name!r} cannot be reached: {error}") from error
            client.create_bucket(Bucket=storage.bucket_name)
            return True
        return False
    from azure.core.exceptions import ResourceExistsError

    try:
        storage.client.create_container()
    except ResourceExistsError:
        return False
    return True
