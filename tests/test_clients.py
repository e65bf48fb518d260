"""Every client a collaborator already has, run for real against a share on S3 (SeaweedFS behind the
strict proxy, on `localhost`) with packager's live server on `127.0.0.1`: an open share, a password
share through its key link, and the password as HTTP Basic auth with the clients that keep the header
to packager's host. Every file fetched is checked against the sha256 of the share's manifest.

A client that sends `Authorization` on after the 307 (curl --location-trusted, aria2c --http-user,
git-annex with a credential helper, …) gets the proxy's 400, as from AWS; `test_*_forwards_*` pin
that, and that the same client fetches every byte through the key link.

The clients: wget, curl, aria2c and rclone from Debian; git-annex, DataLad, DVC, pandas, DuckDB
(with httpfs from PyPI's duckdb-ext-httpfs, loaded offline) and fsspec in `.venv-clients`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import shutil
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from packager import services as packages
from shares import services
from tests.clients import Clients
from tests.factories import make_source, publish
from tests.s3_servers import SeaweedS3

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

PASSWORD = "clients pass 42"
CSV = b"station,day,temperature\nA,1,12.5\nA,2,13.0\nB,1,9.75\n"


def _parquet() -> bytes:
    table = pa.table({"station": ["A", "A", "B"], "day": [1, 2, 1], "temperature": [12.5, 13.0, 9.75]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


# Bucket keys under lake/; in the package they sit at the same paths without the lake/ folder.
OBJECTS = {
    "lake/tables/measurements.csv": CSV,
    "lake/tables/measurements.parquet": _parquet(),
    "lake/raw/scan #1.bin": bytes(range(256)) * 33 + b"tail",
    "lake/raw/empty.dat": b"",
}
FILES = {key.removeprefix("lake/"): content for key, content in OBJECTS.items()}
README = "# Lake\n\nMeasurements of the lake.\n"
ROWS = [("A", 1, 12.5), ("A", 2, 13.0), ("B", 1, 9.75)]


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def basic_header(password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"collaborator:{password}".encode()).decode()


def get(url: str, *, authorization: str = "") -> bytes:
    """GET a listing packager serves itself (no redirect, so the header stays with packager)."""
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
        return body


@dataclass(frozen=True)
class Share:
    """One way in: the share link (ending in /) and the Authorization header it needs, if any."""

    url: str
    authorization: str = ""

    @property
    def password(self) -> str:
        return PASSWORD if self.authorization else ""

    def fetch(self, name: str) -> bytes:
        return get(self.url + name, authorization=self.authorization)

    def manifest(self) -> dict[str, str]:
        """path -> sha256 of every data file, from the share's own manifest."""
        lines = [json.loads(line) for line in self.fetch("manifest.jsonl").decode().splitlines()]
        return {line["path"]: line["sha256"] for line in lines if line["kind"] == "file"}

    def resolve_url(self, path: str) -> str:
        return self.url + "r/" + quote(path)

    @property
    def cut_dirs(self) -> int:
        """How many folders of a resolve link's path wget drops: all of them up to r/."""
        return len([part for part in urlsplit(self.url).path.split("/") if part]) + 1


@dataclass(frozen=True)
class Package:
    open: Share
    basic: Share  # the password share, with the password as Basic auth
    key: Share  # the password share's key link, with no credentials
    slug: str


def check_files(folder: Path, share: Share, paths: list[str] | None = None) -> None:
    """Every data file (or those of `paths`) is in `folder` with the manifest's sha256."""
    manifest = share.manifest()
    assert set(manifest) == set(FILES)
    for path in paths if paths is not None else manifest:
        fetched = folder / path
        assert fetched.is_file(), f"{path} is missing in {folder}"
        assert sha256(fetched.read_bytes()) == manifest[path], path


@pytest.fixture(scope="module")
def lake_bucket(seaweed: SeaweedS3) -> str:
    """One bucket with the module's objects, filled once (per worker, and again where the
    worker-stealing scheduler sets the module up a second time: a new name each time)."""
    name = f"clients-lake-{uuid.uuid4().hex[:8]}"
    client = seaweed.client()
    client.create_bucket(Bucket=name)
    for key, content in OBJECTS.items():
        client.put_object(Bucket=name, Key=key, Body=content)
    return name


@pytest.fixture
def package(live_server: Any, owner: Any, seaweed: SeaweedS3, lake_bucket: str) -> Package:
    source = make_source(owner, seaweed.source_fields(lake_bucket))
    package = packages.package_create(owner=owner, name="Lake")
    packages.package_add_objects(package=package, source=source, paths=["lake/"], keep_folder_names=False)
    packages.package_write_text(package=package, path="README.md", content=README)
    publish(package)
    open_share = services.share_create(package=package, created_by=owner)
    password_share = services.share_create(package=package, created_by=owner, password=PASSWORD)
    basic = Share(f"{live_server.url}/s/{password_share.token}/", basic_header())
    key_link = basic.fetch("key").decode().strip()  # as a collaborator asks for it
    assert key_link.startswith(basic.url + "k/") and key_link.endswith("/")
    return Package(
        open=Share(f"{live_server.url}/s/{open_share.token}/"), basic=basic, key=Share(key_link), slug=package.slug
    )


@pytest.fixture
def clients(tmp_path: Path) -> Clients:
    return Clients.prepare(tmp_path / "home")


def wait_ready(share: Share, kind: str) -> None:
    """A share's repository is built on its first request (503 + Retry-After; Celery runs eagerly)."""
    try:
        share.fetch(f"{kind}.git/info/refs")
    except urllib.error.HTTPError as error:
        assert error.code == 503, error
        share.fetch(f"{kind}.git/info/refs")


@contextlib.contextmanager
def refused_by_storage(seaweed: SeaweedS3) -> Iterator[None]:
    """The block made the strict proxy refuse a presigned URL sent with an Authorization header
    (AWS's 400 InvalidArgument), at least once."""
    assert seaweed.proxy is not None
    before = seaweed.proxy.refused
    yield
    assert seaweed.proxy.refused > before, "storage refused nothing"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed: run `make install-test`."
    return found


# wget ----------------------------------------------------------------------------------


def run_wget(clients: Clients, share: Share, folder: Path, *extra: str, check: bool = True) -> Any:
    folder.mkdir(parents=True)
    (folder / "urls.txt").write_bytes(share.fetch("urls.txt"))
    command = [tool("wget"), "--no-verbose", "-c", "-x", "-nH", f"--cut-dirs={share.cut_dirs}", *extra]
    return clients.run(*command, "-i", "urls.txt", cwd=folder, check=check)


@pytest.mark.parametrize("way", ["open", "key", "basic"])
def test_wget_fetches_every_file_of_urls_txt(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    share: Share = getattr(package, way)
    extra = ["--user=collaborator", f"--password={share.password}"] if share.password else []
    run_wget(clients, share, tmp_path / "wget", *extra)
    check_files(tmp_path / "wget", share)


# curl ----------------------------------------------------------------------------------


def run_curl(clients: Clients, share: Share, folder: Path, *extra: str, check: bool = True) -> Any:
    """One curl for every file, each to its path (`-o path url` pairs)."""
    pairs = [part for path in FILES for part in ("-o", path, share.resolve_url(path))]
    folder.mkdir(parents=True)
    return clients.run(
        tool("curl"), "--fail", "--silent", "--show-error", "--create-dirs", *extra, *pairs, cwd=folder, check=check
    )


@pytest.mark.parametrize("way", ["open", "key", "basic"])
def test_curl_follows_each_link(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    share: Share = getattr(package, way)
    extra = ["-u", f"collaborator:{share.password}"] if share.password else []
    run_curl(clients, share, tmp_path / "curl", "-L", *extra)
    check_files(tmp_path / "curl", share)


def test_curl_location_trusted_forwards_the_password_and_s3_refuses_it(
    package: Package, clients: Clients, tmp_path: Path, seaweed: SeaweedS3
) -> None:
    share = package.basic
    with refused_by_storage(seaweed):
        completed = run_curl(
            clients, share, tmp_path / "curl", "--location-trusted", "-u", f"collaborator:{PASSWORD}", check=False
        )
    assert completed.returncode == 22 and "400" in completed.stderr, completed.stderr
    # The same client through the key link: no credentials to send on, every byte arrives.
    run_curl(clients, package.key, tmp_path / "curl-key", "--location-trusted")
    check_files(tmp_path / "curl-key", package.key)


# aria2c --------------------------------------------------------------------------------


def run_aria2c(clients: Clients, list_file: Path, folder: Path, *extra: str, check: bool = True) -> Any:
    command = [tool("aria2c"), "-c", "-i", list_file, "-d", folder, "--console-log-level=warn", "--summary-interval=0"]
    return clients.run(*command, *extra, cwd=list_file.parent, check=check)


@pytest.mark.parametrize("way", ["open", "key", "basic"])
def test_aria2c_fetches_direct_txt(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    share: Share = getattr(package, way)
    direct = tmp_path / "direct.txt"
    direct.write_bytes(share.fetch("direct.txt"))  # signed storage URLs: no password goes to storage
    run_aria2c(clients, direct, tmp_path / "aria2c")
    check_files(tmp_path / "aria2c", share)


def test_aria2c_http_user_forwards_the_password_and_s3_refuses_it(
    package: Package, clients: Clients, tmp_path: Path, seaweed: SeaweedS3
) -> None:
    share = package.basic
    urls = tmp_path / "urls.txt"
    urls.write_bytes(share.fetch("urls.txt"))
    with refused_by_storage(seaweed):
        completed = run_aria2c(
            clients, urls, tmp_path / "aria2c", "--http-user=collaborator", f"--http-passwd={PASSWORD}", check=False
        )
    assert completed.returncode != 0
    assert "400" in completed.stdout + completed.stderr, completed.stdout + completed.stderr
    keyed = tmp_path / "key-urls.txt"
    keyed.write_bytes(package.key.fetch("urls.txt"))  # key links, resolved with no credentials
    run_aria2c(clients, keyed, tmp_path / "aria2c-key", "--auto-file-renaming=false")
    files = tmp_path / "aria2c-key"
    assert sorted(path.name for path in files.iterdir()) == sorted(Path(path).name for path in FILES)
    for path, digest in package.key.manifest().items():
        assert sha256((files / Path(path).name).read_bytes()) == digest, path


# git-annex and DataLad -----------------------------------------------------------------


def annex_clone_get_and_check(clients: Clients, share: Share, folder: Path) -> None:
    """git clone the share's annex repository, git annex get every file, check the bytes and fsck."""
    wait_ready(share, "annex")
    clients.git("clone", share.url + "annex.git", folder)
    clients.annex("get", ".", cwd=folder)
    check_files(folder, share)
    fsck = clients.annex("fsck", cwd=folder)
    assert fsck.stdout.count(" ok") >= len(FILES), fsck.stdout


@pytest.mark.parametrize("way", ["open", "key"])
def test_git_annex_clones_gets_and_checks(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    annex_clone_get_and_check(clients, getattr(package, way), tmp_path / "annex")


def test_git_annex_with_a_credential_helper_forwards_the_password_and_s3_refuses_it(
    package: Package, clients: Clients, tmp_path: Path, seaweed: SeaweedS3
) -> None:
    share = package.basic
    wait_ready(share, "annex")
    clients.store_password(PASSWORD)
    folder = tmp_path / "annex"
    clients.git("clone", share.url + "annex.git", folder)  # git itself gets the repository
    with refused_by_storage(seaweed):
        refused = clients.annex("get", ".", cwd=folder, check=False)
    assert refused.returncode != 0
    assert "Bad Request" in refused.stderr, refused.stdout + refused.stderr
    assert not (folder / "tables/measurements.csv").exists()
    # The same client, the credential helper still set, through the key link: nothing asks for
    # a password, so nothing is sent on, and every file arrives and checks.
    annex_clone_get_and_check(clients, package.key, tmp_path / "annex-key")


@pytest.mark.parametrize("way", ["open", "key"])
def test_datalad_clones_and_gets(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    share: Share = getattr(package, way)
    wait_ready(share, "annex")
    folder = tmp_path / "datalad"
    clients.datalad("clone", share.url + "annex.git", folder)
    clients.datalad("get", ".", cwd=folder)
    check_files(folder, share)


def test_datalad_with_a_credential_helper_forwards_the_password_and_s3_refuses_it(
    package: Package, clients: Clients, tmp_path: Path, seaweed: SeaweedS3
) -> None:
    share = package.basic
    wait_ready(share, "annex")
    clients.store_password(PASSWORD)
    folder = tmp_path / "datalad"
    clients.datalad("clone", share.url + "annex.git", folder)
    with refused_by_storage(seaweed):
        refused = clients.datalad("get", ".", cwd=folder, check=False)
    assert refused.returncode != 0
    assert not (folder / "tables/measurements.csv").exists()


# DVC -----------------------------------------------------------------------------------


def dvc_clone(clients: Clients, share: Share, folder: Path) -> None:
    wait_ready(share, "dvc")
    clients.git("clone", share.url + "dvc.git", folder)


@pytest.mark.parametrize("way", ["open", "key"])
def test_dvc_clones_and_pulls(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    share: Share = getattr(package, way)
    dvc_clone(clients, share, tmp_path / "dvc")
    clients.dvc("pull", cwd=tmp_path / "dvc")
    check_files(tmp_path / "dvc", share)


def test_dvc_with_basic_auth_forwards_the_password_and_s3_refuses_it(
    package: Package, clients: Clients, tmp_path: Path, seaweed: SeaweedS3
) -> None:
    share = package.basic
    clients.store_password(PASSWORD)  # for git; DVC takes it in its local config
    folder = tmp_path / "dvc"
    dvc_clone(clients, share, folder)
    for option, value in (("auth", "basic"), ("user", "collaborator"), ("password", PASSWORD)):
        clients.dvc("remote", "modify", "--local", "packager", option, value, cwd=folder)
    with refused_by_storage(seaweed):
        refused = clients.dvc("pull", cwd=folder, check=False)
    assert refused.returncode != 0
    assert not (folder / "tables/measurements.csv").exists()


def dvc_import_url(clients: Clients, url: str, folder: Path, *fs_config: str, check: bool = True) -> Any:
    folder.mkdir()
    clients.git("init", cwd=folder)
    clients.dvc("init", cwd=folder)
    extra = ["--fs-config", *fs_config] if fs_config else []
    return clients.dvc("import-url", url, "measurements.csv", *extra, cwd=folder, check=check)


@pytest.mark.parametrize("way", ["open", "key"])
def test_dvc_imports_one_file_of_by_url(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    share: Share = getattr(package, way)
    path = "tables/measurements.csv"
    dvc_import_url(clients, share.resolve_url(path), tmp_path / "project")
    assert sha256((tmp_path / "project" / "measurements.csv").read_bytes()) == share.manifest()[path]


def test_dvc_import_url_with_basic_auth_forwards_the_password_and_s3_refuses_it(
    package: Package, clients: Clients, tmp_path: Path, seaweed: SeaweedS3
) -> None:
    share = package.basic
    url = share.resolve_url("tables/measurements.csv")
    with refused_by_storage(seaweed):
        refused = dvc_import_url(
            clients, url, tmp_path / "project", "auth=basic", "user=collaborator", f"password={PASSWORD}", check=False
        )
    assert refused.returncode != 0
    assert not (tmp_path / "project" / "measurements.csv").exists()


# pandas, DuckDB, fsspec (Python, in .venv-clients) -------------------------------------

PANDAS = """
import json, os, sys
import pandas
url, authorization = sys.argv[1], sys.argv[2]
options = {"Authorization": authorization} if authorization else None
rows = {}
for kind, read in (("csv", pandas.read_csv), ("parquet", pandas.read_parquet)):
    frame = read(url + "tables/measurements." + kind, storage_options=options)
    rows[kind] = [list(row) for row in frame.itertuples(index=False)]
print(json.dumps(rows), flush=True)
# pyarrow's threads and fsspec's event-loop thread sometimes abort the interpreter's shutdown
# ("terminate called without an active exception", SIGABRT) after every row has been read;
# the data is what is tested, so the script leaves without that shutdown.
os._exit(0)
"""


@pytest.mark.parametrize("way", ["open", "key"])
def test_pandas_reads_csv_and_parquet_from_a_resolve_link(package: Package, clients: Clients, way: str) -> None:
    share: Share = getattr(package, way)
    completed = clients.python(PANDAS, share.url + "r/", "")
    rows = json.loads(completed.stdout)
    assert rows == {"csv": [list(row) for row in ROWS], "parquet": [list(row) for row in ROWS]}


def test_pandas_with_an_authorization_header_forwards_it_and_s3_refuses_it(
    package: Package, clients: Clients, seaweed: SeaweedS3
) -> None:
    share = package.basic
    with refused_by_storage(seaweed):
        refused = clients.python(PANDAS, share.url + "r/", share.authorization, check=False)
    assert refused.returncode != 0 and "HTTP Error 400" in refused.stderr, refused.stderr


DUCKDB = """
import json, pathlib, sys
import duckdb, duckdb_ext
url, authorization = sys.argv[1], sys.argv[2]
extensions = pathlib.Path(list(duckdb_ext.__path__)[0]) / "extensions"
connection = duckdb.connect(config={"extension_directory": str(extensions), "autoinstall_known_extensions": False})
connection.execute("LOAD httpfs")
if authorization:
    connection.execute(
        "CREATE SECRET share (TYPE http, EXTRA_HTTP_HEADERS MAP {'Authorization': ?})", [authorization]
    )
rows = connection.execute(
    "SELECT station, day, temperature FROM read_parquet(?) ORDER BY station, day", [url + "tables/measurements.parquet"]
).fetchall()
print(json.dumps([list(row) for row in rows]))
"""


@pytest.mark.parametrize("way", ["open", "key"])
def test_duckdb_reads_parquet_from_a_resolve_link(package: Package, clients: Clients, way: str) -> None:
    share: Share = getattr(package, way)
    completed = clients.python(DUCKDB, share.url + "r/", "")
    assert json.loads(completed.stdout) == [list(row) for row in ROWS]


def test_duckdb_with_an_authorization_header_forwards_it_and_s3_refuses_it(
    package: Package, clients: Clients, seaweed: SeaweedS3
) -> None:
    share = package.basic
    with refused_by_storage(seaweed):
        refused = clients.python(DUCKDB, share.url + "r/", share.authorization, check=False)
    assert refused.returncode != 0, refused.stdout


FSSPEC_CAT = """
import hashlib, json, sys
import aiohttp, fsspec
url, authorization = sys.argv[1], sys.argv[2]
kwargs = {}
if authorization:
    user, _, password = __import__("base64").b64decode(authorization.split()[1]).decode().partition(":")
    kwargs["client_kwargs"] = {"auth": aiohttp.BasicAuth(user, password)}
filesystem = fsspec.filesystem("http", **kwargs)
paths = json.loads(sys.argv[3])
print(json.dumps({path: hashlib.sha256(filesystem.cat(url + path)).hexdigest() for path in paths}))
"""


def fsspec_cat(clients: Clients, share: Share, authorization: str = "", check: bool = True) -> Any:
    links = [share.resolve_url(path).removeprefix(share.url + "r/") for path in FILES]
    return clients.python(FSSPEC_CAT, share.url + "r/", authorization, json.dumps(links), check=check)


@pytest.mark.parametrize("way", ["open", "key"])
def test_fsspec_cats_every_file(package: Package, clients: Clients, way: str) -> None:
    share: Share = getattr(package, way)
    fetched = json.loads(fsspec_cat(clients, share).stdout)
    assert {path: fetched[share.resolve_url(path).removeprefix(share.url + "r/")] for path in FILES} == share.manifest()


def test_fsspec_with_basic_auth_forwards_it_and_s3_refuses_it(
    package: Package, clients: Clients, seaweed: SeaweedS3
) -> None:
    with refused_by_storage(seaweed):
        refused = fsspec_cat(clients, package.basic, package.basic.authorization, check=False)
    assert refused.returncode != 0 and "400" in refused.stderr, refused.stderr


# Clients that walk the tree: fsspec ls and rclone, on the HTML index under r/ ------------

FSSPEC_LS = """
import hashlib, json, sys
import fsspec
filesystem = fsspec.filesystem("http")
found, folders = {}, [sys.argv[1]]
while folders:
    for entry in filesystem.ls(folders.pop(), detail=True):
        if entry["type"] == "directory":
            folders.append(entry["name"])
        else:
            found[entry["name"]] = hashlib.sha256(filesystem.cat(entry["name"])).hexdigest()
print(json.dumps(found))
"""


@pytest.mark.parametrize("way", ["open", "key"])
def test_fsspec_lists_the_share_and_reads_what_it_lists(package: Package, clients: Clients, way: str) -> None:
    share: Share = getattr(package, way)
    listed = json.loads(clients.python(FSSPEC_LS, share.url + "r/").stdout)
    found = {unquote(name.removeprefix(share.url + "r/")): digest for name, digest in listed.items()}
    assert found == {**share.manifest(), "README.md": sha256(README.encode())}


@pytest.mark.parametrize("way", ["open", "key"])
def test_rclone_copies_the_share(package: Package, clients: Clients, tmp_path: Path, way: str) -> None:
    share: Share = getattr(package, way)
    target = tmp_path / "rclone"
    clients.run(tool("rclone"), "copy", "--config", "/dev/null", "--http-url", share.url + "r/", ":http:", target)
    check_files(target, share)
