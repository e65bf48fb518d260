"""Browsing a large index: one folder page, a deep cursor page, a name filter, and the
package tree of a large package. Prints figures; `make bench-browse` runs it on a throwaway
SQLite database (DATABASE_URL picks another database).

The baseline is the first page: a page deep into a folder should cost about the same,
which is what keyset pagination on the (source, parent, is_dir, name) index buys.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packager.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.timing import median_seconds  # noqa: E402
from packager.models import Package, PackageEntry  # noqa: E402
from packager.services import package_folders_rebuild  # noqa: E402
from packager.tree import list_package_folder  # noqa: E402
from sources.models import Source, SourceObject, encode_cursor  # noqa: E402
from web.cursors import encode_cursor as encode_page_cursor  # noqa: E402

PAGE = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=200_000, help="objects in one folder of the index")
    parser.add_argument("--entries", type=int, default=100_000, help="entries in one package")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    source = Source.objects.create(owner=user, name="bench", kind="local", local_path=tempfile.gettempdir())
    start = time.perf_counter()
    SourceObject.objects.bulk_create(
        (
            SourceObject(
                source=source, path=f"big/f{index:07d}.bin", parent="big/", name=f"f{index:07d}.bin", size=index
            )
            for index in range(args.objects)
        ),
        batch_size=5000,
    )
    load_seconds = time.perf_counter() - start

    def page(cursor: str = "", name: str = "") -> list[SourceObject]:
        return list(SourceObject.objects.children(source, "big/", cursor=cursor, name_contains=name)[:PAGE])

    deep_cursor = encode_cursor(False, f"f{args.objects - 2 * PAGE:07d}.bin")
    first_ms = median_seconds(page, args.repeat) * 1000
    deep_ms = median_seconds(lambda: page(deep_cursor), args.repeat) * 1000
    filter_ms = median_seconds(lambda: page(name="99999"), args.repeat) * 1000

    package = Package.objects.create(owner=user, name="bench", slug="bench")
    PackageEntry.objects.bulk_create(
        (
            PackageEntry(
                package=package,
                path=f"d{index % 100:02d}/f{index:07d}.bin",
                parent=f"d{index % 100:02d}/",
                kind="pointer",
                size=index,
            )
            for index in range(args.entries)
        ),
        batch_size=5000,
    )
    package_folders_rebuild(package=package)
    # The third page of a folder: after its 400th file.
    third = encode_page_cursor("f", f"d42/f{399 * 100 + 42:07d}.bin")
    tree_ms = median_seconds(lambda: list_package_folder(package, "d42/", cursor=third), args.repeat) * 1000

    print(f"index: {args.objects:,} objects in one folder, written at {args.objects / load_seconds:,.0f} rows/s")
    print(f"first page of {PAGE}:            {first_ms:8.2f} ms")
    print(f"page near the end (cursor):    {deep_ms:8.2f} ms  ({deep_ms / first_ms:.2f}x the first page)")
    print(f"name filter over the folder:   {filter_ms:8.2f} ms")
    print(f"package tree, {args.entries:,} entries:  {tree_ms:8.2f} ms for one folder page")


if __name__ == "__main__":
    main()
