"""Expensive share downloads are limited per client and per share (429 with Retry-After);
files themselves (resolve, content addresses, repository files) never are."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from packager import services as packages
from shares import services
from shares.models import Share
from tests.factories import make_local_source, publish, write_files
from web.throttle import Budget, throttle_take

pytestmark = pytest.mark.django_db

FILES = {"a.csv": b"x,y\n1,2\n", "b.bin": b"\0" * 10, "c.txt": b"c\n"}


@pytest.fixture
def share(owner: Any, tmp_path: Path) -> Share:
    write_files(tmp_path / "data", FILES)
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Limited")
    packages.package_add_objects(package=package, source=source, paths=list(FILES))
    publish(package)
    return services.share_create(package=package, created_by=owner)


@pytest.fixture
def limits(settings: Any) -> Any:
    settings.DOWNLOAD_LIMIT_WINDOW = 60
    settings.DOWNLOAD_LIMIT_PER_CLIENT = 3
    settings.DOWNLOAD_LIMIT_PER_SHARE = 0
    settings.DOWNLOAD_LIMIT_ENTRIES_PER_UNIT = 1000  # each whole-version download of 3 entries: 1 unit
    settings.DOWNLOAD_LIMIT_PAGE_COST = 1
    return settings


def get(name: str, share: Share, address: str, *args: str) -> Any:
    return Client().get(reverse(name, args=[share.token, *args]), REMOTE_ADDR=address)


def assert_refused(response: Any) -> None:
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert b"try again in" in response.content


@pytest.mark.parametrize(
    "name",
    ["share_direct_txt", "share_direct_tsv", "share_download_zip", "share_urls", "share_manifest", "share_datapackage"],
)
def test_a_client_gets_its_budget_of_expensive_downloads_then_429(share: Share, limits: Any, name: str) -> None:
    for _ in range(3):
        assert get(name, share, "203.0.113.1").status_code == 200
    assert_refused(get(name, share, "203.0.113.1"))
    assert get(name, share, "203.0.113.2").status_code == 200  # another client has its own budget


def test_file_pages_and_their_previews_are_limited(share: Share, limits: Any) -> None:
    limits.DOWNLOAD_LIMIT_PAGE_COST = 2
    assert get("share_view_entry", share, "203.0.113.1", "a.csv").status_code == 200
    assert_refused(get("share_view_entry", share, "203.0.113.1", "b.bin"))


def test_files_and_repositories_are_never_limited(share: Share, limits: Any) -> None:
    for _ in range(3):
        get("share_direct_txt", share, "203.0.113.1")
    assert_refused(get("share_direct_txt", share, "203.0.113.1"))
    for _ in range(20):
        assert get("share_resolve", share, "203.0.113.1", "a.csv").status_code == 307
        response = Client().get(f"/s/{share.token}/annex.git/info/refs", REMOTE_ADDR="203.0.113.1")
        assert response.status_code == 503  # being built: answered, not limited


def test_a_share_has_one_budget_for_every_client(share: Share, limits: Any) -> None:
    limits.DOWNLOAD_LIMIT_PER_CLIENT = 100
    limits.DOWNLOAD_LIMIT_PER_SHARE = 4
    for index in range(4):
        assert get("share_direct_txt", share, f"203.0.113.{index}").status_code == 200
    assert_refused(get("share_direct_txt", share, "198.51.100.1"))


def test_a_client_refused_its_own_budget_spends_nothing_of_the_shares(share: Share, limits: Any) -> None:
    limits.DOWNLOAD_LIMIT_PER_SHARE = 4
    for _ in range(10):
        get("share_direct_txt", share, "203.0.113.1")
    assert get("share_direct_txt", share, "198.51.100.1").status_code == 200


def test_large_versions_cost_more_and_head_costs_one(share: Share, limits: Any) -> None:
    limits.DOWNLOAD_LIMIT_ENTRIES_PER_UNIT = 1  # 3 entries: 4 units
    limits.DOWNLOAD_LIMIT_PER_CLIENT = 6
    url = reverse("share_download_zip", args=[share.token])
    assert Client().head(url, REMOTE_ADDR="203.0.113.1").status_code == 200  # 1
    assert Client().get(url, REMOTE_ADDR="203.0.113.1").status_code == 200  # 5
    assert_refused(Client().get(url, REMOTE_ADDR="203.0.113.1"))  # 9 > 6
    assert Client().head(url, REMOTE_ADDR="203.0.113.1").status_code == 200  # 6


def test_the_owner_is_not_limited(share: Share, limits: Any, owner: Any) -> None:
    client = Client()
    client.force_login(owner)
    for _ in range(6):
        assert client.get(reverse("share_direct_txt", args=[share.token])).status_code == 200


def test_limits_are_counted_in_redis_atomically(share: Share, limits: Any, redis_server: Any) -> None:
    limits.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_server.url}
    }
    caches["default"].clear()
    for _ in range(3):
        assert get("share_direct_txt", share, "203.0.113.1").status_code == 200
    assert_refused(get("share_direct_txt", share, "203.0.113.1"))
    # Another process sees the same counts: they are in Redis, not in this one's memory.
    import redis

    stored = redis.Redis.from_url(redis_server.url).keys("*download-client*")
    assert stored
    # Parallel takes never let more through than the budget.
    allowed: list[int] = []

    def take() -> None:
        if throttle_take([Budget("parallel", 5)], cost=1, window=60) == 0:
            allowed.append(1)

    threads = [threading.Thread(target=take) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 5
    caches["default"].clear()
