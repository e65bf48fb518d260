"""Create the bucket (or container) of TEXT_STORAGE if it does not exist yet; run before the web starts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from sources.backends.errors import StorageError
from sources.backends.storages import storage_bucket_ensure


class Command(BaseCommand):
    help = "Create the bucket or container that TEXT_STORAGE=s3/azure keeps text files in, if it is missing."

    def handle(self, *args: Any, **options: Any) -> None:
        storage: Any = default_storage
        if settings.TEXT_STORAGE == "local":
            self.stdout.write("TEXT_STORAGE=local: no bucket to create.")
            return
        try:
            created = storage_bucket_ensure(storage, settings.TEXT_STORAGE)
        except StorageError as error:
            raise CommandError(error.message) from error
        if settings.TEXT_STORAGE == "s3":
            what, name = "bucket", storage.bucket_name
        else:
            what, name = "container", storage.azure_container
        self.stdout.write(f"Created the text {what} {name!r}." if created else f"The text {what} {name!r} exists.")
