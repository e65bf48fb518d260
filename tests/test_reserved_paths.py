"""Names that run code on a collaborator's machine (.git and its spellings, .dvc, .datalad,
.gitattributes, .gitmodules) are refused at any depth wherever a path enters, and versions
published before the rule are not downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from packager import services as packages
from packager import versions
from packager.models import PackageVersion, VersionEntry
from packager.paths import InvalidPath, normalize_folder, normalize_path, reserved_in, reserved_name
from shares import services as shares
from tests.conftest import Api
from tests.factories import make_local_source, publish, write_files

SPELLINGS = [
    ".git/config",
    "sub/.git/hooks/post-checkout",
    "deep/er/.git/config",
    ".GIT/config",
    ".Git/config",
    "GIT~1/config",
    "git~2/config",
    "GI7EBA~1/config",  # NTFS's hashed short name
    ".git./config",
    ".git /config",
    ".git. . /config",
    ".git::$INDEX_ALLOCATION/config",
    "\uff0e\uff47\uff49\uff54/config",  # fullwidth ．ｇｉｔ
    "\u2024git/config",  # one dot leader
    ".g\u0456t/config",  # Cyrillic і
    ".\u0261it/config",  # Latin script ɡ
    ".g\u0131t/config",  # dotless ı
    ".g\u0301it/config",  # g and a combining accent
    ".\u1d33\u1d35\u1d40/config",  # modifier capitals ᴳᴵᵀ
    "a/.gitmodules",
    ".GITMODULES",
    "GITMOD~1",
    "x/.gitattributes",
    ".gitattributes.",
    ".dvc/config",
    "a/.DVC/config",
    ".datalad/config",
    "b/.DataLad/config",
    "DATALA~1/config",
]
ALLOWED = ["git/config", "data.dvc", ".github/workflows/ci.yml", ".gitignore", "gitmodules.txt", "my.git/x", ".gits"]


@pytest.mark.parametrize("path", SPELLINGS)
def test_it_refuses_every_spelling_of_a_reserved_name_at_any_depth(path: str) -> None:
    with pytest.raises(InvalidPath, match="reserved at any depth") as refused:
        normalize_path(path)
    assert "git, DVC and DataLad" in refused.value.message
    with pytest.raises(InvalidPath, match="reserved at any depth"):
        normalize_folder(path)  # as a folder too (an upload target, a move)


@given(path=st.text(alphabet="./~:  gitGITdvcDVCalmoudesrb1_Ａ．ｇ", max_size=40))
@settings(max_examples=2000, deadline=None)
def test_reserved_in_finds_what_its_segments_hold(path: str) -> None:
    """reserved_in lets most paths through without folding each segment: never one that
    a segment's own check would refuse."""
    held = next((name for segment in path.split("/") if (name := reserved_name(segment))), "")
    assert reserved_in(path) == held


@pytest.mark.parametrize("path", ALLOWED)
def test_it_keeps_names_that_only_resemble_them(path: str) -> None:
    assert normalize_path(path) == path


@pytest.mark.django_db
@pytest.mark.parametrize("path", [".GIT/config", "a/GIT~1/hooks/pre-commit", "\uff0e\uff47\uff49\uff54/config"])
def test_the_api_answers_422_naming_the_rule(api: Api, owner: Any, path: str) -> None:
    package = packages.package_create(owner=owner, name="P")
    pid = package.public_id
    written = api.call("post", f"/packages/{pid}/entries", {"path": path, "text": "[core]\n\tfsmonitor = evil\n"})
    assert written.status_code == 422
    assert "reserved at any depth" in written.json()["detail"]
    assert api.call("post", f"/packages/{pid}/entries", {"path": "hooks.txt", "text": "x"}).status_code == 201
    moved = api.call("patch", f"/packages/{pid}/entries/hooks.txt", {"path": path})
    assert moved.status_code == 422
    assert "reserved at any depth" in moved.json()["detail"]
    assert [entry.path for entry in package.entries.all()] == ["hooks.txt"]


@pytest.mark.django_db
def test_forms_and_uploads_refuse_them(owner_client: Client, owner: Any) -> None:
    package = packages.package_create(owner=owner, name="P")
    pid = package.public_id
    page = owner_client.post(reverse("entry_write", args=[pid]), {"path": "x/.Git/config", "content": "[core]"})
    assert "reserved at any depth" in page.content.decode()
    upload = SimpleUploadedFile("config", b"[core]\n", content_type="text/plain")
    shown = owner_client.post(reverse("entry_upload", args=[pid]), {"folder": ".git", "uploads": [upload]}, follow=True)
    assert "reserved at any depth" in shown.content.decode()
    upload = SimpleUploadedFile(".gitattributes", b"* filter=x\n", content_type="text/plain")
    shown = owner_client.post(reverse("entry_upload", args=[pid]), {"folder": "", "uploads": [upload]}, follow=True)
    assert "reserved at any depth" in shown.content.decode()
    assert not package.entries.exists()


@pytest.mark.django_db
def test_adding_a_folder_adds_the_valid_keys_and_reports_the_rest(api: Api, owner: Any, tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "repo/data.csv": b"a\n1\n",
            "repo/.git/config": b"[core]\n\tfsmonitor = touch /tmp/pwned\n",
            "repo/notes\u202etxt.exe": b"MZ",
            "repo/GIT~1/HEAD": b"ref",
        },
    )
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="P")
    response = api.call(
        "post", f"/packages/{package.public_id}/entries", {"source": str(source.public_id), "keys": ["repo/"]}
    )
    assert response.status_code == 201
    body = response.json()
    assert [entry["path"] for entry in body["added"]] == ["repo/data.csv"]
    refused = {item["key"]: item["reason"] for item in body["refused"]}
    assert set(refused) == {"repo/.git/config", "repo/notes\u202etxt.exe", "repo/GIT~1/HEAD"}
    assert "reserved at any depth" in refused["repo/.git/config"]
    assert "text-direction" in refused["repo/notes\u202etxt.exe"]
    assert [entry.path for entry in package.entries.all()] == ["repo/data.csv"]


@pytest.mark.django_db
def test_the_add_page_adds_the_rest_and_names_the_refused_keys(
    owner_client: Client, owner: Any, tmp_path: Path
) -> None:
    write_files(tmp_path, {"set/a.csv": b"a\n", "set/.dvc/config": b"[core]\n"})
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="P")
    page = owner_client.post(
        reverse("package_add_objects"),
        {"source": source.public_id, "paths": ["set/"], "package": package.public_id},
        follow=True,
    ).content.decode()
    assert "Added 1 file" in page
    assert "Left out 1 file" in page and "set/.dvc/config" in page
    assert [entry.path for entry in package.entries.all()] == ["set/a.csv"]


@pytest.mark.django_db
def test_adding_only_refused_keys_is_a_422(api: Api, owner: Any, tmp_path: Path) -> None:
    write_files(tmp_path, {".git/config": b"[core]\n"})
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="P")
    body = {"source": str(source.public_id), "keys": [".git/"]}
    response = api.call("post", f"/packages/{package.public_id}/entries", body)
    assert response.status_code == 422
    assert "reserved at any depth" in response.json()["detail"]


def _published_with(owner: Any, tmp_path: Path, path: str) -> Any:
    """A share of a version holding `path`, as versions published before the rule could."""
    write_files(tmp_path, {"config": b"[core]\n\tfsmonitor = touch /tmp/pwned\n", "data.csv": b"a\n1\n"})
    source = make_local_source(owner, tmp_path)
    package = packages.package_create(owner=owner, name="Old")
    packages.package_add_objects(package=package, source=source, paths=["config", "data.csv"])
    version = publish(package)
    VersionEntry.objects.filter(package_version=version, path="config").update(path=path)
    # Its exports were prepared before the rule (format 1): the first download prepares them again.
    PackageVersion.objects.filter(pk=version.pk).update(exports={**version.exports, "format": 1})
    return shares.share_create(package=package, created_by=owner)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route", ["share_download_zip", "share_urls", "share_manifest", "share_datapackage", "share_direct_txt"]
)
def test_downloads_of_a_version_holding_a_reserved_path_are_refused(owner: Any, tmp_path: Path, route: str) -> None:
    share = _published_with(owner, tmp_path, "sub/.Git/config")
    response = Client().get(reverse(route, args=[share.token]))
    assert response.status_code == 409
    text = response.content.decode()
    assert "sub/.Git/config" in text and "reserved at any depth" in text and "publish a new version" in text


@pytest.mark.django_db
def test_the_repositories_and_the_reserved_file_itself_are_refused(owner: Any, tmp_path: Path) -> None:
    share = _published_with(owner, tmp_path, ".git/config")
    visitor = Client()
    assert visitor.get(reverse("share_annex_repository", args=[share.token, "HEAD"])).status_code == 409
    assert visitor.get(reverse("share_resolve", args=[share.token, ".git/config"])).status_code == 409
    assert visitor.get(reverse("share_resolve", args=[share.token, "data.csv"])).status_code in {302, 307}


@pytest.mark.django_db
def test_a_draft_holding_a_reserved_path_is_not_published(owner: Any) -> None:
    package = packages.package_create(owner=owner, name="Draft")
    entry = packages.package_write_text(package=package, path="hooks.txt", content="x")
    type(entry).objects.filter(pk=entry.pk).update(path="a/.gitmodules")  # written before the rule
    with pytest.raises(versions.VersionError, match="reserved at any depth"):
        versions.package_publish(package=package)
