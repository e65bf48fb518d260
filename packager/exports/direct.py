"""Direct URL lists: one freshly signed storage URL per data file of a version.

For collaborators whose machines reach the storage service but not packager (clusters
behind a firewall), or whose tools do not follow redirects. Two formats:

- `direct.txt`, aria2's input-file format: the URL, then indented options, `out=` the
  logical path (so `aria2c -c -i direct.txt` rebuilds the tree) and `checksum=` the
  sha256 (aria2 checks it after the download);
- `direct.tsv`: a header line, then path, size, sha256 and URL separated by tabs.

Paths never hold control characters (packager.paths), so a path cannot break a line or
a field. The URLs expire (`expires_in`); the lists are for fetching now, not for keeping.
A link never lives past the share's expiry, nor longer than its source allows.
Files whose object changed or went missing in storage since publishing are left out
(the text format says which, in comment lines).

Cost: one query for the version's sources, one streamed query for its entries, and one
signature per file (sources.backends.signing), written out in blocks of lines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.utils import timezone

from packager.models import PackageEntry, PackageVersion, VersionEntry
from sources import clients
from sources.backends import Backend
from sources.models import Source
from web.paths import name_of

MAX_EXPIRES_IN = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live
BLOCK = 2000  # lines written at a time


class DirectListError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class _Signer:
    backend: Backend
    expires_in: int
    grant: str  # what packager's own (local-folder) links are issued through

    def sign(self, key: str, version_id: str, filename: str = "") -> str:
        return self.backend.sign_url(
            key, expires_in=self.expires_in, version_id=version_id, filename=filename, grant=self.grant
        )


def parse_expires_in(raw: str | None) -> int | None:
    """The `expires_in` query parameter: None when absent; DirectListError when not a
    whole number of seconds between 60 and MAX_EXPIRES_IN."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 60 <= int(raw) <= MAX_EXPIRES_IN:
        raise DirectListError(
            f"expires_in must be a whole number of seconds from 60 to {MAX_EXPIRES_IN:,} (7 days); "
            "leave it out to get each source's own link lifetime."
        )
    return int(raw)


def link_lifetime(source: Source, expires_in: int | None, *, not_after: dt.datetime | None = None) -> int:
    """How long the links to one source's files live: what the client asked for (the
    source's own lifetime when it asked nothing), never longer than the source allows
    (Source.longest_link_lifetime) nor past `not_after` (the share's expiry): a storage URL
    cannot be revoked once handed out."""
    lifetime = source.presign_ttl if expires_in is None else min(expires_in, source.longest_link_lifetime)
    if not_after is not None:
        lifetime = min(lifetime, max(1, int((not_after - timezone.now()).total_seconds())))
    return lifetime


def signers_for(
    version: PackageVersion, expires_in: int | None, *, grant: str = "", not_after: dt.datetime | None = None
) -> dict[int, _Signer]:
    """A signer per source of the version's files, each tried once: StorageError here,
    before anything is streamed, when a source cannot sign (an Azure source connected with
    a SAS token, secrets that cannot be decrypted), so the client gets a clear error and
    not a list cut short. Links live as link_lifetime says."""
    used = VersionEntry.objects.filter(package_version=version, kind=PackageEntry.Kind.POINTER).values("source_id")
    signers = {}
    for source in Source.objects.filter(pk__in=used):
        lifetime = link_lifetime(source, expires_in, not_after=not_after)
        signer = _Signer(backend=clients.backend_for(source), expires_in=lifetime, grant=grant)
        signer.sign(source.normalized_prefix or "probe", "")
        signers[source.pk] = signer
    return signers


def _rows(version: PackageVersion) -> Iterator[tuple[str, int, str, str, str, int, str]]:
    return (
        VersionEntry.objects.filter(package_version=version, kind=PackageEntry.Kind.POINTER)
        .order_by("position")
        .values_list("path", "size", "sha256", "key", "version_id", "source_id", "drift")
        .iterator(chunk_size=BLOCK)
    )


def _signed(
    version: PackageVersion, signers: dict[int, _Signer], absolute: Callable[[str], str]
) -> Iterator[tuple[str, int, str, str | None]]:
    """(path, size, sha256, URL or None when the entry drifted) in path order."""
    for path, size, sha256, key, object_version, source_id, drift in _rows(version):
        if drift:
            yield path, size, sha256, None
            continue
        url = signers[source_id].sign(key, object_version, name_of(path))
        yield path, size, sha256, absolute(url) if url.startswith("/") else url


def direct_txt(
    version: PackageVersion, *, signers: dict[int, _Signer], absolute: Callable[[str], str]
) -> Iterator[str]:
    lines: list[str] = []
    for path, _size, sha256, url in _signed(version, signers, absolute):
        if url is None:
            lines.append(f"# left out: {path} changed in storage since version {version.number} was published\n")
        else:
            checksum = f"  checksum=sha-256={sha256}\n" if sha256 else ""
            lines.append(f"{url}\n  out={path}\n{checksum}")
        if len(lines) >= BLOCK:
            yield "".join(lines)
            lines = []
    yield "".join(lines)


def direct_tsv(
    version: PackageVersion, *, signers: dict[int, _Signer], absolute: Callable[[str], str]
) -> Iterator[str]:
    lines = ["path\tsize\tsha256\turl\n"]
    for path, size, sha256, url in _signed(version, signers, absolute):
        if url is not None:
            lines.append(f"{path}\t{size}\t{sha256}\t{url}\n")
        if len(lines) >= BLOCK:
            yield "".join(lines)
            lines = []
    yield "".join(lines)
