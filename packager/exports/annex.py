"""A version as a git-annex repository: `git clone` it, then `git annex get .`.

Branch `main` holds the package tree: text files as ordinary files, data files as
git-annex symlinks to `SHA256E-s<size>--<sha256><ext>` keys. Branch `git-annex` holds, for
each key, a location log saying the web special remote has it and a `.log.web` with the
URL it is fetched from, plus `uuid.log` naming the web remote. No `git annex init` happens
here: a clone initialises itself with its own UUID the first time git-annex runs in it.

Key names and hash directories follow git-annex's formats; tests/test_repositories.py
checks them against `git annex calckey` and `git annex examinekey`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path

from packager.exports.gitrepo import BRANCH, REGULAR, SYMLINK, FastImport, RepositoryFile
from web.paths import name_of

WEB_UUID = "00000000-0000-0000-0000-000000000001"
ANNEX_BRANCH = "git-annex"
# git-annex keeps at most two extensions of at most four bytes each in an E-backend key.
MAX_EXTENSIONS = 2
MAX_EXTENSION_BYTES = 4
# The characters git-annex's hashdirmixed draws from.
_MIXED_CHARACTERS = "0123456789zqjxkmvwgpfZQJXKMVWGPF"


def _valid_extension(part: bytes) -> bool:
    # ASCII must be a letter or digit; any byte of a non-ASCII character is accepted.
    return all(byte >= 0x80 or chr(byte).isalnum() for byte in part)


def key_extension(path: str) -> str:
    """The extension git-annex's SHA256E backend keeps for a file name ("" for none)."""
    name = name_of(path).lstrip(".")
    _, dot, extensions = name.partition(".")
    if not dot:
        return ""
    kept: list[bytes] = []
    for part in reversed(extensions.encode("utf-8").split(b".")):
        if len(part) > MAX_EXTENSION_BYTES:
            break
        if _valid_extension(part):
            kept.append(part)
    chosen = [part for part in kept[:MAX_EXTENSIONS] if part]
    return "".join("." + part.decode("utf-8") for part in reversed(chosen))


def annex_key(*, path: str, size: int, sha256: str) -> str:
    return f"SHA256E-s{size}--{sha256}{key_extension(path)}"


def hashdir_lower(key: str) -> str:
    """The git-annex branch's two directory levels for a key: "abc/def/"."""
    digest = hashlib.md5(key.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{digest[:3]}/{digest[3:6]}/"


def hashdir_mixed(key: str) -> str:
    """The `.git/annex/objects` directory levels for a key: "Xy/Zw/"."""
    digest = hashlib.md5(key.encode("utf-8"), usedforsecurity=False).digest()
    (word,) = struct.unpack("<I", digest[:4])
    characters = [_MIXED_CHARACTERS[(word >> (6 * index)) & 31] for index in range(8)]
    swapped = "".join(characters[index + 1] + characters[index] for index in range(0, 8, 2))
    return f"{swapped[:2]}/{swapped[2:4]}/"


def symlink_target(path: str, key: str) -> str:
    """Where an annexed file's symlink points, relative to the file's own folder."""
    up = "../" * path.count("/")
    return f"{up}.git/annex/objects/{hashdir_mixed(key)}{key}/{key}"


def write_annex_repository(
    directory: Path, files: Iterable[RepositoryFile], *, when: dt.datetime, message: str
) -> None:
    """Build the bare repository in `directory` (which must not exist yet).

    The files are read once; the (key, URL) pairs for the git-annex branch wait in a
    temporary file meanwhile, so memory stays flat whatever the number of files.
    """
    stamp = f"{int(when.timestamp())}s"
    with tempfile.TemporaryFile() as pending, FastImport(directory, when=when) as git:

        def tree() -> Iterable[tuple[str, str, bytes]]:
            for item in files:
                if item.text is not None:
                    yield REGULAR, item.path, item.text
                    continue
                key = annex_key(path=item.path, size=item.size, sha256=item.sha256)
                pending.write(f"{key}\t{item.url}\n".encode())
                yield SYMLINK, item.path, symlink_target(item.path, key).encode()

        git.commit(branch=BRANCH, message=message, files=tree())

        # Every key's location log says the same thing, so it is one blob written once.
        present = git.blob(f"{stamp} 1 {WEB_UUID}\n".encode())

        def logs() -> Iterable[tuple[str, str, bytes]]:
            yield REGULAR, "uuid.log", f"{WEB_UUID} web timestamp={stamp}\n".encode()
            pending.seek(0)
            for line in pending:
                key, _, url = line.decode().rstrip("\n").partition("\t")
                folder = hashdir_lower(key)
                yield REGULAR, f"{folder}{key}.log", present
                yield REGULAR, f"{folder}{key}.log.web", f"{stamp} 1 {url}\n".encode()

        git.commit(branch=ANNEX_BRANCH, message="packager: where every file can be fetched", files=logs())
        git.finish()


def annex_recipe(*, share_url: str, folder: str, has_password: bool) -> str:
    """The commands a collaborator runs; share_url ends with "/"."""
    if has_password:
        # The credential cache asks for the share password once, for git and git-annex both.
        return (
            f"git -c credential.helper=cache clone {share_url}annex.git {folder} && cd {folder}\n"
            "git config credential.helper cache\n"
            "git annex get .\n"
        )
    return f"git clone {share_url}annex.git {folder} && cd {folder}\ngit annex get .\n"
