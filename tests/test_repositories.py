"""The repository builders on their own: git-annex and DVC repositories written with
git fast-import, served by a plain static HTTP server on 127.0.0.1 (git's dumb protocol),
cloned and fetched by the real clients."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from packager.exports import annex, dvc, gitrepo
from packager.exports.gitrepo import RepositoryFile
from tests.clients import Clients, sha256_of

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
DATA = {
    "survey/with space #1.bin": bytes(range(256)) * 64,
    "survey/dätä+100%?.txt": "unicode ü and symbols".encode(),
    "survey/deep/er/temps.csv": b"t,c\n" + b"1,2\n" * 5000,
    "empty.dat": b"",
    "copy of temps.csv": b"t,c\n" + b"1,2\n" * 5000,
    "big.raw": bytes(reversed(range(256))) * 4500,  # over 1 MiB
}
TEXT = {"README.md": b"# Survey\n", "notes/plan.txt": b"plan\n", 'notes/"quoted" back\\slash.txt': b"odd name\n"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on 127.0.0.1 over a fresh folder: (base URL, folder)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


@pytest.fixture
def clients(tmp_path: Path) -> Clients:
    return Clients.prepare(tmp_path / "home")


def _files(base: str) -> list[RepositoryFile]:
    files = [
        RepositoryFile(
            path=path,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            md5=hashlib.md5(content).hexdigest(),
            url=f"{base}/data/{quote(path)}",
        )
        for path, content in DATA.items()
    ]
    files += [
        RepositoryFile(path=path, size=len(content), sha256="", md5="", text=content) for path, content in TEXT.items()
    ]
    return sorted(files, key=lambda item: item.path)


def _publish_data(root: Path) -> None:
    for path, content in DATA.items():
        target = root / "data" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _serve_repository(directory: Path, root: Path, name: str) -> None:
    """Copy only what the share endpoints serve, so the test sees what a client would."""
    for served in gitrepo.served_files(directory):
        target = root / name / served
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((directory / served).read_bytes())


@pytest.mark.system
def test_it_names_keys_and_hash_folders_as_git_annex_does(clients: Clients, tmp_path: Path) -> None:
    names = [
        "a.csv",
        "with space #1.bin",
        "dätä+100%?.txt",
        "x.tar.gz",
        "a.b.c.d",
        "noext",
        "f.verylong",
        "f.ä",
        "f.äää",
        "f.a€",
        "a.t_t",
        "f.tar.a-b",
        ".hidden",
        ".a.gz",
        "f.tar..gz",
        "a.",
        "dir.d/f",
    ]
    work = tmp_path / "work"
    clients.git("init", "--quiet", work)
    for name in names:
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"same content")
        expected = clients.annex("calckey", name, cwd=work).stdout.strip()
        key = annex.annex_key(path=name, size=12, sha256=hashlib.sha256(b"same content").hexdigest())
        assert key == expected, name
        folders = clients.annex("examinekey", "--format=${hashdirlower} ${hashdirmixed}", key, cwd=work).stdout
        assert folders.strip() == f"{annex.hashdir_lower(key)} {annex.hashdir_mixed(key)}".strip(), name


@pytest.mark.system
def test_it_builds_an_annex_repository_that_git_annex_clones_gets_and_checks(
    static_server: tuple[str, Path], clients: Clients, tmp_path: Path
) -> None:
    base, root = static_server
    _publish_data(root)
    built = tmp_path / "annex.git"
    annex.write_annex_repository(built, iter(_files(base)), when=WHEN, message="Survey, version 1\n")
    assert (built / "objects" / "info" / "packs").read_text().startswith("P pack-")
    _serve_repository(built, root, "annex.git")

    clone = tmp_path / "clone"
    clients.git("clone", f"{base}/annex.git", clone)
    assert (clone / "README.md").read_bytes() == TEXT["README.md"]
    assert (clone / "survey/with space #1.bin").is_symlink()
    clients.annex("get", ".", cwd=clone)
    for path, content in DATA.items():
        assert sha256_of(clone / path) == hashlib.sha256(content).hexdigest(), path
    fsck = clients.annex("fsck", cwd=clone)
    assert fsck.stdout.count(" ok") >= len(DATA)
    where = clients.annex("whereis", "big.raw", cwd=clone).stdout
    assert f"{base}/data/big.raw" in where and "web" in where

    # The same build twice is the same commits (builds are deterministic).
    again = tmp_path / "again.git"
    annex.write_annex_repository(again, iter(_files(base)), when=WHEN, message="Survey, version 1\n")
    assert (again / "info" / "refs").read_text() == (built / "info" / "refs").read_text()

    # An object changed in storage fails verification and is not accepted.
    (root / "data" / "big.raw").write_bytes(b"x" + DATA["big.raw"][1:])
    tampered = tmp_path / "tampered"
    clients.git("clone", f"{base}/annex.git", tampered)
    refused = clients.annex("get", "big.raw", cwd=tampered, check=False)
    assert refused.returncode != 0
    # git-annex downloaded it whole (it checks the hash as the bytes arrive) and refused it.
    assert "100%" in refused.stdout and "failed" in refused.stderr
    assert not (tampered / "big.raw").exists()  # still a dangling symlink: no content
    # The same get with the right bytes back in storage succeeds: the content was the reason.
    (root / "data" / "big.raw").write_bytes(DATA["big.raw"])
    clients.annex("get", "big.raw", cwd=tampered)
    assert sha256_of(tampered / "big.raw") == hashlib.sha256(DATA["big.raw"]).hexdigest()


@pytest.mark.system
def test_it_builds_a_dvc_repository_that_dvc_pulls_and_checks(
    static_server: tuple[str, Path], clients: Clients, tmp_path: Path
) -> None:
    base, root = static_server
    for content in DATA.values():
        digest = hashlib.md5(content).hexdigest()
        target = root / "dvc" / "files" / "md5" / digest[:2] / digest[2:]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    built = tmp_path / "dvc.git"
    dvc.write_dvc_repository(built, iter(_files(base)), remote_url=f"{base}/dvc", when=WHEN, message="v1\n")
    _serve_repository(built, root, "dvc.git")

    clone = tmp_path / "clone"
    clients.git("clone", f"{base}/dvc.git", clone)
    for path, content in TEXT.items():
        assert (clone / path).read_bytes() == content, path
    assert "verify = true" in (clone / ".dvc" / "config").read_text()
    clients.dvc("pull", cwd=clone)
    for path, content in DATA.items():
        assert sha256_of(clone / path) == hashlib.sha256(content).hexdigest(), path
    # The .gitignore files written beside the .dvc files keep the pulled data out of git.
    assert clients.git("status", "--porcelain", cwd=clone).stdout == ""

    digest = hashlib.md5(DATA["big.raw"]).hexdigest()
    (root / "dvc" / "files" / "md5" / digest[:2] / digest[2:]).write_bytes(b"x" + DATA["big.raw"][1:])
    tampered = tmp_path / "tampered"
    clients.git("clone", f"{base}/dvc.git", tampered)
    refused = clients.dvc("pull", cwd=tampered, check=False)
    assert refused.returncode != 0
    assert not (tampered / "big.raw").exists()
    assert (tampered / "survey/deep/er/temps.csv").exists()


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("plain.csv", "/plain.csv"),
        ("#hash", "/\\#hash"),
        ("!bang", "/\\!bang"),
        ("a*b?[c]", "/a\\*b\\?\\[c\\]"),
        ("end ", "/end\\ "),
    ],
)
def test_it_escapes_gitignore_patterns(name: str, pattern: str) -> None:
    assert dvc.gitignore_pattern(name) == pattern


def test_it_serves_only_the_dumb_protocol_files() -> None:
    assert gitrepo.is_served_file("info/refs")
    assert gitrepo.is_served_file("objects/pack/pack-0123.pack")
    assert not gitrepo.is_served_file("config")
    assert not gitrepo.is_served_file("objects/pack/../../config")
    assert not gitrepo.is_served_file("objects/ab/cdef")
