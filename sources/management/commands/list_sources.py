from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sources.models import Source


class Command(BaseCommand):
    help = "List sources: name, owner, kind, location, status, object count. Never secrets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        sources = Source.objects.select_related("owner").order_by("owner__username", "name")
        if options["owner"]:
            sources = sources.filter(owner__username=options["owner"])
        rows = [("NAME", "OWNER", "KIND", "LOCATION", "STATUS", "OBJECTS")]
        rows += [(s.name, s.owner.get_username(), s.kind, s.location, s.status, str(s.object_count)) for s in sources]
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
