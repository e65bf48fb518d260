from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from shares.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo user, local source, package and share link (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        demo = seed_demo()
        base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("packager demo is ready"))
        self.stdout.write(f"  log in:      {base}/login/")
        self.stdout.write(f"  user name:   {demo.username}")
        self.stdout.write(f"  password:    {demo.password}")
        self.stdout.write(f"  share link:  {base}/s/{demo.share.token}/")
        self.stdout.write("")
