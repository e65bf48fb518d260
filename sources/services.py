"""Writes on sources: create, update, delete, check, and asking for an index (run by sources.indexing)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from sources import clients, grants, indexing
from sources.backends import BACKENDS, content_disposition
from sources.backends.errors import ObjectNotFound
from sources.backends.local import load_link
from sources.endpoints import endpoint_shape_error
from sources.models import Source
from teams import policy
from teams.audit import audit_record
from teams.models import Team
from web.errors import ApplicationError

logger = logging.getLogger(__name__)

CREDENTIAL_FIELDS = {kind: backend.credential_fields for kind, backend in BACKENDS.items()}
# Every secret a source can have, of any kind: never rendered, returned or logged.
CREDENTIAL_NAMES = tuple(name for names in CREDENTIAL_FIELDS.values() for name in names)
EDITABLE_FIELDS = (
    "name",
    "bucket",
    "prefix",
    "endpoint_url",
    "region",
    "addressing_style",
    "local_path",
    "presign_ttl",
    "max_presign_ttl",
    "reindex_every_hours",
)


class SourceInUse(ApplicationError):
    status = 409


def can_add_local_sources(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))


def _validate(source: Source, credentials: dict[str, str], *, user: Any, trusted: bool = False) -> None:
    """Field checks that depend on the kind; raises ValidationError keyed by field."""
    errors: dict[str, str] = {}
    if not source.name.strip():
        errors["name"] = "Give the source a name."
    backend_class = BACKENDS.get(source.kind)
    if backend_class is None:
        *others, last = BACKENDS
        errors["kind"] = f"Choose {', '.join(others)} or {last}."
    else:
        if backend_class.administrators_only and not trusted and not can_add_local_sources(user):
            errors["kind"] = f"Only an administrator may add a {Source.Kind(source.kind).label.lower()} as a source."
        errors.update(backend_class.validate(source.backend_config(), credentials))
    if shape_error := endpoint_shape_error(source.endpoint_url):
        errors.setdefault("endpoint_url", shape_error)
    if not 60 <= source.presign_ttl <= 7 * 24 * 3600:
        errors["presign_ttl"] = "Choose between 60 seconds and 7 days."
    if source.max_presign_ttl is not None and not source.presign_ttl <= source.max_presign_ttl <= 7 * 24 * 3600:
        errors["max_presign_ttl"] = "Choose between the download link lifetime and 7 days, or leave empty."
    if source.reindex_every_hours is not None and not 1 <= source.reindex_every_hours <= 24 * 365:
        errors["reindex_every_hours"] = "Choose between 1 hour and a year, or leave empty for never."
    if (
        source.owner_id
        and Source.objects.filter(owner_id=source.owner_id, name=source.name).exclude(pk=source.pk).exists()
    ):
        errors["name"] = "You already have a source with this name."
    if errors:
        raise ValidationError(errors)


def source_check(*, source: Source) -> None:
    """Connect and list once; StorageError with a clear message when that fails."""
    clients.build_backend(source).check()


def _assign(source: Source, fields: dict[str, Any]) -> None:
    if "reindex_every_hours" in fields:
        source.reindex_every_hours = fields["reindex_every_hours"] or None  # empty or 0: never
    if "max_presign_ttl" in fields:
        source.max_presign_ttl = fields["max_presign_ttl"] or None  # empty: presign_ttl
    for name in EDITABLE_FIELDS:
        if name in fields and fields[name] is not None:
            value = fields[name]
            setattr(source, name, value.strip() if isinstance(value, str) else value)


def source_create(
    *,
    owner: Any,
    kind: str,
    fields: dict[str, Any],
    credentials: dict[str, str],
    check: bool = True,
    index: bool = True,
    save: bool = True,
    trusted: bool = False,
    team: Team | None = None,
) -> Source:
    """Validate, test the connection, then save and queue the first index.

    With a team, the source is the team's (the caller checks the owner may do that:
    policy.can_manage_team).

    With save=False it stops after the connection test: the "Test connection" button.
    trusted=True is for administrators' own tools (management commands), which may give
    any user a local-folder source.
    """
    source = Source(owner=owner, kind=kind, team=team)
    _assign(source, fields)
    source.presign_ttl = fields.get("presign_ttl") or settings.DEFAULT_PRESIGN_TTL
    credentials = {name: value.strip() for name, value in credentials.items() if value and value.strip()}
    _validate(source, credentials, user=owner, trusted=trusted)
    source.set_credentials(credentials)
    if check:
        source_check(source=source)  # before saving: a broken source is never stored silently
    if not save:
        return source
    try:
        with transaction.atomic():
            source.save()
            if index:
                source_index_request(source=source)
            audit_record(actor=owner, action="source.create", team=team, detail={"source": source.name})
    except IntegrityError as error:
        raise ValidationError({"name": "You already have a source with this name."}) from error
    logger.info("source created: %s (%s) by user %s", source.public_id, source.kind, owner.pk)
    return source


def source_update(
    *,
    source: Source,
    fields: dict[str, Any],
    credentials: dict[str, str],
    user: Any,
    check: bool = True,
    save: bool = True,
) -> Source:
    """Change a source; credential fields left empty keep the stored secret.

    With save=False the changes are only tested (the instance is changed, not stored).
    """
    before = source.backend_config()
    previous = {name: getattr(source, name) for name in EDITABLE_FIELDS}
    _assign(source, fields)
    given = {name: value.strip() for name, value in credentials.items() if value and value.strip()}
    merged = dict(source.credentials)
    if BACKENDS[source.kind].credentials_replace_each_other and given:
        # One secret of several kinds: a new one replaces whichever was stored.
        merged = {}
    merged.update(given)
    _validate(source, merged, user=user)
    source.set_credentials(merged)
    if check:
        source_check(source=source)
    if not save:
        return source
    location_changed = source.backend_config() != before
    with transaction.atomic():
        # Only what the owner edits: the index run's own columns (status, progress, resume
        # key) may have moved since this instance was read.
        source.save(update_fields=[*EDITABLE_FIELDS, "encrypted_credentials", "updated_at"])
        changed = [name for name in EDITABLE_FIELDS if getattr(source, name) != previous[name]]
        if changed:
            audit_record(
                actor=user,
                action="source.update",
                team=source.team_id,
                detail={"source": source.name, "fields": changed},
            )
        if given:
            # Which secrets were replaced, by name: never their values.
            audit_record(
                actor=user,
                action="source.update_credentials",
                team=source.team_id,
                detail={"source": source.name, "credentials": sorted(given)},
            )
        if location_changed:
            # A run under way (or killed) lists the old location, and its resume key is a key
            # of it: fence it out and start over.
            Source.objects.filter(pk=source.pk, status=Source.Status.INDEXING).update(
                status=Source.Status.QUEUED, index_resume_after="", index_generation=models.F("index_generation") + 1
            )
            source_index_request(source=source)
    return source


def source_move(*, source: Source, team: Team | None, actor: Any) -> Source:
    """Give the source to a team, or (None) take it back as the actor's own.

    The caller checks policy.can_move; a name the new owner already uses is a ValidationError.
    """
    if team is not None and not policy.can_move(actor, source, team):
        raise ValidationError({"team": "You can move sources only into teams you administer."})
    before = source.team
    source.team = team
    if team is None:
        source.owner = actor
    try:
        with transaction.atomic():
            source.save(update_fields=["team", "owner", "updated_at"])
            audit_record(
                actor=actor,
                action="source.move",
                team=team or before,
                detail={"source": source.name, "from": before.name if before else "", "to": team.name if team else ""},
            )
    except IntegrityError as error:
        raise ValidationError({"name": "You already have a source with this name."}) from error
    return source


def source_delete(*, source: Source, actor: Any = None) -> None:
    try:
        with transaction.atomic():
            source.delete()
            audit_record(actor=actor, action="source.delete", team=source.team_id, detail={"source": source.name})
    except models.ProtectedError as error:
        count = len(error.protected_objects)
        raise SourceInUse(
            f"“{source.name}” is used by {count} package entr{'y' if count == 1 else 'ies'}: "
            "remove those entries from their packages first."
        ) from error
    clients.forget(source.pk)


def source_index_request(*, source: Source) -> None:
    """Queue a (re)index of the source once the current transaction commits."""
    from sources.tasks import index_source

    Source.objects.filter(pk=source.pk).exclude(status=Source.Status.INDEXING).update(status=Source.Status.QUEUED)
    source.refresh_from_db(fields=["status"])
    source_pk = source.pk
    transaction.on_commit(lambda: index_source.delay(source_pk))


class NothingToCancel(ApplicationError):
    status = 409


def source_index_cancel(*, source: Source) -> None:
    """Stop a queued or running index; the run notices at its next batch and stops.

    What the run already wrote stays (rows are upserted in place), and the previous index,
    if any, stays browsable.
    """
    cancelled = Source.objects.filter(pk=source.pk, status__in=[Source.Status.QUEUED, Source.Status.INDEXING]).update(
        status=Source.Status.CANCELLED, index_finished_at=timezone.now()
    )
    source.refresh_from_db()
    if not cancelled:
        raise NothingToCancel("No index of this source is queued or running.")
    logger.info("index of source %s cancelled", source.public_id)


def sources_index_due() -> int:
    """Queue every source due for an index (Celery beat calls this); how many were queued."""
    due = indexing.sources_due_for_index()
    for source in Source.objects.filter(pk__in=due):
        with transaction.atomic():
            source_index_request(source=source)
    return len(due)


def source_sign_url(
    *, source: Source, key: str, method: str = "GET", version_id: str = "", filename: str = "", grant: str = ""
) -> str:
    """A download URL; packager's own (local-folder) links also carry the grant they were issued for."""
    backend = clients.backend_for(source)
    return backend.sign_url(
        key, method=method, expires_in=source.presign_ttl, version_id=version_id, filename=filename, grant=grant
    )


def source_rotate_credentials() -> int:
    """Re-encrypt every stored secret with the first configured key."""
    from sources import crypto

    rotated = 0
    for source in Source.objects.exclude(encrypted_credentials="").only("pk", "encrypted_credentials"):
        Source.objects.filter(pk=source.pk).update(encrypted_credentials=crypto.rotate(source.encrypted_credentials))
        rotated += 1
    return rotated


class LinkGone(ApplicationError):
    """A link of packager's own that expired, or whose share was revoked."""

    status = 410


@dataclass(frozen=True)
class ServedFile:
    path: Path
    content_disposition: str  # names the file as the link was issued for (its name in a package)


def source_served_file(*, token: str) -> ServedFile:
    """The file on this server that a link of packager's own serves (a local folder's link,
    sources.views.local_file).

    LinkGone when the link expired or the share it came from no longer stands;
    ObjectNotFound when it is forged, its source is gone or the key is not a file of it;
    StorageError when the folder can no longer be served.
    """
    try:
        link = load_link(token)
    except signing.SignatureExpired:
        raise LinkGone("This download link has expired. Ask for a new one.") from None
    except signing.BadSignature:
        raise ObjectNotFound("This download link is not valid.") from None
    if link.get("grant") and not grants.grant_stands(link["grant"]):
        raise LinkGone("This download link was withdrawn: the share it came from was revoked or has expired.")
    source = Source.objects.filter(public_id=link["source"]).first()
    if source is None:
        raise ObjectNotFound("The source of this download link is gone.")
    path = clients.backend_for(source).served_file(link["key"])
    return ServedFile(path=path, content_disposition=content_disposition(link.get("filename") or path.name))
