from __future__ import annotations

import base64
import hashlib
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac

from packager.models import Package, PackageVersion
from teams.departures import keep_with_package_team
from web.jobs import JobRecord


def new_token() -> str:
    return secrets.token_urlsafe(24)


def share_link_key(*, share_id: int, token: str, password_hash: str) -> str:
    """The secret of a password share's key link (/s/<token>/k/<key>/), "" for a share
    without a password: an HMAC-SHA256 keyed from SECRET_KEY over the share and its current
    password hash, so a new password (or a new SECRET_KEY) ends every key link given out."""
    if not password_hash:
        return ""
    message = f"{share_id}:{token}:{password_hash}"
    digest = salted_hmac("packager.shares.key_link", message, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def key_marker(key: str) -> str:
    """What a row may keep to name the key a built file holds, without holding the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32] if key else ""


class Share(models.Model):
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="shares")
    # A pinned version, or None to follow the package's latest published version.
    version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="shares")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    label = models.CharField(max_length=100, blank=True)
    # Django's password hash, or empty for a link that needs no password.
    password_hash = models.CharField(max_length=256, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=keep_with_package_team, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The site address the share was created at ("" if unknown): its repositories, which
    # hold absolute links, are built for it ahead of the first clone.
    repository_base_url = models.CharField(max_length=500, blank=True, default="")
    view_count = models.PositiveBigIntegerField(default=0)
    zip_count = models.PositiveBigIntegerField(default=0)
    resolve_count = models.PositiveBigIntegerField(default=0)
    last_accessed_at = models.DateTimeField(null=True, blank=True)
    # When this process's batched counts (access_log) were last written for the share: the
    # counts are true as of then, which the owner's pages say.
    counts_written_at = models.DateTimeField(null=True, blank=True)
    # The public share of a public version: its landing page (/catalog/<package>/<n>/ leads
    # here, and a DOI registered by packager resolves there). Made on the first visit, revoked
    # when the version is made private again (shares.services.share_landing).
    landing = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version"],
                condition=models.Q(landing=True, revoked_at__isnull=True),
                name="share_one_open_landing_per_version",
            )
        ]

    def __str__(self) -> str:
        return self.label or f"share of {self.package}"

    @property
    def follows_latest(self) -> bool:
        return self.version_id is None

    @property
    def serving_version(self) -> PackageVersion | None:
        """The published version this share serves, or None while there is none yet.

        Cheap with select_related("version", "package__latest_version").
        """
        if self.version_id is not None:
            return self.version if self.version is not None and self.version.is_published else None
        return self.package.latest_version

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def is_open(self) -> bool:
        """Its links work: neither revoked nor expired, and the package is a team's or its
        owner's account is still active. (The resolver asks the same in SQL: open_sql.)"""
        return self.is_active and (self.package.team_id is not None or self.package.owner.is_active)

    def check_password(self, raw_password: str) -> bool:
        return self.has_password and check_password(raw_password, self.password_hash)

    @property
    def link_key(self) -> str:
        """The key of this share's key link, "" without a password (see share_link_key)."""
        return share_link_key(share_id=self.pk, token=self.token, password_hash=self.password_hash)

    @property
    def unlock_marker(self) -> str:
        """Kept in the session once unlocked; a new password makes old sessions ask again."""
        return hashlib.sha256(f"{self.token}:{self.password_hash}".encode()).hexdigest()[:32]


class ShareEvent(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", "Viewed"
        ZIP = "zip", "Downloaded the ZIP"
        URLS = "urls", "Downloaded urls.txt"
        MANIFEST = "manifest", "Downloaded the manifest"
        DIRECT = "direct", "Downloaded a direct URL list"
        RESOLVE = "resolve", "Fetched a file"
        TEXT = "text", "Fetched a text file"
        DATAPACKAGE = "datapackage", "Downloaded datapackage.json"
        ANNEX_CLONE = "annex_clone", "Cloned the git-annex repository"
        DVC_CLONE = "dvc_clone", "Cloned the DVC repository"
        UNLOCK_FAILED = "unlock_failed", "Wrong password"

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    path = models.CharField(max_length=1024, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # When it happened (written later, in a batch: see shares.access_log).
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["share", "-at"], name="share_event_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.path}".strip()


class ShareDailyCount(models.Model):
    """How many accesses of one kind a share had on one UTC day (see shares.access_log)."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="daily_counts")
    day = models.DateField()
    kind = models.CharField(max_length=20, choices=ShareEvent.Kind.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["day", "kind"]
        constraints = [models.UniqueConstraint(fields=["share", "day", "kind"], name="share_daily_count_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind}: {self.count}"


class ShareFileCount(models.Model):
    """How often one file of a share was fetched, and when last (see shares.access_log)."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="file_counts")
    path = models.CharField(max_length=1024)
    count = models.PositiveBigIntegerField(default=0)
    last_fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["-count", "path"]
        constraints = [models.UniqueConstraint(fields=["share", "path"], name="share_file_count_unique")]
        indexes = [models.Index(fields=["share", "-count"], name="share_file_count_top")]

    def __str__(self) -> str:
        return f"{self.path}: {self.count}"


class ShareRepository(JobRecord, models.Model):
    """A share's git repository (git-annex or DVC) for one version, built once by a task.

    Its files (for git's dumb HTTP protocol) sit in Django's storage under `storage_prefix`.
    The repository names the share's own URLs (resolve links, the DVC remote), so it is
    built per share and version, for the site address in `base_url`.
    """

    class Kind(models.TextChoices):
        ANNEX = "annex", "git-annex"
        DVC = "dvc", "DVC"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be built"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="repositories")
    version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    base_url = models.CharField(max_length=500)
    # "" for the repository at the share's own link (a password share's asks for the
    # password); for the one at its key link, key_marker(key): its URLs hold that key.
    key_marker = models.CharField(max_length=32, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    storage_prefix = models.CharField(max_length=300, blank=True)
    size = models.BigIntegerField(default=0)
    # Progress of the build under way: files written into the repository of all the
    # version's files (written every REPOSITORY_PROGRESS_EVERY files or few seconds).
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    build_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["share", "version", "kind", "key_marker"], name="share_repository_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} repository of {self.share} ({self.state})"

    @property
    def is_ready(self) -> bool:
        return self.state == self.State.READY


def open_sql(share: str, owner: str, package: str) -> str:
    """Share.is_open as an SQL condition on the aliases of a share row, its package's
    owner row and its package row, for the resolver's one-query lookup; binds one
    parameter: now."""
    return (
        f"({share}.revoked_at IS NULL AND ({share}.expires_at IS NULL OR {share}.expires_at > %s)"
        f" AND ({package}.team_id IS NOT NULL OR {owner}.is_active))"
    )
