#!/usr/bin/env python
from __future__ import annotations

import os
import sys
from pathlib import Path


def use_checkout_secret_key() -> None:
    """Commands run by hand in a checkout where `make run` runs (the README's examples) use
    the same secret key as its server and worker: the random one it keeps in
    var/secret-key. Only when no key is set at all and that file exists; a key is never
    made here, and production, which sets SECRET_KEY or SECRET_KEY_FILE, is unaffected."""
    if os.environ.get("SECRET_KEY", "").strip() or os.environ.get("SECRET_KEY_FILE"):
        return
    var = Path(os.environ.get("PACKAGER_VAR_DIR", Path(__file__).resolve().parent / "var"))
    kept = var / "secret-key"
    if kept.is_file():
        os.environ["SECRET_KEY_FILE"] = str(kept)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    use_checkout_secret_key()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
