"""A version as a DVC repository: `git clone` it, then `dvc pull`.

The tree holds text files as ordinary files and, for each data file, a `<name>.dvc` file
beside where the data file will be (DVC 3 format: md5, size, `hash: md5`), as `dvc add`
writes them. The committed `.dvc/config` names the share's content-addressed endpoint as
the default remote, with `verify = true` so DVC checks every md5 it downloads. The remote
serves DVC 3's layout, `files/md5/<2 hex>/<30 hex>`, by redirecting to the storage.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from packager.exports.gitrepo import BRANCH, REGULAR, FastImport, RepositoryFile

REMOTE_NAME = "packager"
DVC_SUFFIX = ".dvc"


def dvc_file(*, name: str, size: int, md5: str) -> bytes:
    """The `.dvc` file of one data file named `name` (its folder is the .dvc file's)."""
    # A JSON string is a valid YAML double-quoted scalar: names with "#", ":" or spaces stay intact.
    return (
        f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {json.dumps(name, ensure_ascii=False)}\n"
    ).encode()


def dvc_config(remote_url: str) -> bytes:
    return (
        f"[core]\n    remote = {REMOTE_NAME}\n['remote \"{REMOTE_NAME}\"']\n    url = {remote_url}\n    verify = true\n"
    ).encode()


def gitignore_pattern(name: str) -> str:
    """A .gitignore line matching exactly the file `name` in the .gitignore's folder."""
    escaped = "".join("\\" + character if character in "\\*?[]!#" else character for character in name)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def _scaffolding(remote_url: str) -> Iterator[tuple[str, str, bytes]]:
    # What `dvc init` leaves, plus the remote. config.local (where a password goes) stays out of git.
    yield REGULAR, ".dvc/config", dvc_config(remote_url)
    yield REGULAR, ".dvc/.gitignore", b"/config.local\n/tmp\n/cache\n"
    yield REGULAR, ".dvcignore", b"# Patterns DVC ignores (same syntax as .gitignore).\n"


def write_dvc_repository(
    directory: Path, files: Iterable[RepositoryFile], *, remote_url: str, when: dt.datetime, message: str
) -> None:
    """Build the bare repository in `directory` (which must not exist yet), reading `files` once."""

    # Data file names per folder, for the .gitignore files that keep `git status` clean
    # after `dvc pull` (as `dvc add` does): names only, a few MB at 100,000 files.
    ignored: dict[str, list[str]] = defaultdict(list)

    def tree() -> Iterator[tuple[str, str, bytes]]:
        yield from _scaffolding(remote_url)
        for item in files:
            if item.text is not None:
                yield REGULAR, item.path, item.text
            else:
                folder, _, name = item.path.rpartition("/")
                ignored[folder].append(name)
                yield REGULAR, item.path + DVC_SUFFIX, dvc_file(name=name, size=item.size, md5=item.md5)
        for folder, names in ignored.items():
            lines = "".join(gitignore_pattern(name) + "\n" for name in names)
            yield REGULAR, f"{folder}/.gitignore" if folder else ".gitignore", lines.encode()

    with FastImport(directory, when=when) as git:
        git.commit(branch=BRANCH, message=message, files=tree())
        git.finish()


def dvc_recipe(*, share_url: str, folder: str, has_password: bool) -> str:
    """The commands a collaborator runs; share_url ends with "/"."""
    lines = [f"git clone {share_url}dvc.git {folder} && cd {folder}"]
    if has_password:
        # --local: .dvc/config.local, which the repository's .dvc/.gitignore keeps out of git.
        lines += [
            f"dvc remote modify --local {REMOTE_NAME} auth basic",
            f"dvc remote modify --local {REMOTE_NAME} user share",
            f"dvc remote modify --local {REMOTE_NAME} ask_password true",
        ]
    lines.append("dvc pull")
    return "\n".join(lines) + "\n"
