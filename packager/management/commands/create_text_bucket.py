"""Create the bucket (or container) of TEXT_STORAGE if it does not exist yet; run before the web starts."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the bucket or container that TEXT_STORAGE=s3/azure keeps text files in, if it is missing."

    def handle(self, *args: Any, **options: Any) -> None:
        storage: Any = default_storage
        if settings.TEXT_STORAGE == "local":
            self.stdout.write("TEXT_STORAGE=local: no bucket to create.")
            return
        if settings.TEXT_STORAGE == "s3":
            client = storage.connection.meta.client
            try:
                client.head_bucket(Bucket=storage.bucket_name)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
                    raise CommandError(f"The text bucket {storage.bucket_name!r} cannot be reached: {error}") from error
                client.create_bucket(Bucket=storage.bucket_name)
                self.stdout.write(f"Created the text bucket {storage.bucket_name!r}.")
                return
            self.stdout.write(f"The text bucket {storage.bucket_name!r} exists.")
            return
        from azure.core.exceptions import ResourceExistsError

        try:
            storage.client.create_container()
        except ResourceExistsError:
            self.stdout.write(f"The text container {storage.azure_container!r} exists.")
        else:
            self.stdout.write(f"Created the text container {storage.azure_container!r}.")
