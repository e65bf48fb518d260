from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sources.services import source_rotate_credentials


class Command(BaseCommand):
    help = "Re-encrypt stored source credentials with the first key (after adding a new one)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = source_rotate_credentials()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the credentials of {count} source(s)."))
