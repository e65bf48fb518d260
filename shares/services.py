"""Writes on shares: create, revoke, record access, unlock with rate limiting, build repositories."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from packager import ratelimit, versions
from packager.exports import annex, dvc, gitrepo
from packager.models import Package, PackageVersion
from shares import access_log, resolver
from shares.models import Share, ShareEvent, ShareRepository, key_marker
from teams.audit import audit_record
from web import jobs
from web.errors import ApplicationError
from web.progress import ProgressThrottle

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8


class ShareError(ApplicationError):
    pass


class TooManyAttempts(ShareError):
    status = 429


def _pinned_version(package: Package, version: int | str | None, created_by: Any) -> PackageVersion | None:
    """The version a new share pins (None: it follows the latest published one).

    A package that has never been published (nor is being published) publishes v1 first,
    so that a share always has a version to show once checksumming is done.
    """
    if version not in (None, "latest"):
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise ShareError("“version” is a version number or “latest”.") from None
        pinned = package.versions.filter(number=number).first()
        if pinned is None:
            raise ShareError(f"This package has no version {number}.")
        if pinned.state == PackageVersion.State.FAILED:
            raise ShareError(f"Version {number} failed to publish; share another version.")
        return pinned
    if not package.versions.exclude(state=PackageVersion.State.FAILED).exists():
        try:
            versions.package_publish(
                package=package, message="First version, published when shared.", created_by=created_by
            )
        except versions.VersionError as error:
            raise ShareError(error.message) from error
    return None


@transaction.atomic
def share_create(
    *,
    package: Package,
    created_by: Any,
    password: str = "",
    expires_at: dt.datetime | None = None,
    label: str = "",
    version: int | str | None = None,
    base_url: str = "",
) -> Share:
    """A new share link. With `base_url` (the site's address, as its links name it), its git
    repositories are asked for once it commits, so the first `git clone` finds them built
    (or, while its version is still being published, once that version is out)."""
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            expires_at = timezone.make_aware(expires_at)
        if expires_at <= timezone.now():
            raise ShareError("The expiry must be in the future.")
    if password and len(password) < MIN_PASSWORD_LENGTH:
        raise ShareError(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters, or none.")
    share = Share.objects.create(
        package=package,
        version=_pinned_version(package, version, created_by),
        created_by=created_by,
        password_hash=make_password(password) if password else "",
        expires_at=expires_at,
        label=label.strip()[:100],
        repository_base_url=base_url,
    )
    # Whether a password is set, never the password.
    audit_record(
        actor=created_by,
        action="share.create",
        package=package,
        detail={
            "share": share.token[:8],
            "version": share.version.number if share.version else "latest",
            "password": bool(password),
        },
    )
    if base_url:
        from shares.tasks import prepare_share_repositories

        jobs.job_enqueue(prepare_share_repositories, share.pk, None, base_url)
    return share


LANDING_LABEL = "Public landing page"


def share_landing(*, version: PackageVersion) -> Share:
    """The open landing share of a public version, made on first need: pinned, no password,
    no expiry. A landing share its owner revoked is replaced while the version stays public."""
    found = Share.objects.filter(version=version, landing=True, revoked_at__isnull=True).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Share.objects.create(
                package=version.package,
                version=version,
                created_by=version.package.owner,
                label=LANDING_LABEL,
                landing=True,
            )
    except IntegrityError:  # made by a concurrent first visit
        return Share.objects.get(version=version, landing=True, revoked_at__isnull=True)


def share_landing_follow(version: PackageVersion) -> None:
    """A version made private: its landing share stops (the DOI's page answers 404)."""
    if not version.public:
        Share.objects.filter(version=version, landing=True, revoked_at__isnull=True).update(revoked_at=timezone.now())
        resolver.forget()


def share_grant(share: Share) -> str:
    """What packager's own download links issued through this share carry (see sources.grants)."""
    return f"share:{share.pk}"


def share_grant_stands(share_id: str) -> bool:
    """Whether links issued through a share still work: it is open and its owner active."""
    share = (
        Share.objects.select_related("package__owner").filter(pk=int(share_id)).first() if share_id.isdigit() else None
    )
    return share is not None and share.is_open


def share_revoke(*, share: Share, actor: Any = None) -> None:
    revoked = Share.objects.filter(pk=share.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if revoked:
        audit_record(actor=actor, action="share.revoke", package=share.package, detail={"share": share.token[:8]})
    resolver.forget()
    share.refresh_from_db(fields=["revoked_at"])


def share_record(*, share: Share, kind: str, ip_address: str | None, path: str = "") -> None:
    """Count one access in the access log (in memory, written in batches)."""
    access_log.share_access_record(share_id=share.pk, kind=kind, path=path, ip_address=ip_address)


def client_attempts_key(share: Share, ip_address: str | None) -> str:
    return f"share-unlock:{share.pk}:{ratelimit.client_network(ip_address)}"


def share_attempts_key(share: Share) -> str:
    return f"share-unlock:{share.pk}"


def trusted_client_key(share: Share, ip_address: str | None) -> str:
    # With the password's marker: a new password trusts nobody until they give it.
    return f"share-trusted:{share.pk}:{share.unlock_marker[:16]}:{ratelimit.client_network(ip_address)}"


def share_unlock(*, share: Share, password: str, ip_address: str | None) -> bool:
    """Check a share password; TooManyAttempts once the guessing limits are reached.

    The guarantee (README, "Share passwords"):

    - each client (an IPv4 address or an IPv6 /64) has its password checked at most
      SHARE_UNLOCK_ATTEMPTS times per SHARE_UNLOCK_WINDOW seconds, a right one excepted;
    - all clients together that never gave the right password get at most
      SHARE_UNLOCK_SHARE_ATTEMPTS wrong guesses per SHARE_UNLOCK_SHARE_WINDOW seconds, however
      many addresses they use; past that, their passwords are refused unchecked, the right
      one too (otherwise a guesser would keep trying and see the right one pass);
    - a client that gave the right password in the last SHARE_UNLOCK_TRUST_SECONDS is still
      checked while the share is locked (within its own per-client limit), so guessing from
      other addresses never locks out a collaborator who has used the link before. Browser
      sessions already unlocked and key links are never limited.

    Each attempt takes its slot before the slow hash is checked; a right password gives it back.
    """
    client_key, all_key = client_attempts_key(share, ip_address), share_attempts_key(share)
    trusted_key = trusted_client_key(share, ip_address)
    # wget sends the password with every file it fetches, and a password hash check costs
    # hundreds of milliseconds by design: a password verified once is remembered for a
    # while, as a keyed digest that changes when the share's password does.
    proof = salted_hmac("packager.shares.verified", f"{share.unlock_marker}:{password}").hexdigest()
    verified_key = f"share-verified:{share.pk}:{proof}"
    known = cache.get_many([verified_key, f"locked:{client_key}", f"locked:{all_key}"])
    # A remembered right password skips the hash, but never a limit: while the share is
    # locked only a trusted client's is taken (a cheap digest must not become an oracle).
    if (
        known.get(verified_key)
        and f"locked:{client_key}" not in known
        and (f"locked:{all_key}" not in known or ratelimit.trust_holds(key=trusted_key))
    ):
        return True
    if not ratelimit.attempt_take(
        key=client_key, limit=settings.SHARE_UNLOCK_ATTEMPTS, window=settings.SHARE_UNLOCK_WINDOW
    ):
        cache.set(f"locked:{client_key}", True, timeout=settings.SHARE_UNLOCK_WINDOW)
        raise TooManyAttempts("Too many wrong passwords. Wait a few minutes and try again.")
    counted_for_share = ratelimit.attempt_take(
        key=all_key, limit=settings.SHARE_UNLOCK_SHARE_ATTEMPTS, window=settings.SHARE_UNLOCK_SHARE_WINDOW
    )
    if not counted_for_share:
        cache.set(f"locked:{all_key}", True, timeout=settings.SHARE_UNLOCK_WINDOW)
        if not ratelimit.trust_holds(key=trusted_key):
            ratelimit.attempt_refund(key=client_key)
            raise TooManyAttempts(
                "This link is locked for a while after too many wrong passwords. Try again later, "
                "or ask its owner for a new link."
            )
    if share.check_password(password):
        ratelimit.attempt_refund(key=client_key)
        if counted_for_share:
            ratelimit.attempt_refund(key=all_key)
        ratelimit.trust_grant(key=trusted_key, seconds=settings.SHARE_UNLOCK_TRUST_SECONDS)
        cache.set(verified_key, True, timeout=settings.SHARE_UNLOCK_WINDOW)
        return True
    share_record(share=share, kind=ShareEvent.Kind.UNLOCK_FAILED, ip_address=ip_address)
    return False


def shares_locked_until(*, shares: list[Share]) -> dict[int, dt.datetime]:
    """For the owner's list: which shares refuse every password now, and until when (one query)."""
    keys = {share_attempts_key(share): share.pk for share in shares if share.has_password}
    exhausted = ratelimit.attempts_exhausted(keys=keys, limit=settings.SHARE_UNLOCK_SHARE_ATTEMPTS)
    return {keys[key]: until for key, until in exhausted.items()}


def share_events_purge() -> int:
    """Delete the access log of shares that expired or were revoked longer ago than the retention."""
    cutoff = timezone.now() - settings.SHARE_EVENT_RETENTION
    ended = Share.objects.filter(models.Q(expires_at__lt=cutoff) | models.Q(revoked_at__lt=cutoff))
    deleted, _ = ShareEvent.objects.filter(share__in=ended).delete()
    return deleted


# Repositories -----------------------------------------------------------------------


def _build_task() -> Any:
    from shares.tasks import build_share_repository

    return build_share_repository


# A build waits while pending or building; one silent for SHARE_REPOSITORY_STALE_SECONDS
# (a lost task, a killed worker) is queued again by beat and taken over.
REPOSITORY_BUILDS = jobs.register(
    jobs.JobKind(
        name="repository",
        model=ShareRepository,
        waiting=lambda: models.Q(state__in=[ShareRepository.State.PENDING, ShareRepository.State.BUILDING]),
        stale_seconds=lambda: settings.SHARE_REPOSITORY_STALE_SECONDS,
        task=_build_task,
        failed=lambda message: {"state": ShareRepository.State.FAILED, "error": message},
    )
)


def share_repository_request(
    *, share: Share, version: PackageVersion, kind: str, base_url: str, key_link: bool = False
) -> ShareRepository:
    """The share's repository of `kind` for `version`; asks a worker to build it if needed.

    With `key_link`, the one served under the share's key link, whose URLs hold the key
    (one per password: a new password gets a new build).

    Never builds in the caller: a request answers 503 until the task is done. A build
    that has waited or run longer than SHARE_REPOSITORY_STALE_SECONDS (a lost task, a killed
    worker) or that failed that long ago is asked for again.
    """
    marker = key_marker(share.link_key) if key_link else ""
    repository, created = ShareRepository.objects.get_or_create(
        share=share,
        version=version,
        kind=kind,
        key_marker=marker,
        defaults={"base_url": base_url, **jobs.queued_fields()},
    )
    if repository.is_ready:
        return repository
    stale = timezone.now() - dt.timedelta(seconds=settings.SHARE_REPOSITORY_STALE_SECONDS)
    if created or (
        ShareRepository.objects.filter(pk=repository.pk, requested_at__lt=stale)
        .exclude(state=ShareRepository.State.READY)
        .update(state=ShareRepository.State.PENDING, requested_at=timezone.now(), **jobs.queued_fields())
        == 1
    ):
        jobs.job_enqueue(_build_task(), repository.pk)
    return repository


def share_repositories_prepare(*, share: Share, version: PackageVersion, base_url: str) -> None:
    """Ask a worker to have both repositories of the share's version built, from a page
    that shows the recipes: no database query here (the share page keeps its fixed count),
    and at most once an hour per share and version (a cache entry, not a row)."""
    if cache.add(f"share-repositories:{share.pk}:{version.pk}", True, timeout=3600):
        from shares.tasks import prepare_share_repositories

        jobs.job_enqueue(prepare_share_repositories, share.pk, version.pk, base_url)


def shares_version_published(version_pk: int) -> None:
    """A version is out: have the repositories of the open shares that serve it built
    (those that follow the package's latest version, and those pinned to it), for the site
    address each share was created at. Enqueued, never built here."""
    from shares.tasks import prepare_share_repositories

    version = PackageVersion.objects.filter(pk=version_pk, state=PackageVersion.State.PUBLISHED).first()
    if version is None:
        return
    serving = (
        Share.objects.filter(package_id=version.package_id, revoked_at__isnull=True)
        .filter(models.Q(version__isnull=True) | models.Q(version_id=version_pk))
        .filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now()))
        .exclude(repository_base_url="")
        .values_list("pk", "version_id", "repository_base_url")
    )
    for share_pk, pinned, base_url in serving:
        if pinned is None and version.package.latest_version_id != version_pk:
            continue  # a later version is already the latest
        jobs.job_send(prepare_share_repositories, share_pk, version_pk, base_url)


# A build writes its progress every this many files, or after this many seconds.
REPOSITORY_PROGRESS_EVERY = 500
REPOSITORY_PROGRESS_SECONDS = 2.0


def _with_progress(
    repository: ShareRepository, files: Iterator[gitrepo.RepositoryFile]
) -> Iterator[gitrepo.RepositoryFile]:
    """The version's files as they go into the repository; the count of those written so
    far is put on the row now and then (a throttled heartbeat, fenced to this build)."""
    throttle = ProgressThrottle(every=REPOSITORY_PROGRESS_EVERY, seconds=REPOSITORY_PROGRESS_SECONDS)
    building = ShareRepository.objects.filter(pk=repository.pk, state=ShareRepository.State.BUILDING)
    for done, item in enumerate(files, start=1):
        yield item
        if throttle.due():
            jobs.job_heartbeat(building, progress_done=done)


def _write_repository(repository: ShareRepository, directory: Path) -> None:
    share, version = repository.share, repository.version
    share_base = f"{repository.base_url}/s/{share.token}/"
    if repository.key_marker:
        if key_marker(share.link_key) != repository.key_marker:
            raise ShareError("The share's password changed since this build was asked for; its key link is gone.")
        share_base += f"k/{share.link_key}/"
    files = _with_progress(repository, gitrepo.version_files(version, resolve_base=share_base + "r/"))
    message = f"{version.package.name}, version {version.number}\n\n{version.message}".strip() + "\n"
    when = version.published_at or version.created_at
    if repository.kind == ShareRepository.Kind.ANNEX:
        annex.write_annex_repository(directory, files, when=when, message=message)
    else:
        dvc.write_dvc_repository(directory, files, remote_url=share_base + "dvc", when=when, message=message)


def share_repository_build(*, repository_pk: int) -> None:
    """Build one repository and store it. Idempotent: claims the row with a conditional update."""
    claimable = ShareRepository.objects.filter(pk=repository_pk).filter(
        models.Q(state=ShareRepository.State.PENDING)
        | (models.Q(state=ShareRepository.State.BUILDING) & jobs.stale_before(REPOSITORY_BUILDS))
    )
    if not jobs.job_claim(
        claimable,
        state=ShareRepository.State.BUILDING,
        started_at=timezone.now(),
        error="",
        progress_done=0,
        progress_total=models.Subquery(
            PackageVersion.objects.filter(pk=models.OuterRef("version_id")).values("entry_count")[:1]
        ),
    ):
        return
    repository = ShareRepository.objects.select_related("share", "version__package").get(pk=repository_pk)
    # A new prefix per build: a rerun never overwrites what a client may be reading.
    prefix = f"share-repositories/{repository.public_id}/{uuid.uuid4().hex}"
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="packager-repository-") as scratch:
            directory = Path(scratch) / "repository.git"
            _write_repository(repository, directory)
            size = gitrepo.store_repository(directory, storage=default_storage, prefix=prefix)
    except Exception as error:
        # Whatever went wrong (git, storage, a text file gone) is kept for the owner and
        # retried after SHARE_REPOSITORY_STALE_SECONDS; the endpoints answer 503 meanwhile.
        logger.exception("Building repository %s failed", repository.public_id)
        ShareRepository.objects.filter(pk=repository_pk, state=ShareRepository.State.BUILDING).update(
            state=ShareRepository.State.FAILED, error=str(error)[:2000]
        )
        return
    ShareRepository.objects.filter(pk=repository_pk, state=ShareRepository.State.BUILDING).update(
        state=ShareRepository.State.READY,
        progress_done=models.F("progress_total"),
        storage_prefix=prefix,
        size=size,
        build_seconds=time.monotonic() - started,
        built_at=timezone.now(),
    )
