"""A share is a repository: `git clone` + `git annex get`, `git clone` + `dvc pull`, and the
content-addressed lookups, against the live test server with SeaweedFS (S3) and Azurite (Azure)
behind it, open and password-protected, with the real clients."""

from __future__ import annotations

import base64
import hashlib
import io
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from packager import services as packages
from packager.exports import annex, dvc
from packager.models import Package
from shares import services
from shares.models import Share, ShareRepository
from tests.clients import Clients, sha256_of
from tests.conftest import AzureServer, S3Server
from tests.factories import make_local_source, make_source, publish, store_objects, write_files

PASSWORD = "repo pass 42"
S3_OBJECTS = {
    "survey/with space #1.bin": bytes(range(256)) * 64,
    "survey/dätä+100%?.txt": "unicode ü and symbols".encode(),
    "survey/big.raw": bytes(reversed(range(256))) * 4500,  # over 1 MiB
    "survey/empty.dat": b"",
}
AZURE_OBJECTS = {
    "images/scan 01.raw": bytes(range(200)) * 300,
    "images/sub/a+b=c.txt": b"azure notes\n",
}


def expected_files() -> dict[str, bytes]:
    files = {f"s3/{key.removeprefix('survey/')}": content for key, content in S3_OBJECTS.items()}
    files.update({f"azure/{key.removeprefix('images/')}": content for key, content in AZURE_OBJECTS.items()})
    return files


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"someone:{password}".encode()).decode()}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """One request, redirects not followed: (status, headers, body)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, method=method, headers=headers or {}), timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def clients(tmp_path: Path) -> Clients:
    return Clients.prepare(tmp_path / "home")


@pytest.fixture
def mixed_package(owner: Any, seaweed: S3Server, s3_bucket: str, azurite: AzureServer, azure_container: str) -> Package:
    container = azurite.service().get_container_client(azure_container)
    store_objects(seaweed.client(), s3_bucket, S3_OBJECTS, container, AZURE_OBJECTS)
    package = packages.package_create(owner=owner, name="Lake survey")
    s3_source = make_source(owner, seaweed.source_fields(s3_bucket))
    azure_source = make_source(owner, azurite.source_fields(azure_container))
    packages.package_add_objects(
        package=package, source=s3_source, paths=["survey/"], target="s3", keep_folder_names=False
    )
    packages.package_add_objects(
        package=package, source=azure_source, paths=["images/"], target="azure", keep_folder_names=False
    )
    packages.package_write_text(package=package, path="README.md", content="# Lake survey\n")
    publish(package)
    return package


def _wait_ready(live_url: str, token: str, kind: str, headers: dict[str, str] | None = None) -> None:
    """The first request asks for the build and answers 503 + Retry-After (never builds itself)."""
    status, response_headers, _ = fetch(f"{live_url}/s/{token}/{kind}.git/info/refs", headers=headers)
    if status == 503:
        assert int(response_headers["Retry-After"]) > 0
        # Tests run Celery eagerly: the task queued by that request has run by now.
        status, _, _ = fetch(f"{live_url}/s/{token}/{kind}.git/info/refs", headers=headers)
    assert status == 200


def _check_files(folder: Path) -> None:
    for path, content in expected_files().items():
        assert sha256_of(folder / path) == sha256(content), path
    assert (folder / "README.md").read_text() == "# Lake survey\n"


def _annex_clone_get_fsck(clients: Clients, url: str, folder: Path) -> None:
    clients.git("clone", url, folder)
    clients.annex("get", ".", cwd=folder)
    _check_files(folder)
    fsck = clients.annex("fsck", cwd=folder)
    assert fsck.stdout.count("ok") >= len(expected_files())


def _dvc_clone_pull(clients: Clients, url: str, folder: Path, password: str = "") -> None:
    clients.git("clone", url, folder)
    if password:
        clients.dvc("remote", "modify", "--local", "packager", "auth", "basic", cwd=folder)
        clients.dvc("remote", "modify", "--local", "packager", "user", "collaborator", cwd=folder)
        clients.dvc("remote", "modify", "--local", "packager", "password", password, cwd=folder)
    clients.dvc("pull", cwd=folder)
    _check_files(folder)


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_it_serves_an_open_share_to_git_annex_and_dvc(
    live_server: Any,
    mixed_package: Package,
    owner: Any,
    clients: Clients,
    seaweed: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    share = services.share_create(package=mixed_package, created_by=owner)
    base = f"{live_server.url}/s/{share.token}"
    _wait_ready(live_server.url, share.token, "annex")
    _wait_ready(live_server.url, share.token, "dvc")
    assert set(ShareRepository.objects.filter(share=share).values_list("state", flat=True)) == {"ready"}

    _annex_clone_get_fsck(clients, f"{base}/annex.git", tmp_path / "annex")
    _dvc_clone_pull(clients, f"{base}/dvc.git", tmp_path / "dvc")

    # An object changed in the bucket is refused by both clients.
    seaweed.client().put_object(Bucket=s3_bucket, Key="survey/big.raw", Body=b"y" * len(S3_OBJECTS["survey/big.raw"]))
    tampered = tmp_path / "annex-tampered"
    clients.git("clone", f"{base}/annex.git", tampered)
    refused = clients.annex("get", "s3/big.raw", cwd=tampered, check=False)
    assert refused.returncode != 0 and "verification" in (refused.stdout + refused.stderr).lower()
    assert not (tampered / "s3/big.raw").exists()
    tampered = tmp_path / "dvc-tampered"
    clients.git("clone", f"{base}/dvc.git", tampered)
    assert clients.dvc("pull", cwd=tampered, check=False).returncode != 0
    assert not (tampered / "s3/big.raw").exists()
    assert sha256_of(tampered / "azure/scan 01.raw") == sha256(AZURE_OBJECTS["images/scan 01.raw"])


@pytest.mark.system
@pytest.mark.django_db(transaction=True)
def test_it_serves_a_password_share_through_its_key_link(
    live_server: Any, mixed_package: Package, owner: Any, clients: Clients, tmp_path: Path
) -> None:
    # git-annex would send a password from git's credential helper on to storage after the
    # 307, which S3 refuses (tests/test_clients.py shows it); the key link needs none.
    share = services.share_create(package=mixed_package, created_by=owner, password=PASSWORD)
    base = f"{live_server.url}/s/{share.token}"
    assert fetch(f"{base}/annex.git/info/refs")[0] == 401

    # Without credentials git is refused (it may not prompt here: GIT_TERMINAL_PROMPT=0).
    refused = clients.git("clone", f"{base}/annex.git", tmp_path / "refused", check=False)
    assert refused.returncode != 0 and "could not read Username" in refused.stderr, refused.stderr

    status, _, body = fetch(f"{base}/key", headers=basic(PASSWORD))
    assert status == 200
    key_link = body.decode().strip()
    assert key_link.startswith(f"{base}/k/") and key_link.endswith("/")
    token_and_key = key_link.removeprefix(f"{live_server.url}/s/").rstrip("/")
    _wait_ready(live_server.url, token_and_key, "annex")
    _wait_ready(live_server.url, token_and_key, "dvc")
    clients.store_password(PASSWORD)  # set, but never asked for under the key link
    _annex_clone_get_fsck(clients, f"{key_link}annex.git", tmp_path / "annex")
    _dvc_clone_pull(clients, f"{key_link}dvc.git", tmp_path / "dvc")
    assert PASSWORD not in (tmp_path / "dvc" / ".dvc" / "config").read_text()
    assert clients.git("status", "--porcelain", cwd=tmp_path / "dvc").stdout == ""


# Endpoint details, through Django's test client --------------------------------------


@pytest.fixture
def local_package(owner: Any, tmp_path: Path) -> Package:
    write_files(tmp_path / "data", {"a.csv": b"alpha,beta\n1,2\n", "sub/b #1.bin": bytes(range(256)) * 40})
    source = make_local_source(owner, tmp_path / "data")
    package = packages.package_create(owner=owner, name="Local set")
    packages.package_add_objects(package=package, source=source, paths=["a.csv", "sub/"], target="data")
    packages.package_write_text(package=package, path="README.md", content="# Local\n")
    return package


@pytest.mark.django_db
def test_it_answers_503_until_the_repository_is_built_by_the_task(
    client: Any, owner: Any, local_package: Package, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    publish(local_package)
    share = services.share_create(package=local_package, created_by=owner)
    url = reverse("share_annex_repository", kwargs={"token": share.token, "name": "info/refs"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.get(url)
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response["Cache-Control"] == "private, no-store"
    repository = ShareRepository.objects.get(share=share, kind="annex")
    assert repository.state == "pending" and repository.storage_prefix == ""
    assert len(callbacks) == 1  # one build task queued, not run by the request
    # Asking again while it waits queues nothing more.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.get(url).status_code == 503
    assert callbacks == []
    services.share_repository_build(repository_pk=repository.pk)
    response = client.get(url)
    assert response.status_code == 200
    refs = b"".join(response.streaming_content).decode()
    assert "\trefs/heads/main" in refs and "\trefs/heads/git-annex" in refs
    # A second run of a finished build does nothing.
    services.share_repository_build(repository_pk=repository.pk)
    repository.refresh_from_db()
    assert repository.state == "ready" and repository.size > 0


@pytest.mark.django_db
def test_it_refuses_what_is_not_a_repository_file(client: Any, owner: Any, local_package: Package) -> None:
    publish(local_package)
    share = services.share_create(package=local_package, created_by=owner)
    for name in ["config", "objects/ab/cdef0123", "objects/info/alternates", "objects/pack/../../config"]:
        url = f"/s/{share.token}/dvc.git/{name}"
        assert client.get(url).status_code == 404, name
    assert client.post(f"/s/{share.token}/dvc.git/info/refs").status_code == 405
    assert not ShareRepository.objects.exists()


@pytest.mark.django_db
def test_it_says_when_a_share_has_no_published_version_yet(client: Any, owner: Any, local_package: Package) -> None:
    # Sharing an unpublished package publishes its first version; until that is done the
    # repositories and content addresses answer like every download: 503 + Retry-After.
    share = services.share_create(package=local_package, created_by=owner)
    for url in [f"/s/{share.token}/annex.git/info/refs", f"/s/{share.token}/sha256/{'0' * 64}"]:
        response = client.get(url)
        assert response.status_code == 503 and response["Retry-After"] == "30", url
    assert not ShareRepository.objects.exists()
    assert client.get("/s/no-such-token/annex.git/info/refs").status_code == 404


@pytest.mark.django_db
def test_it_redirects_content_addresses_with_a_fixed_number_of_queries(
    client: Any, owner: Any, local_package: Package, django_assert_num_queries: Any
) -> None:
    version = publish(local_package)
    share = services.share_create(package=local_package, created_by=owner)
    entry = version.entries.get(path="data/sub/b #1.bin")
    content = bytes(range(256)) * 40
    assert entry.sha256 == sha256(content)
    for url in [
        f"/s/{share.token}/sha256/{entry.sha256}",
        f"/s/{share.token}/sha256/{entry.sha256.upper()}",
        f"/s/{share.token}/md5/{entry.md5}",
        f"/s/{share.token}/dvc/files/md5/{entry.md5[:2]}/{entry.md5[2:]}",
    ]:
        # One lookup finds the share, its version, the entry and its source (the shared
        # resolver; the access is counted in memory).
        with django_assert_num_queries(1):
            response = client.get(url)
        assert response.status_code == 307, url
        assert response["Cache-Control"] == "private, no-store"
        # HEAD gets a URL signed for HEAD, with the same single query.
        with django_assert_num_queries(1):
            head = client.head(url)
        assert head.status_code == 307
    assert client.get(f"/s/{share.token}/sha256/{'f' * 64}").status_code == 404
    assert client.get(f"/s/{share.token}/sha256/nothex").status_code == 404
    assert client.get(f"/s/{share.token}/dvc/files/md5/{entry.md5[:2]}/{entry.md5[2:]}.dir").status_code == 404
    # A text file's content is served by packager itself.
    readme = version.entries.get(path="README.md")
    response = client.get(f"/s/{share.token}/sha256/{readme.sha256}")
    assert response.status_code == 200 and response.content == b"# Local\n"


@pytest.mark.django_db
def test_it_signs_for_head_and_keeps_content_addresses_behind_the_password(
    client: Any,
    owner: Any,
    seaweed: S3Server,
    s3_bucket: str,
) -> None:
    seaweed.client().put_object(Bucket=s3_bucket, Key="x.bin", Body=b"12345")
    package = packages.package_create(owner=owner, name="s3")
    packages.package_add_objects(
        package=package, source=make_source(owner, seaweed.source_fields(s3_bucket)), paths=["x.bin"]
    )
    publish(package)
    share = services.share_create(package=package, created_by=owner, password=PASSWORD)
    url = f"/s/{share.token}/sha256/{sha256(b'12345')}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=basic("wrong")).status_code == 401
    get = client.get(url, headers=basic(PASSWORD))
    head = client.head(url, headers=basic(PASSWORD))
    assert get.status_code == head.status_code == 307
    assert get["Location"] != head["Location"]  # each signed for its own method
    status, _, body = fetch(get["Location"])
    assert status == 200 and body == b"12345"
    assert fetch(head["Location"], method="HEAD")[0] == 200


@pytest.mark.django_db
def test_it_keeps_repositories_of_revoked_and_foreign_shares_closed(
    client: Any, owner: Any, outsider: Any, local_package: Package
) -> None:
    publish(local_package)
    share: Share = services.share_create(package=local_package, created_by=owner)
    services.share_revoke(share=share)
    assert client.get(f"/s/{share.token}/annex.git/info/refs").status_code == 410
    assert client.get(f"/s/{share.token}/md5/{'0' * 32}").status_code == 410


@pytest.mark.django_db
def test_it_shows_the_clone_recipes_with_the_real_link_and_asks_for_the_builds(
    client: Any, owner: Any, local_package: Package, django_capture_on_commit_callbacks: Any
) -> None:
    publish(local_package)
    share = services.share_create(package=local_package, created_by=owner)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(f"/s/{share.token}/")
    assert page.status_code == 200
    link = f"http://testserver/s/{share.token}/"
    text = page.content.decode()
    assert f"git clone {link}annex.git local-set &amp;&amp; cd local-set\ngit annex get ." in text
    assert f"git clone {link}dvc.git local-set &amp;&amp; cd local-set\ndvc pull" in text
    assert "wget -c -x -nH --cut-dirs=3 -i urls.txt" in text
    # Viewing the page had both repositories built, before anyone clones; viewing it
    # again asks for nothing more (and costs the page no query: a cache entry says so).
    assert set(share.repositories.values_list("kind", "state")) == {("annex", "ready"), ("dvc", "ready")}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.get(f"/s/{share.token}/").status_code == 200
    assert callbacks == []

    locked = services.share_create(package=local_package, created_by=owner, password=PASSWORD)
    page = client.get(f"/s/{locked.token}/")
    assert "annex.git" not in page.content.decode()  # not before the password
    client.post(f"/s/{locked.token}/", {"password": PASSWORD})
    text = client.get(f"/s/{locked.token}/").content.decode()
    assert "dvc remote modify --local packager auth basic" in text
    assert "dvc remote modify --local packager ask_password true" in text
    assert "git config credential.helper cache" in text
    assert PASSWORD not in text


@pytest.mark.django_db
def test_it_gives_the_same_recipes_in_the_zips_how_to(client: Any, owner: Any, local_package: Package) -> None:
    publish(local_package)
    for password in ("", PASSWORD):
        share = services.share_create(package=local_package, created_by=owner, password=password)
        response = client.get(f"/s/{share.token}/download.zip", headers=basic(password) if password else {})
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
        guide = archive.read("local-set/HOW-TO-DOWNLOAD.md").decode()
        link = f"http://testserver/s/{share.token}/"
        assert annex.annex_recipe(share_url=link, folder="local-set", has_password=bool(password)) in guide
        assert dvc.dvc_recipe(share_url=link, folder="local-set", has_password=bool(password)) in guide
        assert ("ask_password true" in guide) == bool(password)
        assert PASSWORD not in guide
