from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from packager.services import api_token_create


class Command(BaseCommand):
    help = "Create a personal API token for USER and print it (once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user")
        parser.add_argument("--name", default="command line")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named “{options['user']}”.")
        _, token = api_token_create(user=user, name=options["name"])
        self.stdout.write(token)
