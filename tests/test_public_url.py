"""Links handed out name packager's public origin from the settings, never the Host (or
X-Forwarded-Host) a client chose; a start that cannot know that origin is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from packager import services as packages
from shares import services
from shares.models import Share, ShareRepository
from tests.factories import make_local_source, publish, write_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def share(owner: Any, tmp_path: Path) -> Share:
    write_files(tmp_path / "data", {"a.csv": b"x,y\n1,2\n"})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Linked")
    packages.package_add_objects(package=package, source=source, paths=["a.csv"])
    packages.package_write_text(package=package, path="README.md", content="# Linked\n")
    publish(package)
    return services.share_create(package=package, created_by=owner)


def body(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


def test_links_name_public_url_whatever_host_the_client_sends(client: Any, share: Share, settings: Any) -> None:
    settings.PUBLIC_URL = "https://data.example.org"
    settings.ALLOWED_HOSTS = ["data.example.org", "evil.example"]
    settings.BEHIND_PROXY = settings.USE_X_FORWARDED_HOST = True
    forged = {"HTTP_HOST": "evil.example", "HTTP_X_FORWARDED_HOST": "evil.example"}
    urls = body(client.get(reverse("share_urls", args=[share.token]), **forged))
    assert urls.startswith(f"https://data.example.org/s/{share.token}/r/") and "evil" not in urls
    manifest = body(client.get(reverse("share_manifest", args=[share.token]), **forged))
    assert "evil" not in manifest and "https://data.example.org/" in manifest
    direct = body(client.get(reverse("share_direct_txt", args=[share.token]), **forged))
    assert direct.startswith("https://data.example.org/") and "evil" not in direct
    assert "evil" not in client.get(reverse("share_resolve", args=[share.token, "a.csv"]), **forged)["Location"]


def test_the_first_request_does_not_choose_the_repositories_address(client: Any, share: Share, settings: Any) -> None:
    settings.PUBLIC_URL = "https://data.example.org"
    settings.ALLOWED_HOSTS = ["data.example.org", "evil.example"]
    refs = reverse("share_annex_repository", kwargs={"token": share.token, "name": "info/refs"})
    assert client.get(refs, HTTP_HOST="evil.example").status_code == 503
    repository = ShareRepository.objects.get(share=share, kind="annex")
    assert repository.base_url == "https://data.example.org"


def test_one_allowed_host_is_the_public_origin(client: Any, share: Share, settings: Any) -> None:
    settings.PUBLIC_URL = ""
    settings.ALLOWED_HOSTS = ["data.example.org"]
    settings.SECURE_COOKIES = True
    urls = body(client.get(reverse("share_urls", args=[share.token]), HTTP_HOST="data.example.org:8081"))
    assert urls.startswith(f"https://data.example.org/s/{share.token}/r/")


def test_one_loopback_host_keeps_the_port_the_server_listens_on(client: Any, share: Share, settings: Any) -> None:
    """ALLOWED_HOSTS=127.0.0.1 names no port; a server on this machine is seldom on 80."""
    settings.PUBLIC_URL = ""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    urls = body(client.get(reverse("share_urls", args=[share.token]), HTTP_HOST="127.0.0.1:8123"))
    assert urls.startswith(f"http://127.0.0.1:8123/s/{share.token}/r/")


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"DEBUG": False, "PUBLIC_URL": "", "ALLOWED_HOSTS": ["a.example", "b.example"]}, True),
        ({"DEBUG": False, "PUBLIC_URL": "", "ALLOWED_HOSTS": ["*"]}, True),
        ({"DEBUG": False, "PUBLIC_URL": "", "ALLOWED_HOSTS": [".example.org"]}, True),
        ({"DEBUG": False, "PUBLIC_URL": "https://a.example", "ALLOWED_HOSTS": ["a.example", "b.example"]}, False),
        ({"DEBUG": False, "PUBLIC_URL": "", "ALLOWED_HOSTS": ["a.example", "localhost", "127.0.0.1"]}, False),
        ({"DEBUG": False, "PUBLIC_URL": "", "ALLOWED_HOSTS": ["127.0.0.1", "localhost", "[::1]"]}, False),
        ({"DEBUG": True, "PUBLIC_URL": "", "ALLOWED_HOSTS": ["a.example", "b.example"]}, False),
        ({"DEBUG": False, "PUBLIC_URL": "data.example.org", "ALLOWED_HOSTS": ["a.example"]}, True),
        ({"DEBUG": False, "PUBLIC_URL": "https://a.example/?x=1", "ALLOWED_HOSTS": ["a.example"]}, True),
    ],
)
def test_a_start_without_a_known_public_origin_is_refused(
    settings: Any, overrides: dict[str, Any], refused: bool
) -> None:
    for name, value in overrides.items():
        setattr(settings, name, value)
    if refused:
        with pytest.raises(SystemCheckError, match="PUBLIC_URL"):
            call_command("check")
    else:
        call_command("check")


def test_make_run_starts_with_nothing_set() -> None:
    root = Path(__file__).resolve().parent.parent
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "SECRET_KEY": "x" * 50}
    result = subprocess.run(
        [str(root / ".venv/bin/python"), "manage.py", "check"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
