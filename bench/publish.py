"""Publishing a version whose checksums packager already knows.

A second package that reuses objects (or a new version of a package) should not read a
byte: publishing is the snapshot, one UPDATE from the checksum cache, and the seal (top
hash, folder aggregates, what the exports precompute). The issue's bar: 100,000 entries in
at most 30 s. The baseline printed beside it, measured in the same run, is the seal alone
(one ordered pass over the entries), the least any publish must do.

`make bench-publish` runs it on a throwaway SQLite database; DATABASE_URL picks another
(for PostgreSQL: `DATABASE_URL=postgres://… make bench-publish`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from packager import checksumming, versions  # noqa: E402
from packager.models import Package, PackageEntry, PackageVersion  # noqa: E402
from sources.models import ObjectChecksum, Source  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(f"bench-{time.time_ns()}")
    source = Source.objects.create(owner=user, name="bench", kind="local", local_path=tempfile.gettempdir())
    package = Package.objects.create(owner=user, name="bench", slug=f"bench-{time.time_ns()}")

    def digest(index: int, algorithm: str) -> str:
        return hashlib.new(algorithm, str(index).encode(), usedforsecurity=False).hexdigest()

    start = time.perf_counter()
    PackageEntry.objects.bulk_create(
        (
            PackageEntry(
                package=package,
                path=f"d{index % 100:02d}/f{index:07d}.bin",
                parent=f"d{index % 100:02d}/",
                kind="pointer",
                source=source,
                key=f"raw/f{index:07d}.bin",
                etag=f"etag-{index}",
                size=index,
            )
            for index in range(args.entries)
        ),
        batch_size=5000,
    )
    ObjectChecksum.objects.bulk_create(
        (
            ObjectChecksum(
                source=source,
                key=f"raw/f{index:07d}.bin",
                etag=f"etag-{index}",
                size=index,
                sha256=digest(index, "sha256"),
                md5=digest(index, "md5"),
            )
            for index in range(args.entries)
        ),
        batch_size=5000,
    )
    setup = time.perf_counter() - start

    start = time.perf_counter()
    version = versions.package_publish(package=package, message="bench")
    snapshot = time.perf_counter() - start
    checksumming.version_publish_run(version_pk=version.pk)
    total = time.perf_counter() - start
    version.refresh_from_db()
    assert version.state == PackageVersion.State.PUBLISHED, (version.state, version.error)

    # The baseline: sealing alone, on the published rows (one ordered pass).
    start = time.perf_counter()
    checksumming._seal(version)
    seal = time.perf_counter() - start

    print(f"database: {connection.vendor}; {args.entries:,} entries with known checksums (setup {setup:.1f} s)")
    print(f"snapshot (the request):     {snapshot:7.2f} s")
    print(f"publish, request to sealed: {total:7.2f} s  (goal ≤ 30 s)")
    print(f"seal alone (baseline):      {seal:7.2f} s  → publish is {total / seal:.2f}x the seal")


if __name__ == "__main__":
    main()
