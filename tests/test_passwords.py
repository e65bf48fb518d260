"""Guessing share passwords and account passwords: limits per client, per share, per account."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse

from packager import services as packages
from shares import services
from shares.models import Share
from tests.factories import make_local_source, publish, write_files
from web.http import client_ip

pytestmark = pytest.mark.postgres

RIGHT = "correct horse battery"


@pytest.fixture
def locked_share(owner: Any, tmp_path: Path) -> Share:
    write_files(tmp_path, {"a.csv": b"a,b\n"})
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="Guarded")
    packages.package_add_objects(package=package, source=source, paths=["a.csv"])
    publish(package)  # shares serve published versions
    return services.share_create(package=package, created_by=owner, password=RIGHT)


def guess(client: Client, share: Share, password: str, address: str) -> int:
    page = reverse("share_page", args=[share.token])
    return int(client.post(page, {"password": password}, REMOTE_ADDR=address).status_code)


@pytest.mark.django_db
def test_many_addresses_share_one_limit_per_share(owner_client: Client, locked_share: Share, settings: Any) -> None:
    settings.SHARE_UNLOCK_SHARE_ATTEMPTS = 6
    for index in range(6):
        assert guess(Client(), locked_share, f"guess-{index}", f"203.0.113.{index}") == 403

    page = reverse("share_page", args=[locked_share.token])
    refused = Client().post(page, {"password": RIGHT}, REMOTE_ADDR="198.51.100.1")
    assert refused.status_code == 429
    assert b"locked for a while" in refused.content
    owner_page = owner_client.get(reverse("package_shares", args=[locked_share.package.public_id]))
    assert b"Locked: too many wrong passwords" in owner_page.content
    share_page = owner_client.get(page)
    assert b"This link is locked" in share_page.content


def fetch_with_password(share: Share, password: str, address: str) -> int:
    """What wget does: the password as Basic auth on a download, no session."""
    credentials = base64.b64encode(f"wget:{password}".encode()).decode()
    url = reverse("share_urls", args=[share.token])
    return int(Client().get(url, HTTP_AUTHORIZATION=f"Basic {credentials}", REMOTE_ADDR=address).status_code)


@pytest.mark.django_db
def test_guessing_from_many_addresses_never_locks_out_a_collaborator(
    locked_share: Share, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real_check = Share.check_password

    def counted_check(share: Share, raw_password: str) -> bool:
        checked.append(raw_password)
        return real_check(share, raw_password)

    monkeypatch.setattr(Share, "check_password", counted_check)
    # A collaborator fetched with the password before (wget, from their lab's address).
    assert fetch_with_password(locked_share, RIGHT, "198.51.100.20") == 200
    # 11 addresses, every one up to its own limit: 55 wrong passwords sent.
    for address in range(11):
        for attempt in range(settings.SHARE_UNLOCK_ATTEMPTS):
            assert fetch_with_password(locked_share, f"guess-{address}-{attempt}", f"203.0.113.{address}") in {401, 429}
    wrong = [password for password in checked if password != RIGHT]
    assert len(wrong) == settings.SHARE_UNLOCK_SHARE_ATTEMPTS  # the share's budget, whatever the addresses
    # The share is now locked for those who never gave the password, the right one too...
    assert fetch_with_password(locked_share, RIGHT, "192.0.2.77") == 429
    # ...but not for the collaborator, with or without the hash check remembered.
    assert fetch_with_password(locked_share, RIGHT, "198.51.100.20") == 200
    cache.clear()
    assert fetch_with_password(locked_share, RIGHT, "198.51.100.20") == 200
    # The key link asks for no password, so no limit ever applies to it.
    key_link = f"/s/{locked_share.token}/k/{locked_share.link_key}/urls.txt"
    assert Client().get(key_link, REMOTE_ADDR="192.0.2.77").status_code == 200
    # Their address's own limit still holds: it is no way around the share's budget.
    for _ in range(settings.SHARE_UNLOCK_ATTEMPTS):
        assert fetch_with_password(locked_share, "guess", "198.51.100.20") == 401
    assert fetch_with_password(locked_share, "guess", "198.51.100.20") == 429


@pytest.mark.django_db
def test_a_new_password_trusts_nobody_until_they_give_it(locked_share: Share, settings: Any) -> None:
    settings.SHARE_UNLOCK_SHARE_ATTEMPTS = 2
    assert fetch_with_password(locked_share, RIGHT, "198.51.100.20") == 200
    locked_share.password_hash = make_password("a brand new password")
    locked_share.save()
    for index in range(3):
        fetch_with_password(locked_share, "guess", f"203.0.113.{index}")
    assert fetch_with_password(locked_share, RIGHT, "198.51.100.20") == 429


@pytest.mark.django_db
def test_an_ipv6_client_counts_as_its_whole_64(locked_share: Share, settings: Any) -> None:
    settings.SHARE_UNLOCK_ATTEMPTS = 3
    for index in range(3):
        assert guess(Client(), locked_share, "guess", f"2001:db8:0:7::{index + 1}") == 403
    assert guess(Client(), locked_share, "guess", "2001:db8:0:7:ffff::99") == 429
    assert guess(Client(), locked_share, RIGHT, "2001:db8:0:8::1") == 302  # another /64


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_guesses_gets_no_more_than_the_limit(
    locked_share: Share, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SHARE_UNLOCK_ATTEMPTS = 3
    real_check = Share.check_password

    def slow_check(share: Share, raw_password: str) -> bool:
        time.sleep(0.3)  # as a real password hash takes its time
        return real_check(share, raw_password)

    monkeypatch.setattr(Share, "check_password", slow_check)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            services.share_unlock(share=locked_share, password="guess", ip_address="203.0.113.9")
            outcomes.append("checked")
        except services.TooManyAttempts:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["checked"] * 3 + ["refused"] * 5


@pytest.mark.django_db
def test_a_right_password_does_not_use_up_the_limit(locked_share: Share, settings: Any) -> None:
    settings.SHARE_UNLOCK_ATTEMPTS = 2
    for _ in range(5):
        assert guess(Client(), locked_share, RIGHT, "203.0.113.5") == 302


@pytest.mark.django_db
@pytest.mark.parametrize(("password", "accepted"), [("seven77", False), ("eight888", True)])
def test_share_passwords_have_at_least_eight_characters(
    owner_client: Client, locked_share: Share, password: str, accepted: bool
) -> None:
    package = locked_share.package
    response = owner_client.post(reverse("package_shares", args=[package.public_id]), {"password": password})
    assert package.shares.count() == (2 if accepted else 1)
    if not accepted:
        assert b"at least 8 characters" in response.content


@pytest.mark.django_db
def test_logins_are_limited_per_account(client: Client, owner: Any, settings: Any) -> None:
    settings.LOGIN_ATTEMPTS = 4
    login = reverse("login")
    for index in range(4):
        wrong = Client().post(login, {"username": "olivia", "password": "wrong"}, REMOTE_ADDR=f"203.0.113.{index}")
        assert b"Please enter a correct" in wrong.content
    refused = client.post(login, {"username": "olivia", "password": "owner-password-1"}, REMOTE_ADDR="198.51.100.3")
    assert refused.status_code == 200
    assert b"Too many failed logins" in refused.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logins_are_limited_per_client(client: Client, owner: Any, settings: Any) -> None:
    settings.LOGIN_ATTEMPTS = 3
    login = reverse("login")
    for index in range(3):
        Client().post(login, {"username": f"someone-{index}", "password": "wrong"}, REMOTE_ADDR="2001:db8::1")
    refused = client.post(login, {"username": "olivia", "password": "owner-password-1"}, REMOTE_ADDR="2001:db8::2")
    assert b"Too many failed logins" in refused.content
    assert client.post(login, {"username": "olivia", "password": "owner-password-1"}).status_code == 302


@pytest.mark.django_db
def test_a_forwarded_for_header_that_is_not_an_address_breaks_nothing(
    client: Client, locked_share: Share, settings: Any
) -> None:
    settings.BEHIND_PROXY = True
    for forged in ["not-an-address", "1.2.3.4, <script>", "999.1.1.1", "::ffff:zz", ""]:
        request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forged, REMOTE_ADDR="192.0.2.10")
        assert client_ip(request) == "192.0.2.10"
        page = reverse("share_page", args=[locked_share.token])
        assert client.post(page, {"password": "guess"}, HTTP_X_FORWARDED_FOR=forged).status_code == 403
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="10.0.0.1, 2001:db8::5", REMOTE_ADDR="192.0.2.10")
    assert client_ip(request) == "2001:db8::5"
