"""Catalog search: GET /api/v1/packages over 10,000 packages holding 1,000,000 entries in all.

For each kind of query (none; a package name; a word of descriptions; a README word; a
file path matching one entry of the million; a path fragment matching whole packages; a
word nothing matches), the p95 over `--requests` requests through the API (Django's test
client: middleware, bearer token, view, JSON), sorted by name and by size; and the number
of queries a page costs at 10, 50 and 100 packages a page (constant: one for the page,
plus the token and the user's teams). The goal is a p95 of at most 50 ms on PostgreSQL.

`make bench-catalog` runs it on a PostgreSQL server of its own (as the test suite starts
one); `--sqlite` runs it on SQLite instead. Rows go in with COPY (PostgreSQL) or executemany.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PACKAGER_VAR_DIR", tempfile.mkdtemp(prefix="packager-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ.setdefault("LOG_LEVEL", "WARNING")

GOAL_MS = 50.0
WORDS = ["temperature", "salinity", "chlorophyll", "turbidity", "oxygen", "nitrate", "phosphate", "conductivity"]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in all the packages together")
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--sqlite", action="store_true", help="run on SQLite rather than a PostgreSQL server")
    parser.add_argument("--explain", action="store_true", help="print the plan of each search's page query")
    return parser.parse_args()


ARGS = parse()
POSTGRES: Any = None
if not ARGS.sqlite:
    from tests.servers import PostgresServer

    POSTGRES = PostgresServer.start()
    os.environ["DATABASE_URL"] = POSTGRES.url

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from packager.catalog import natural_key  # noqa: E402
from packager.models import Package, PackageEntry, PackageFolder  # noqa: E402
from packager.services import api_token_create  # noqa: E402
from teams.models import Membership, Team  # noqa: E402
from tests.factories import insert_rows  # noqa: E402


def entry_path(package: int, index: int) -> str:
    return f"site-{package % 97:02d}/station-{index % 10}/reading-{package:05d}-{index:04d}.csv"


def build() -> tuple[Any, str]:
    users = get_user_model().objects
    reader = users.create_user("reader")
    other = users.create_user("other")
    teams = [Team.objects.create(name=f"Team {number}") for number in range(ARGS.teams)]
    # The reader is in half the teams: the catalog filters by what they may see.
    Membership.objects.bulk_create(Membership(team=team, user=reader, role="viewer") for team in teams[::2])
    now = timezone.now()
    per_package = ARGS.entries // ARGS.packages
    packages = []
    for number in range(ARGS.packages):
        name = f"Campaign {number}"
        packages.append(
            Package(
                owner=reader if number % 3 == 0 else other,
                team=None if number % 3 == 0 else teams[number % len(teams)],
                name=name,
                slug=f"campaign-{number}",
                name_key=natural_key(name),
                description=f"{WORDS[number % len(WORDS)]} profiles of lake {number % 50}",
                readme_text=f"# {name}\n\nReadings of {WORDS[(number * 7) % len(WORDS)]}, station {number}.\n",
            )
        )
    Package.objects.bulk_create(packages, batch_size=2000)
    ids = list(Package.objects.order_by("pk").values_list("pk", flat=True))
    insert_rows(
        PackageFolder,
        ["package_id", "path", "parent", "size", "file_count"],
        ((pk, "", "", per_package * 1000 * (1 + number % 17), per_package) for number, pk in enumerate(ids)),
    )
    columns = ["package_id", "path", "parent", "kind", "size", "sha256", "md5", "source_id", "key", "version_id"]
    columns += ["etag", "last_modified", "text_file", "created_at", "updated_at"]
    insert_rows(
        PackageEntry,
        columns,
        (
            (pk, path, path.rpartition("/")[0] + "/", "pointer", 1000, "", "", None, path, "", "", None, "", now, now)
            for number, pk in enumerate(ids)
            for index in range(per_package)
            for path in (entry_path(number, index),)
        ),
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    _, token = api_token_create(user=reader, name="bench")
    return reader, token


def percentile95(timings: list[float]) -> float:
    return statistics.quantiles(timings, n=20)[18] if len(timings) >= 2 else timings[0]


def main() -> None:
    try:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        reader, token = build()
        print(
            f"{connection.vendor}: {ARGS.packages:,} packages, {PackageEntry.objects.count():,} entries "
            f"(loaded in {time.perf_counter() - started:.0f} s); the reader sees "
            f"{_visible(reader):,}"
        )
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        middle = ARGS.packages // 2
        searches = {
            "no search": "",
            "a package name": f"Campaign {middle}",
            "a description word": "salinity",
            "a README word": "chlorophyll",
            "one file's path": entry_path(middle - middle % 3, 7).rpartition("/")[2],
            "a folder in many packages": "site-13/",
            "a word in every path": "reading",
            "nothing matches": "zooplankton",
        }
        load = os.getloadavg()[0]
        print(f"p95 of {ARGS.requests} requests, 50 packages a page (goal ≤ {GOAL_MS:.0f} ms; load {load:.1f}):")
        worst = 0.0
        for label, q in searches.items():
            for sort in ("name", "-size"):
                params = {"sort": sort, "limit": 50, **({"q": q} if q else {})}
                response = client.get("/api/v1/packages", params)
                assert response.status_code == 200, response.content
                found = len(response.json()["items"])
                timings, database = [], []
                for _ in range(ARGS.requests):
                    with CaptureQueriesContext(connection) as queries:
                        start = time.perf_counter()
                        client.get("/api/v1/packages", params)
                        timings.append(time.perf_counter() - start)
                    database.append(sum(float(query["time"]) for query in queries.captured_queries))
                p95 = percentile95(timings) * 1000
                worst = max(worst, p95)
                print(
                    f"  {label:27} sort={sort:6} {p95:7.1f} ms, in the database {percentile95(database) * 1000:6.1f} ms"
                    f"  ({found} on the page)"
                )
                if ARGS.explain and connection.vendor == "postgresql":
                    explain(client, params)
        print(f"worst p95: {worst:.1f} ms: {'within' if worst <= GOAL_MS else 'OVER'} the goal")
        print("queries per page:")
        for limit in (10, 50, 100):
            with CaptureQueriesContext(connection) as queries:
                client.get("/api/v1/packages", {"limit": limit})
            print(f"  limit={limit:3}: {len(queries)} queries")
    finally:
        connection.close()
        if POSTGRES is not None:
            POSTGRES.stop()


def _visible(reader: Any) -> int:
    from teams import policy

    return Package.objects.filter(policy.visible(reader)).count()


def explain(client: Client, params: dict[str, Any]) -> None:
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/packages", params)
    page_query = max(queries.captured_queries, key=lambda query: len(query["sql"]))["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + page_query)
        print("\n".join("      " + row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
