"""Publishing a version to a bucket the curator owns, as data pipelines publish results.

Under a prefix rendered from a key template, the task writes manifest.jsonl,
datapackage.json, the version's text files and optionally a ZIP of them, each with a
checksum the store verifies (S3: ChecksumSHA256; Azure: Content-MD5, with the SHA-256 kept
in the blob's metadata). The data is never copied: the manifest points at each object
where it is. What the store answered (version ids, checksums) is the publish record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import json
import logging
import string
from collections.abc import Callable, Iterator
from typing import Any

import zipstream
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from packager.exports import datapackage, manifest
from packager.exports.parts import BASE
from packager.exports.rows import Row, resolve_path
from packager.models import PackageVersion, VersionEntry, VersionPublication
from sources import clients
from sources.backends import BACKENDS, StorageError, writable_kinds
from sources.models import Source
from teams import policy
from web import jobs
from web.errors import ApplicationError

logger = logging.getLogger(__name__)

PLACEHOLDERS = ("package", "version", "top_hash", "date", "time")


def _waiting() -> Q:
    return Q(state__in=[VersionPublication.State.QUEUED, VersionPublication.State.RUNNING])


def _task() -> Any:
    from packager import tasks

    return tasks.publish_to_bucket


# A running publication whose worker has said nothing for PUBLICATION_STALE_SECONDS is
# taken over; a queued one whose task was lost (a broker down) is queued again by beat.
PUBLICATIONS = jobs.register(
    jobs.JobKind(
        name="publication",
        model=VersionPublication,
        waiting=_waiting,
        stale_seconds=lambda: settings.PUBLICATION_STALE_SECONDS,
        task=_task,
        failed=lambda message: {
            "state": VersionPublication.State.FAILED,
            "error": message,
            "finished_at": timezone.now(),
        },
    )
)


class PublicationError(ApplicationError):
    pass


def render_key_template(template: str, *, version: PackageVersion) -> str:
    """The prefix a template names for a version: "releases/{package}/v{version}-{date}/".

    {date} and {time} are those of the version's publication (UTC), so the same version
    always lands at the same place and publishing it again is idempotent.
    """
    fields: list[str] = []
    try:
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is None:
                continue
            if name not in PLACEHOLDERS or spec or conversion:
                raise PublicationError(
                    f"Unknown placeholder “{{{name}}}” in the key template: use {{package}}, {{version}}, "
                    "{top_hash}, {date} or {time}."
                )
            fields.append(name)
    except ValueError:
        raise PublicationError("The key template has an unmatched “{” or “}”.") from None
    moment = (version.published_at or version.created_at or timezone.now()).astimezone(dt.UTC)
    prefix = template.format(
        package=version.package.slug,
        version=version.number,
        top_hash=version.top_hash,
        date=moment.strftime("%Y%m%d"),
        time=moment.strftime("%H%M%S"),
    ).lstrip("/")
    parts = prefix.split("/")
    if any(part in {".", ".."} for part in parts) or "//" in prefix or "\\" in prefix:
        raise PublicationError("The key template must not name “.”, “..”, “//” or backslashes.")
    if len(prefix) > 700:
        raise PublicationError("The key template makes a prefix longer than 700 characters.")
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


@transaction.atomic
def publication_request(
    *, version: PackageVersion, source: Source, key_template: str, include_zip: bool = False, created_by: Any = None
) -> VersionPublication:
    """Record where a version goes and enqueue the writing; the same place again runs again."""
    if not version.is_published:
        raise PublicationError("Only a published version can be written to a bucket.", status=409)
    # Whoever asks must be allowed to write into the destination (their own, or a team's
    # where they curate); without a requester (a tool), the package's owner must be.
    if not policy.can_use_source(created_by or version.package.owner, source):
        raise PublicationError("Choose one of your own sources as the destination.", status=404)
    if not BACKENDS[source.kind].writable:
        kinds = " or ".join(BACKENDS[kind].name for kind in writable_kinds())
        refused = BACKENDS[source.kind].name
        raise PublicationError(f"A destination must be an {kinds} source: a {refused} cannot be written to.")
    prefix = source.key_for(render_key_template(key_template.strip(), version=version))
    publication, created = VersionPublication.objects.select_for_update().get_or_create(
        package_version=version,
        source=source,
        prefix=prefix,
        defaults={"key_template": key_template.strip(), "include_zip": include_zip, "created_by": created_by},
    )
    if not created:
        if publication.state in {VersionPublication.State.QUEUED, VersionPublication.State.RUNNING}:
            return publication  # already on its way
        publication.key_template, publication.include_zip = key_template.strip(), include_zip
        publication.state, publication.error, publication.progress_done = VersionPublication.State.QUEUED, "", 0
        publication.started_at = publication.finished_at = None
    publication.heartbeat_at, publication.attempts = timezone.now(), 0
    publication.save()
    # Saved first: should the broker be down, beat's sweep finds the row and queues it.
    jobs.job_enqueue(_task(), publication.pk)
    return publication


# The task -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Document:
    name: str  # under the prefix
    content_type: str
    content: Callable[[], bytes]


def _claim(publication_pk: int) -> bool:
    waiting = Q(state=VersionPublication.State.QUEUED) | (
        Q(state=VersionPublication.State.RUNNING) & jobs.stale_before(PUBLICATIONS)
    )
    claimable = VersionPublication.objects.filter(waiting, pk=publication_pk)
    return jobs.job_claim(claimable, state=VersionPublication.State.RUNNING, started_at=timezone.now(), error="")


def _rows(version: PackageVersion) -> Iterator[tuple[Row, str]]:
    """The export rows of the version, each with its link where it is published: a text file
    beside the manifest (a relative path), a data object where it is (its storage URL)."""
    fields = [*Row._fields[:-3], "source__kind", "source__bucket", "source__endpoint_url"]
    query = VersionEntry.objects.filter(package_version=version).order_by("position")
    for values in query.values_list(*fields).iterator(chunk_size=2000):
        row = Row._make((*values[:-1], ""))
        url = resolve_path(row.path) if row.is_text else storage_url(row, endpoint_url=values[-1] or "")
        yield row._replace(link=json.dumps(url)[1:-1]), row.text_name


def storage_url(row: Row, *, endpoint_url: str) -> str:
    """Where a data object is, in its storage service's own terms (s3://bucket/key, the
    blob's https URL), with its version."""
    return BACKENDS[row.source_kind or ""].storage_url(
        bucket=row.bucket or "", endpoint_url=endpoint_url, key=row.key or "", version_id=row.version_id or ""
    )


def _manifest(version: PackageVersion) -> bytes:
    lines = (manifest.line(row) for row, _ in _rows(version))
    return "".join(lines).replace(BASE, "").encode()


def _datapackage(version: PackageVersion) -> bytes:
    created = (version.published_at or version.created_at).isoformat()
    parts = [datapackage.head(version, created=created)]
    parts += [datapackage.resource(row, first=index == 0) for index, (row, _) in enumerate(_rows(version))]
    parts.append(datapackage.TAIL)
    return "".join(parts).replace(BASE, "").encode()


def _read_text(text_name: str) -> bytes:
    with default_storage.open(text_name, "rb") as handle:
        data: bytes = handle.read()
    return data


def _documents(publication: VersionPublication) -> list[Document]:
    version = publication.package_version
    listed = Document(manifest.NAME, "application/jsonl; charset=utf-8", lambda: _manifest(version))
    described = Document(datapackage.NAME, "application/json", lambda: _datapackage(version))
    texts = [
        Document(row.path, "text/plain; charset=utf-8", functools.partial(_read_text, text_name))
        for row, text_name in _rows(version)
        if row.is_text
    ]
    documents = [listed, described, *texts]
    if publication.include_zip:
        top = f"{version.package.slug}/"

        def archive() -> bytes:
            stream = zipstream.ZipStream(sized=True)
            for document in (listed, described, *texts):
                stream.add(document.content(), top + document.name)
            buffer = io.BytesIO()
            for chunk in stream:
                buffer.write(chunk)
            return buffer.getvalue()

        documents.append(Document(f"{version.package.slug}-v{version.number}.zip", "application/zip", archive))
    return documents


def _write_refused(publication: VersionPublication, error: StorageError) -> str:
    source = publication.source
    if error.reason not in {"auth", "permission"}:
        return error.message
    where = f"“{source.bucket}/{publication.prefix}”"
    hint = BACKENDS[source.kind].write_permission_hint
    return f"This source's credentials may not write to {where}: {hint}, or choose another destination."


def _no_longer_allowed(publication: VersionPublication) -> str:
    """Why the requester may no longer write this version there ("" if they still may):
    their role may have changed while the job waited."""
    requester = publication.created_by
    if requester is None:
        return ""
    package = publication.package_version.package
    if (
        requester.is_active
        and policy.can_edit_package(requester, package)
        and policy.can_use_source(requester, publication.source)
    ):
        return ""
    return (
        f"{requester.get_username()} may no longer write this package to “{publication.source.name}” "
        "(their role changed); nothing was written."
    )


def publication_run(*, publication_pk: int) -> bool:
    """Write every document of a publication; False when another worker has it or it is done."""
    if not _claim(publication_pk):
        return False
    publication = VersionPublication.objects.select_related("package_version__package", "source", "created_by").get(
        pk=publication_pk
    )
    source = publication.source
    written: list[dict[str, Any]] = []
    refused = _no_longer_allowed(publication)
    if refused:
        logger.info("publication %s stopped: %s", publication.public_id, refused)
        VersionPublication.objects.filter(pk=publication.pk).update(
            state=VersionPublication.State.FAILED, error=refused, finished_at=timezone.now()
        )
        return True
    try:
        backend = clients.backend_for(source)
        documents = _documents(publication)
        VersionPublication.objects.filter(pk=publication.pk).update(progress_total=len(documents), progress_done=0)
        for done, document in enumerate(documents, start=1):
            key = publication.prefix + document.name
            result = backend.write(key, document.content(), content_type=document.content_type)
            written.append(dataclasses.asdict(result))
            jobs.job_heartbeat(VersionPublication.objects.filter(pk=publication.pk), progress_done=done)
    except StorageError as error:
        message = _write_refused(publication, error)
        logger.info("publication %s failed: %s", publication.public_id, message)
        VersionPublication.objects.filter(pk=publication.pk).update(
            state=VersionPublication.State.FAILED, error=message, written=written, finished_at=timezone.now()
        )
        return True
    VersionPublication.objects.filter(pk=publication.pk).update(
        state=VersionPublication.State.DONE,
        written=written,
        bucket=source.bucket,
        region=backend.region,
        endpoint=backend.endpoint,
        finished_at=timezone.now(),
    )
    return True
