"""A share's git repositories are built when the share is created and when the version it
serves changes, so the first `git clone` finds them ready instead of a 503."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from packager import services as packages
from packager.models import Package
from shares import services
from shares.models import ShareRepository
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def package(owner: Any, tmp_path: Path) -> Package:
    write_files(tmp_path / "data", {"a.csv": b"a,b\n1,2\n"})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Ready set")
    packages.package_add_objects(package=package, source=source, paths=["a.csv"], target="data")
    publish(package)
    return package


def test_the_repositories_are_ready_right_after_the_share_is_created(
    owner: Any, package: Package, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # Celery runs eagerly in the tests
        share = services.share_create(package=package, created_by=owner, base_url="http://testserver")
        keyed = services.share_create(
            package=package, created_by=owner, password="a long password", base_url="http://testserver"
        )
    client = Client()
    for kind in ("annex", "dvc"):
        assert client.get(f"/s/{share.token}/{kind}.git/info/refs").status_code == 200
        assert client.get(f"/s/{keyed.token}/k/{keyed.link_key}/{kind}.git/info/refs").status_code == 200
    assert set(ShareRepository.objects.values_list("state", flat=True)) == {"ready"}
    assert ShareRepository.objects.filter(share=keyed).count() == 4  # plain and key link, two kinds


def test_a_new_version_gets_its_repositories_built_as_it_is_published(
    owner: Any, package: Package, django_capture_on_commit_callbacks: Any, tmp_path: Path
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        follows = services.share_create(package=package, created_by=owner, base_url="http://testserver")
        pinned = services.share_create(package=package, created_by=owner, version=1, base_url="http://testserver")
        unknown_base = services.share_create(package=package, created_by=owner)
    packages.package_write_text(package=package, path="NOTES.md", content="v2\n")
    with django_capture_on_commit_callbacks(execute=True):
        second = publish(package)
    assert second.number == 2
    built = set(ShareRepository.objects.values_list("share_id", "version__number", "kind", "state"))
    assert (follows.pk, 2, "annex", "ready") in built and (follows.pk, 2, "dvc", "ready") in built
    assert {(share, number) for share, number, _, _ in built if share == pinned.pk} == {(pinned.pk, 1)}
    assert not any(share == unknown_base.pk for share, *_ in built)
    assert Client().get(f"/s/{follows.token}/annex.git/info/refs").status_code == 200


def test_the_owner_page_and_the_api_create_shares_with_their_repositories(
    owner: Any, owner_client: Client, package: Package, api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(f"/packages/{package.public_id}/shares/", {"version": "latest"}).status_code == 302
        assert api.call("post", f"/packages/{package.public_id}/shares", {}).status_code == 201
    assert ShareRepository.objects.filter(state="ready").count() == 4
