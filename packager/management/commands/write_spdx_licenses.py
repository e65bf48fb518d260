"""Writes packager/spdx_licenses.py from the SPDX keys of the license index that the
`license-expression` package ships (pip install license-expression first)."""

from __future__ import annotations

import importlib.resources
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

import packager


class Command(BaseCommand):
    help = "Regenerate packager/spdx_licenses.py from license-expression's license index."

    def handle(self, *args: Any, **options: Any) -> None:
        index_file = importlib.resources.files("license_expression") / "data" / "scancode-licensedb-index.json"
        index = json.loads(index_file.read_text())
        ids = sorted(
            {
                entry["spdx_license_key"]
                for entry in index
                if entry.get("spdx_license_key")
                and not entry["spdx_license_key"].startswith("LicenseRef-")
                and not entry["is_exception"]
                and not entry["is_deprecated"]
            },
            key=str.lower,
        )
        lines = [
            '"""SPDX license identifiers a package may name (its `license`): the SPDX License List.',
            "",
            "Generated from the SPDX keys in the license index shipped by the `license-expression` package",
            f"(version {version('license-expression')}; exceptions, deprecated ids and LicenseRef- keys left out)",
            "by `manage.py write_spdx_licenses`.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "SPDX_LICENSE_IDS: frozenset[str] = frozenset(",
            "    {",
            *(f'        "{license_id}",' for license_id in ids),
            "    }",
            ")",
            "",
            "# The form of an id in any case, for case-insensitive look-ups (SPDX ids match that way).",
            "BY_LOWER: dict[str, str] = {license_id.lower(): license_id for license_id in SPDX_LICENSE_IDS}",
            "",
        ]
        target = Path(packager.__file__).parent / "spdx_licenses.py"
        target.write_text("\n".join(lines))
        self.stdout.write(f"{len(ids)} SPDX license ids written to {target}")
