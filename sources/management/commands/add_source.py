from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sources import services
from sources.backends.errors import StorageError
from sources.models import Source

# Secrets may come from the environment so that they stay out of shell history.
SECRET_ENVIRONMENT = {
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
    "account_key": "AZURE_STORAGE_KEY",
    "sas_token": "AZURE_STORAGE_SAS_TOKEN",
    "connection_string": "AZURE_STORAGE_CONNECTION_STRING",
}


class Command(BaseCommand):
    help = "Connect a bucket, container or server folder as a source of USER."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--kind", required=True, choices=Source.Kind.values)
        parser.add_argument("--owner", required=True, help="user name of the owner")
        parser.add_argument("--bucket", default="", help="S3 bucket")
        parser.add_argument("--container", default="", help="Azure container")
        parser.add_argument("--prefix", default="")
        parser.add_argument("--endpoint-url", default="", help="S3 endpoint URL (empty for AWS)")
        parser.add_argument("--account-url", default="", help="Azure account URL")
        parser.add_argument("--region", default="")
        parser.add_argument("--addressing-style", default="auto", choices=Source.AddressingStyle.values)
        parser.add_argument("--path", default="", help="folder on the server (kind local)")
        parser.add_argument("--presign-ttl", type=int, default=None, help="download link lifetime in seconds")
        for name, variable in SECRET_ENVIRONMENT.items():
            parser.add_argument(f"--{name.replace('_', '-')}", default="", help=f"or set {variable}")
        parser.add_argument("--no-check", action="store_true", help="save without testing the connection")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["owner"]).first()
        if user is None:
            raise CommandError(f"No user named “{options['owner']}”.")
        credentials = {
            name: options[name] or os.environ.get(variable, "") for name, variable in SECRET_ENVIRONMENT.items()
        }
        fields = {
            "name": options["name"],
            "bucket": options["bucket"] or options["container"],
            "prefix": options["prefix"],
            "endpoint_url": options["endpoint_url"] or options["account_url"],
            "region": options["region"],
            "addressing_style": options["addressing_style"],
            "local_path": options["path"],
            "presign_ttl": options["presign_ttl"],
        }
        try:
            source = services.source_create(
                owner=user,
                kind=options["kind"],
                fields=fields,
                credentials=credentials,
                check=not options["no_check"],
                trusted=True,
            )
        except ValidationError as error:
            messages = [f"{field}: {'; '.join(errors)}" for field, errors in error.message_dict.items()]
            raise CommandError("\n".join(messages)) from error
        except StorageError as error:
            raise CommandError(f"Connection test failed: {error.message}") from error
        self.stdout.write(self.style.SUCCESS(f"Added source “{source.name}” ({source.public_id}); indexing queued."))
