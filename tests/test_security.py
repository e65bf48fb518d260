"""Ways in that a review found: server folders, the secret key, headers and cookies."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from packager import services as packages
from packager.paths import InvalidPath, normalize_path
from packager.render import markdown_to_html, notebook_to_html
from packager.services import api_token_create
from shares import services as shares
from sources import clients
from sources.models import Source
from sources.services import source_sign_url
from tests.factories import make_local_source, make_source, publish, write_files
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
DEMO_DATA = ROOT / "demo" / "data"


# Folders on the server ---------------------------------------------------------------


@pytest.fixture
def staff_api(admin_user: Any) -> Client:
    _, token = api_token_create(user=admin_user, name="tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/etc", "/root/.ssh"])
def test_a_staff_user_may_not_add_a_folder_outside_the_local_source_roots(staff_api: Client, path: str) -> None:
    response = staff_api.post(
        "/api/v1/sources", {"kind": "local", "name": "etc", "path": path}, content_type="application/json"
    )
    assert response.status_code == 422  # well-formed, refused for what it says
    assert "LOCAL_SOURCE_ROOTS" in response.json()["detail"]
    assert not Source.objects.exists()


def test_the_local_source_roots_default_to_the_demo_data_folder() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "LOCAL_SOURCE_ROOTS"}
    printed = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.LOCAL_SOURCE_ROOTS)"],
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert printed.stdout.strip() == repr([str(DEMO_DATA)])


@pytest.mark.django_db
def test_no_folder_may_be_a_source_when_the_roots_are_empty(staff_api: Client, settings: Any) -> None:
    settings.LOCAL_SOURCE_ROOTS = []
    response = staff_api.post(
        "/api/v1/sources", {"kind": "local", "name": "demo", "path": str(DEMO_DATA)}, content_type="application/json"
    )
    assert response.status_code == 422  # well-formed, refused for what it says
    assert "No folder on the server may be a source" in response.json()["detail"]


@pytest.mark.django_db
def test_a_link_out_of_a_root_is_refused(staff_api: Client, settings: Any, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to("/etc")
    settings.LOCAL_SOURCE_ROOTS = [str(root)]
    response = staff_api.post(
        "/api/v1/sources",
        {"kind": "local", "name": "escape", "path": str(root / "escape")},
        content_type="application/json",
    )
    assert response.status_code == 422  # well-formed, refused for what it says


@pytest.mark.django_db
def test_admin_edits_pass_the_same_folder_check(client: Client, django_user_model: Any, tmp_path: Path) -> None:
    superuser = django_user_model.objects.create_superuser("root", password="root-password-1")
    source = make_local_source(superuser, tmp_path, name="nfs")
    client.force_login(superuser)
    url = reverse("admin:sources_source_change", args=[source.pk])
    form = {
        "owner": superuser.pk,
        "name": "nfs",
        "kind": "local",
        "addressing_style": "auto",
        "local_path": "/etc",
        "presign_ttl": 900,
        "index_generation": 0,
    }
    response = client.post(url, form)
    assert response.status_code == 200
    assert b"LOCAL_SOURCE_ROOTS" in response.content
    source.refresh_from_db()
    assert source.local_path == str(tmp_path)

    response = client.post(url, {**form, "local_path": str(tmp_path / "inner")})
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.local_path == str(tmp_path / "inner")


@pytest.mark.django_db
def test_a_source_left_outside_narrowed_roots_stops_serving(owner: Any, tmp_path: Path, settings: Any) -> None:
    write_files(tmp_path, {"secret.txt": b"private"})
    source = make_local_source(owner, tmp_path)
    client = Client()
    url = source_sign_url(source=source, key="secret.txt")
    assert client.get(url).status_code == 200
    settings.LOCAL_SOURCE_ROOTS = [str(DEMO_DATA)]

    clients.forget(source.pk)
    response = client.get(url)
    assert response.status_code == 403
    assert b"LOCAL_SOURCE_ROOTS" in response.content


# The secret key ----------------------------------------------------------------------


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    unset = {"SECRET_KEY", "SECRET_KEY_FILE", "CREDENTIALS_KEYS", "DEBUG"}
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    return {**environment, "PACKAGER_VAR_DIR": str(tmp_path), **extra}


def _manage_check(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"], env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_it_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = _manage_check(_environment(tmp_path))
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_gunicorn_refuses_to_serve_without_a_secret_key(tmp_path: Path) -> None:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    result = subprocess.run(
        [gunicorn, "config.wsgi", "--bind", f"127.0.0.1:{free_port()}", "--workers", "1", "--preload"],
        env=_environment(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_it_starts_with_a_key_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret-key"
    key_file.write_text("a-key-kept-in-a-file-" + "x" * 40)
    assert _manage_check(_environment(tmp_path, SECRET_KEY_FILE=str(key_file))).returncode == 0


def test_debug_mode_keeps_a_random_key_under_var(tmp_path: Path) -> None:
    printed = [
        subprocess.run(
            [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
            env={**_environment(tmp_path, DEBUG="1"), "DJANGO_SETTINGS_MODULE": "config.settings"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert printed[0] == printed[1] == (tmp_path / "secret-key").read_text().strip()
    assert len(printed[0]) >= 50
    assert (tmp_path / "secret-key").stat().st_mode & 0o077 == 0


# Headers and cookies -------------------------------------------------------------------


def _policy(response: Any) -> dict[str, list[str]]:
    directives = [part.strip().split() for part in response["Content-Security-Policy"].split(";") if part.strip()]
    return {name: values for name, *values in directives}


@pytest.mark.django_db
def test_pages_allow_no_inline_script_and_no_framing(client: Client) -> None:
    response = client.get(reverse("login"))
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_no_template_carries_inline_script_style_or_handlers() -> None:
    # A JSON-LD data block is not script (browsers never run it; its "<" are escaped).
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/ld\+json\")[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|javascript:",
        re.IGNORECASE,
    )
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in (ROOT / "templates").rglob("*.html")
        for match in inline.finditer(path.read_text())
    ]
    assert found == []


@pytest.mark.django_db
def test_a_readme_may_show_images_from_the_storage_its_links_redirect_to(
    owner: Any, seaweed: Any, s3_bucket: str, client: Client
) -> None:

    seaweed.client().put_object(Bucket=s3_bucket, Key="plot.png", Body=b"\x89PNG")
    source = make_source(owner, seaweed.source_fields(s3_bucket))
    package = packages.package_create(owner=owner, name="Plots")
    packages.package_add_objects(package=package, source=source, paths=["plot.png"])
    packages.package_write_text(package=package, path="README.md", content="![plot](r/plot.png)\n")
    publish(package)  # shares serve published versions
    share = shares.share_create(package=package, created_by=owner)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("share_page", args=[share.token]))
    assert response.status_code == 200
    assert _policy(response)["img-src"] == ["'self'", "data:", seaweed.endpoint_url]
    # "Download all into a folder" may fetch from that storage too (and from nowhere else).
    assert _policy(response)["connect-src"] == ["'self'", seaweed.endpoint_url]
    # The version's sources were noted when it was sealed: its rows are not read for them, once for both.
    source_queries = [query["sql"] for query in queries if '"sources_source"' in query["sql"]]
    assert len(source_queries) == 1 and not any("packager_versionentry" in sql for sql in source_queries)


@pytest.mark.django_db
def test_a_share_of_text_files_only_lets_its_page_connect_to_packager_alone(owner: Any, client: Client) -> None:
    package = packages.package_create(owner=owner, name="Notes")
    packages.package_write_text(package=package, path="README.md", content="# Notes\n")
    publish(package)
    share = shares.share_create(package=package, created_by=owner)
    response = client.get(reverse("share_page", args=[share.token]))
    assert response.status_code == 200
    assert _policy(response)["connect-src"] == ["'self'"]


def test_https_settings_send_hsts_and_secure_cookies(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS >= 31536000)"
    )
    environment = {**_environment(tmp_path, SECURE_COOKIES="1", SECRET_KEY="k" * 50)}
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings"
    printed = subprocess.run(
        [sys.executable, "-c", code], env=environment, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert printed.stdout.split() == ["True", "True", "True"]


@pytest.mark.django_db
def test_https_responses_carry_hsts(client: Client, settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    assert "max-age=31536000" in client.get(reverse("login"), secure=True)["Strict-Transport-Security"]


# Smaller ways in -------------------------------------------------------------------------


def test_the_sanitizer_keeps_data_uris_for_images_only_and_known_classes_only() -> None:

    html = markdown_to_html(
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">open</a> '
        '<a href=" DATA:text/html,x">again</a> <img src="data:image/png;base64,iVBORw0KGgo=">\n\n'
        '<div class="badge ready">Verified by packager</div>\n\n```python\nx = 1\n```'
    )
    assert "data:text" not in html.lower()
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html
    assert "badge" not in html and "ready" not in html.replace("Verified", "")
    assert 'class="language-python"' in html
    notebook = notebook_to_html(
        '{"cells": [{"cell_type": "code", "source": "1/0", "outputs": [{"output_type": "error", "ename": "E"}]}]}'
    )
    assert 'class="nb-code"' in notebook and 'class="nb-stderr"' in notebook


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["invoice\u202efdp.exe", "data\u200b.csv", "a\u2066b.txt", "x\ufeff.md"])
def test_paths_with_invisible_or_direction_characters_are_refused(owner: Any, name: str) -> None:

    with pytest.raises(InvalidPath, match="invisible or text-direction characters") as refused:
        normalize_path(f"docs/{name}")
    assert "<U+" in refused.value.message
    assert not any(char in refused.value.message for char in "\u202e\u200b\u2066\ufeff")
    package = packages.package_create(owner=owner, name="Names")
    with pytest.raises(Exception, match="invisible"):
        packages.package_write_text(package=package, path=name, content="x")
    assert not package.entries.exists()


@pytest.mark.django_db
def test_storage_names_with_hidden_characters_are_shown_escaped(
    owner: Any, owner_client: Client, tmp_path: Path
) -> None:
    write_files(tmp_path, {"invoice\u202efdp.exe": b"MZ"})
    source = make_local_source(owner, tmp_path)
    page = owner_client.get(reverse("source_browse", args=[source.public_id])).content.decode()
    assert "invoice&lt;U+202E&gt;fdp.exe" in page
    assert "\u202e" not in re.sub(r'value="[^"]*"', "", page)  # only the form value keeps the real key


def _local_share(owner: Any, tmp_path: Path) -> Any:

    write_files(tmp_path, {"data.bin": b"0123456789"})
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="Local")
    packages.package_add_objects(package=package, source=source, paths=["data.bin"])
    publish(package)  # shares serve published versions
    return shares.share_create(package=package, created_by=owner)


@pytest.mark.django_db
def test_revoking_a_share_stops_the_local_file_links_it_issued(owner: Any, tmp_path: Path) -> None:

    share = _local_share(owner, tmp_path)
    visitor = Client()
    link = visitor.get(reverse("share_resolve", args=[share.token, "data.bin"]))["Location"]
    assert visitor.get(link).status_code == 200

    shares.share_revoke(share=share)
    withdrawn = visitor.get(link)
    assert withdrawn.status_code == 410
    assert b"withdrawn" in withdrawn.content


@pytest.mark.django_db
def test_shares_of_a_deactivated_account_stop_working(owner: Any, tmp_path: Path) -> None:
    share = _local_share(owner, tmp_path)
    visitor = Client()
    link = visitor.get(reverse("share_resolve", args=[share.token, "data.bin"]))["Location"]

    owner.is_active = False
    owner.save()
    page = visitor.get(reverse("share_page", args=[share.token]))
    assert page.status_code == 410
    assert b"no longer active" in page.content
    assert visitor.get(reverse("share_resolve", args=[share.token, "data.bin"])).status_code == 410
    assert visitor.get(reverse("share_urls", args=[share.token])).status_code == 410
    assert visitor.get(link).status_code == 410
