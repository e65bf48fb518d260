"""Versions sealed before PackageVersion.source_ids existed get theirs from the migration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from sources.models import Source

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = [("packager", "0006_version_publications")]
AFTER = [("packager", "0007_version_source_ids")]


@pytest.fixture(autouse=True)
def latest_schema_after() -> Iterator[None]:
    """The tests after this one find every table: the schema goes back to the latest migrations."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_migration_notes_each_published_versions_sources(owner: Any) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Package = apps.get_model("packager", "Package")
    PackageVersion = apps.get_model("packager", "PackageVersion")
    VersionEntry = apps.get_model("packager", "VersionEntry")
    # The sources app is at its latest state: its model as it is now.
    sources = [Source.objects.create(owner=owner, name=f"s{index}", kind="local") for index in range(3)]
    package = Package.objects.create(owner_id=owner.pk, name="old")
    published = PackageVersion.objects.create(package=package, number=1, state="published")
    running = PackageVersion.objects.create(package=package, number=2, state="checksumming")
    for version in (published, running):
        for index, source in enumerate([sources[2], sources[0], sources[2], None]):
            VersionEntry.objects.create(
                package_version=version,
                position=index,
                path=f"f{index}",
                kind="text" if source is None else "pointer",
                source_id=source.pk if source else None,
            )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    versions = apps.get_model("packager", "PackageVersion").objects
    assert versions.get(pk=published.pk).source_ids == [sources[0].pk, sources[2].pk]
    assert versions.get(pk=running.pk).source_ids == []  # noted when it is sealed
