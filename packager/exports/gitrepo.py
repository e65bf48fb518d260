"""Bare git repositories for git's "dumb" HTTP protocol, written with `git fast-import`.

A share's git-annex and DVC repositories are static files: `HEAD`, `info/refs`,
`objects/info/packs` and one pack with its index. `git fast-import` writes the pack straight
from a stream of commands, so a 100,000-file tree never sits in Python's memory and no
loose object is ever written; `git update-server-info` then writes the two index files the
dumb protocol reads. The built files go to Django's storage, from where the share
endpoints serve them.

Builds are deterministic: the same files and time give the same commits.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage, default_storage

from packager.exports.rows import rows
from packager.models import PackageVersion

AUTHOR = b"packager <packager@localhost>"
BRANCH = "main"
# What the dumb protocol reads: HEAD, info/refs, objects/info/packs and the packs.
SERVED_FILES = ("HEAD", "info/refs", "objects/info/packs")
REGULAR = "100644"
SYMLINK = "120000"


class GitBuildError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class RepositoryFile:
    """One file of a version, as the repository builders need it.

    Text files carry their bytes; data files carry the URL a client fetches them from.
    """

    path: str
    size: int
    sha256: str
    md5: str
    text: bytes | None = None
    url: str = ""

    @property
    def is_text(self) -> bool:
        return self.text is not None


def version_files(version: PackageVersion, *, resolve_base: str) -> Iterator[RepositoryFile]:
    """Every entry of a version in path order, as the export rows give them (memory stays flat)."""
    for row in rows(version):
        if row.is_text:
            with default_storage.open(row.text_name, "rb") as handle:
                text = handle.read()
            yield RepositoryFile(path=row.path, size=row.size, sha256=row.sha256, md5=row.md5, text=text)
        else:
            yield RepositoryFile(
                path=row.path, size=row.size, sha256=row.sha256, md5=row.md5, url=resolve_base + row.link
            )


def git_executable() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitBuildError("git is not installed on this server; it is needed to build share repositories.")
    return found


_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\\x7f]')


def _escape(match: re.Match[bytes]) -> bytes:
    byte = match.group()
    return b"\\" + byte if byte in (b'"', b"\\") else b"\\%03o" % byte[0]


def quote_path(path: str) -> bytes:
    """A path in fast-import's C-style quoting, so spaces, quotes and non-ASCII stay intact."""
    return b'"' + _NEEDS_ESCAPE.sub(_escape, path.encode("utf-8")) + b'"'


class Mark(bytes):
    """A blob already written to fast-import, referred to by its mark (":12")."""


class FastImport:
    """A `git fast-import` process writing into a new bare repository.

    Use as a context manager; `commit` takes the tree as an iterable of
    (mode, path, content) where content is the file's bytes or a `Mark` from `blob`.
    """

    def __init__(self, directory: Path, *, when: dt.datetime) -> None:
        self.directory = directory
        self.timestamp = int(when.timestamp())
        self._marks = 0
        git = git_executable()
        environment = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
        self._environment = environment
        subprocess.run(
            [git, "init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(directory)],
            check=True,
            capture_output=True,
            env=environment,
        )
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in finish or __exit__)
        self._process = subprocess.Popen(
            # unpackLimit=0: always one pack, however few objects (the dumb protocol
            # serves packs; loose objects would each be a request).
            [git, "-c", "fastimport.unpackLimit=0", "fast-import", "--quiet", "--done"],
            cwd=directory,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
            env=environment,
        )
        assert self._process.stdin is not None
        self._stream = self._process.stdin

    def __enter__(self) -> FastImport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None:
            self._process.kill()
            self._process.wait()
            self._errors.close()

    def _next_mark(self) -> Mark:
        self._marks += 1
        return Mark(b":%d" % self._marks)

    def _data(self, content: bytes) -> None:
        self._stream.write(b"data %d\n" % len(content))
        self._stream.write(content)
        self._stream.write(b"\n")

    def blob(self, content: bytes) -> Mark:
        mark = self._next_mark()
        self._stream.write(b"blob\nmark " + mark + b"\n")
        self._data(content)
        return mark

    def commit(self, *, branch: str, message: str, files: Iterable[tuple[str, str, bytes]]) -> None:
        """One root commit on `branch` holding `files` (mode, path, bytes or Mark)."""
        stamp = b"%d +0000" % self.timestamp
        self._stream.write(b"commit refs/heads/" + branch.encode() + b"\n")
        self._stream.write(b"author " + AUTHOR + b" " + stamp + b"\n")
        self._stream.write(b"committer " + AUTHOR + b" " + stamp + b"\n")
        self._data(message.encode())
        for mode, path, content in files:
            if isinstance(content, Mark):
                self._stream.write(b"M " + mode.encode() + b" " + content + b" " + quote_path(path) + b"\n")
            else:
                self._stream.write(b"M " + mode.encode() + b" inline " + quote_path(path) + b"\n")
                self._data(content)
        self._stream.write(b"\n")

    def finish(self) -> None:
        """Close the stream, wait for the pack, and write the dumb protocol's index files."""
        try:
            self._stream.write(b"done\n")
            self._stream.close()
        except BrokenPipeError:
            pass
        code = self._process.wait()
        self._errors.seek(0)
        errors = self._errors.read().decode("utf-8", errors="replace")
        self._errors.close()
        if code != 0:
            raise GitBuildError(f"git fast-import failed: {errors.strip()[-2000:]}")
        subprocess.run(
            [git_executable(), "update-server-info"],
            cwd=self.directory,
            check=True,
            capture_output=True,
            env=self._environment,
        )


def is_served_file(name: str) -> bool:
    """Whether a dumb-protocol client may ask for `name` (loose objects never exist here)."""
    if name in SERVED_FILES:
        return True
    folder, _, file_name = name.rpartition("/")
    return (
        folder == "objects/pack"
        and file_name.startswith("pack-")
        and file_name.endswith((".pack", ".idx"))
        and "/" not in file_name
        and ".." not in file_name
    )


def served_files(directory: Path) -> Iterator[str]:
    """The repository files a dumb-protocol client may ask for, relative to the repository."""
    yield from SERVED_FILES
    for pack in sorted((directory / "objects" / "pack").iterdir()):
        if pack.suffix in (".pack", ".idx"):
            yield f"objects/pack/{pack.name}"


def store_repository(directory: Path, *, storage: Storage, prefix: str) -> int:
    """Copy the served files under `prefix` in `storage`; returns their total size."""
    total = 0
    for name in served_files(directory):
        with open(directory / name, "rb") as handle:
            stored = storage.save(f"{prefix}/{name}", File(handle))
        if stored != f"{prefix}/{name}":
            raise GitBuildError(f"Storage renamed {prefix}/{name} to {stored}; the prefix must be new.")
        total += (directory / name).stat().st_size
    return total
