from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sources import services
from sources.models import Source


class Command(BaseCommand):
    help = "Remove a source (its connection and index; the bucket is not touched)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", default="", help="user name, when several users have a source of that name")

    def handle(self, *args: Any, **options: Any) -> None:
        matches = Source.objects.filter(name=options["name"])
        if options["owner"]:
            matches = matches.filter(owner__username=options["owner"])
        found = list(matches[:2])
        if not found:
            raise CommandError(f"No source named “{options['name']}”.")
        if len(found) > 1:
            raise CommandError("Several users have a source of that name: add --owner.")
        try:
            services.source_delete(source=found[0])
        except services.SourceInUse as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Removed source “{found[0].name}”."))
