"""HOW-TO-DOWNLOAD.md: the exact commands that fetch a share's data files.

It names the share link, so it is written for each download (it is small); the ZIP's
size stays exact because its length is known before the archive starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.template.defaultfilters import filesizeformat

from packager.exports.annex import annex_recipe
from packager.exports.dvc import dvc_recipe
from packager.paths import POINTER_SUFFIX

if TYPE_CHECKING:
    from packager.models import Package, PackageVersion

NAME = "HOW-TO-DOWNLOAD.md"


def cut_dirs(share_url: str) -> int:
    """How many folders wget must drop so a file lands at its path in the package: those of
    the share link ("s/<token>", "s/<token>/k/<key>" for a key link) and "r"."""
    return len([part for part in urlsplit(share_url).path.split("/") if part]) + 1


def wget_command(*, has_password: bool, share_url: str) -> str:
    """Run in the folder the ZIP unpacks to: each file lands at its path in the package
    (-x keeps the folders, -nH and --cut-dirs drop "host/s/<token>/r/")."""
    password = "--user=share --ask-password " if has_password else ""
    return f"wget -c -x -nH --cut-dirs={cut_dirs(share_url)} {password}-i urls.txt"


@dataclass(frozen=True)
class Recipe:
    client: str
    command: str


def client_recipes(*, link: str, folder: str) -> list[Recipe]:
    """How each client fetches from `link`: an open share's link or a password share's key link,
    under which no credentials are needed (most clients would send a password on to storage,
    which refuses it; see the README). `<path>` stands for a file's path in the package."""
    files = f"{link}r/"
    return [
        Recipe("curl", f"curl -fL -o <name> {files}<path>"),
        Recipe("DataLad", f"datalad clone {link}annex.git {folder}\ncd {folder} && datalad get ."),
        Recipe("DVC, one file", f"dvc import-url {files}<path> <name>"),
        Recipe("pandas", f'pandas.read_csv("{files}<path>.csv")\npandas.read_parquet("{files}<path>.parquet")'),
        Recipe("DuckDB", f"INSTALL httpfs; LOAD httpfs;\nSELECT * FROM read_parquet('{files}<path>.parquet');"),
        Recipe("fsspec", f'fs = fsspec.filesystem("http")\nfs.ls("{files}")\ndata = fs.cat("{files}<path>")'),
        Recipe("rclone", f"rclone copy --http-url {files} :http: {folder}"),
    ]


def recipes_text(*, link: str, folder: str) -> str:
    """The recipes as a section of HOW-TO-DOWNLOAD.md."""
    blocks = "".join(
        f"{recipe.client}:\n\n```\n{recipe.command}\n```\n\n" for recipe in client_recipes(link=link, folder=folder)
    )
    return f"""
## With other tools

Each of these reads the files straight from cloud storage too; `<path>` is a file's path in
the package (as in manifest.jsonl) and `<name>` the file to write.

{blocks}"""


def key_link_note(key_link: str) -> str:
    """What HOW-TO-DOWNLOAD says of a password share's key link ("" without one)."""
    if not key_link:
        return ""
    return f"""
## The key link: no password needed

{key_link}

Whoever has this link needs no password: every link above works under it, and so do the
commands in this file with no `--user`/`--ask-password`. Use it with the tools that send
the password on to cloud storage, which refuses it (curl `--location-trusted`, aria2c
`--http-user`, git-annex with a credential helper). Keep it as secret as the password; a
new password ends it.
"""


def render(
    version: PackageVersion, package: Package, *, share_url: str, has_password: bool, key_link: str = ""
) -> bytes:
    files = version.file_count
    published = version.published_at.strftime("%Y-%m-%d %H:%M UTC") if version.published_at else "just now"
    password_note = (
        "\nThis share has a password: wget asks for it (any user name works; `--password=…` "
        "instead of `--ask-password` for scripts).\n"
        if has_password
        else ""
    )
    clone_password_note = (
        "\ngit asks for the password (any user name) and caches it for git-annex; DVC asks for it "
        "on `dvc pull` (it is kept out of git, in `.dvc/config.local`).\n"
        if has_password
        else ""
    )
    text = f"""# How to download “{package.name}”, version {version.number}

Share link: {share_url}
Published: {published}
Top hash: `{version.top_hash}`
Data files: {files:,} ({filesizeformat(version.total_size)} in all)

This folder holds the package's text files and, for each data file, a small
`<path>{POINTER_SUFFIX}` that names it. The data files themselves stay in cloud storage.

## Fetch every data file

In this folder (the one that holds `urls.txt`):

```
{wget_command(has_password=has_password, share_url=share_url)}
```

Each file lands at its path in the package, beside its pointer. Each line of `urls.txt`
is a stable link that redirects to a fresh, short-lived signed URL, so the command can be
run again at any time: it resumes cut-short files and skips finished ones.
{password_note}
## Check what you fetched

`manifest.jsonl` has one line per file with its size, sha256 and md5. With `jq`:

```
jq -r 'select(.kind == "file") | "\\(.sha256)  \\(.path)"' manifest.jsonl | sha256sum -c --quiet
```

The top hash above is the sha256 of, for every line of `manifest.jsonl` in order,
`path + "\\0" + size + "\\0" + sha256 + "\\n"`:

```
jq -j '.path, "\\u0000", .size, "\\u0000", .sha256, "\\n"' manifest.jsonl | sha256sum
```

## Pointer files

A pointer's `resolve` is relative to the share link: `{share_url}` + `resolve`.
`datapackage.json` describes the same files as a Frictionless Data Package.
{recipes_text(link=key_link or share_url, folder=package.slug) if key_link or not has_password else ""}
## Or clone it with git-annex or DVC

The same files as a git repository; the data still comes straight from cloud storage and
every file is checked against its hash (run these anywhere, not in this folder):

```
{annex_recipe(share_url=share_url, folder=package.slug, has_password=has_password)}```

```
{dvc_recipe(share_url=share_url, folder=package.slug, has_password=has_password)}```
{clone_password_note}{key_link_note(key_link)}"""
    return text.encode()
