from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from sources import crypto
from sources.backends import BACKENDS
from teams.departures import keep_with_team
from teams.models import Team
from web.jobs import JobRecord


class Source(JobRecord, models.Model):
    class Kind(models.TextChoices):
        S3 = "s3", "S3 or S3-compatible"
        AZURE = "azure", "Azure Blob Storage"
        LOCAL = "local", "Folder on the server"

    class AddressingStyle(models.TextChoices):
        AUTO = "auto", "Automatic"
        PATH = "path", "Path (endpoint/bucket/key)"
        VIRTUAL = "virtual", "Virtual host (bucket.endpoint/key)"

    class Status(models.TextChoices):
        NEW = "new", "Not indexed yet"
        QUEUED = "queued", "Waiting to be indexed"
        INDEXING = "indexing", "Indexing"
        READY = "ready", "Indexed"
        ERROR = "error", "Indexing failed"
        CANCELLED = "cancelled", "Indexing cancelled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A source belongs to its owner, or (team set) to a team; teams/policy.py decides who may do what.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=keep_with_team, related_name="sources")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="sources")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The S3 bucket or the Azure container.
    bucket = models.CharField(max_length=255, blank=True)
    prefix = models.CharField(max_length=1024, blank=True)
    # The S3 endpoint URL (empty for AWS) or the Azure account URL.
    endpoint_url = models.CharField(max_length=500, blank=True)
    region = models.CharField(max_length=64, blank=True)
    addressing_style = models.CharField(max_length=10, choices=AddressingStyle.choices, default=AddressingStyle.AUTO)
    local_path = models.CharField(max_length=1024, blank=True)
    # JSON of the secrets, encrypted with sources.crypto; never rendered or logged.
    encrypted_credentials = models.TextField(blank=True, editable=False)
    presign_ttl = models.PositiveIntegerField(
        "download link lifetime (seconds)",
        default=900,
        validators=[MinValueValidator(60), MaxValueValidator(7 * 24 * 3600)],
    )
    # The longest a link may live when a client asks for longer ones (direct.txt?expires_in=):
    # None keeps every link within presign_ttl. A storage URL handed out cannot be revoked.
    max_presign_ttl = models.PositiveIntegerField(
        "longest download link lifetime a client may ask for (seconds)",
        null=True,
        blank=True,
        validators=[MinValueValidator(60), MaxValueValidator(7 * 24 * 3600)],
    )

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    last_error = models.TextField(blank=True)
    index_generation = models.PositiveIntegerField(default=0)
    index_started_at = models.DateTimeField(null=True, blank=True)
    index_finished_at = models.DateTimeField(null=True, blank=True)
    # Progress of the running (or last) index: objects listed so far, and when the run last
    # wrote a batch (heartbeat_at, web.jobs.JobRecord). A run whose heartbeat is old was
    # killed and may be claimed again.
    index_listed = models.BigIntegerField(default=0)
    # Where a run that was killed goes on: the key of the last object it wrote. (A run taken
    # over writes with the next index_generation, so the dead worker, should it wake, finds
    # the run is no longer its own.)
    index_resume_after = models.CharField(max_length=1024, blank=True, editable=False)
    last_indexed_at = models.DateTimeField(null=True, blank=True)
    # Celery beat re-indexes the source this often; None (the default) never.
    reindex_every_hours = models.PositiveIntegerField(
        "re-index every (hours)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 365)],
    )
    object_count = models.BigIntegerField(default=0)
    total_size = models.BigIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="source_name_unique_per_owner")]

    def __str__(self) -> str:
        return self.name

    @property
    def credentials(self) -> dict[str, str]:
        return crypto.decrypt_json(self.encrypted_credentials) if self.encrypted_credentials else {}

    def set_credentials(self, credentials: dict[str, str]) -> None:
        kept = {name: value for name, value in credentials.items() if value}
        self.encrypted_credentials = crypto.encrypt_json(kept) if kept else ""

    @property
    def credential_names(self) -> list[str]:
        """Which secrets are stored (their names only), for display."""
        return sorted(self.credentials)

    @property
    def normalized_prefix(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/" if prefix else ""

    @property
    def location(self) -> str:
        return BACKENDS[self.kind].location(self.backend_config())

    @property
    def longest_link_lifetime(self) -> int:
        """The most seconds a link to this source may be valid for, whatever a client asks."""
        return max(self.presign_ttl, self.max_presign_ttl or 0)

    def backend_config(self) -> dict[str, Any]:
        return {
            "source_id": str(self.public_id),
            "bucket": self.bucket,
            "prefix": self.normalized_prefix,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "addressing_style": self.addressing_style,
            "path": self.local_path,
            "connect_timeout": settings.SOURCE_CONNECT_TIMEOUT,
            "read_timeout": settings.SOURCE_READ_TIMEOUT,
        }

    @property
    def download_origins(self) -> list[str]:
        """The origins its signed download links point to (for the pages' image policy)."""
        return BACKENDS[self.kind].download_origins(self.backend_config())

    def key_for(self, path: str) -> str:
        """The storage key of a path relative to the source's prefix."""
        return self.normalized_prefix + path

    @property
    def is_indexed(self) -> bool:
        return self.last_indexed_at is not None

    @property
    def index_running(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.INDEXING}

    @property
    def index_elapsed(self) -> float:
        """Seconds the running (or last) index took so far."""
        if self.index_started_at is None:
            return 0.0
        end = self.index_finished_at if self.status != self.Status.INDEXING else None
        if end is None or end < self.index_started_at:
            end = timezone.now()
        return max((end - self.index_started_at).total_seconds(), 0.0)

    @property
    def index_rate(self) -> float:
        """Objects listed per second by the running (or last) index."""
        elapsed = self.index_elapsed
        return round(self.index_listed / elapsed, 1) if elapsed > 0 else 0.0


def encode_cursor(is_dir: bool, name: str) -> str:
    raw = json.dumps([int(is_dir), name], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[bool, str] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        is_dir, name = json.loads(raw)
        return bool(is_dir), str(name)
    except (ValueError, TypeError):
        return None


class SourceObjectQuerySet(models.QuerySet["SourceObject"]):
    def children(
        self, source: Source, folder: str, *, cursor: str = "", name_contains: str = ""
    ) -> SourceObjectQuerySet:
        """Direct children of a folder: folders first, then files, by name.

        Keyset pagination on (is_dir, name) walks the (source, parent, is_dir, name) index,
        so the thousandth page costs what the first one does.
        """
        rows = self.filter(source=source, parent=folder, vanished_at__isnull=True)
        if name_contains:
            rows = rows.filter(name__icontains=name_contains)
        position = decode_cursor(cursor) if cursor else None
        if position is not None:
            after_dir, after_name = position
            # is_dir__in rather than is_dir=: SQLite gets "is_dir IN (0)", an index
            # equality, where "NOT is_dir" would make it scan the whole folder.
            if after_dir:
                rows = rows.filter(Q(is_dir__in=[True], name__gt=after_name) | Q(is_dir__in=[False]))
            else:
                rows = rows.filter(is_dir__in=[False], name__gt=after_name)
        return rows.order_by("-is_dir", "name")

    def page(
        self, source: Source, folder: str, *, cursor: str = "", name_contains: str = "", limit: int = 200
    ) -> tuple[list[SourceObject], str]:
        """One page of children and the cursor of the next page ("" after the last)."""
        rows = list(self.children(source, folder, cursor=cursor, name_contains=name_contains)[: limit + 1])
        if len(rows) <= limit:
            return rows, ""
        rows = rows[:limit]
        return rows, encode_cursor(rows[-1].is_dir, rows[-1].name)


# The rows a search looks at: files still in the source.
LIVE_FILES = Q(is_dir=False, vanished_at__isnull=True)


class SourceObject(models.Model):
    """One object (or one folder) in the index of a source.

    Paths are relative to the source's prefix; folders end with "/" and carry the number
    and total size of the objects below them.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="indexed_objects")
    path = models.CharField(max_length=1024)
    parent = models.CharField(max_length=1024)
    name = models.CharField(max_length=1024)
    is_dir = models.BooleanField(default=False)
    size = models.BigIntegerField(default=0)
    file_count = models.BigIntegerField(default=0)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    version_id = models.CharField(max_length=1024, blank=True)
    md5 = models.CharField(max_length=32, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    generation = models.PositiveIntegerField(default=0)
    # Set when a re-index no longer finds the object; cleared if it comes back.
    vanished_at = models.DateTimeField(null=True, blank=True)

    objects = SourceObjectQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "path"], name="source_object_path_unique")]
        indexes = [
            # Ordered as the listing is (folders first, then by name), so a page is read
            # straight off the index instead of sorting the folder.
            models.Index(fields=["source", "parent", "-is_dir", "name"], name="source_object_listing"),
            # What a search reads: the live files of a source in key order, with every
            # column its filters compare (is_dir and vanished_at too, which SQLite wants to
            # read the index alone), so a capped count never touches the table. On
            # PostgreSQL the path column is in the "C" collation (migration 0004): this
            # order is code-point order there too, and a key prefix is a range of it.
            models.Index(
                fields=["source", "path", "size", "last_modified", "is_dir", "vanished_at"],
                condition=LIVE_FILES,
                name="source_object_search",
            ),
            # The same by size, for a count of a size range that is not a scan of the source.
            models.Index(
                fields=["source", "size", "last_modified", "path", "is_dir", "vanished_at"],
                condition=LIVE_FILES,
                name="source_object_search_size",
            ),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def key(self) -> str:
        return self.source.key_for(self.path)


class ObjectChecksum(models.Model):
    """sha256 and md5 of one object at one ETag/version, computed or vouched for by the store.

    Kept apart from the index rows, which a re-index replaces: a second package that uses
    the same object at the same ETag/version never reads it again.
    """

    class Origin(models.TextChoices):
        STORE = "store", "Given by the storage service"
        READ = "read", "Computed by reading the object"

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=1024)
    etag = models.CharField(max_length=200, blank=True)
    version_id = models.CharField(max_length=1024, blank=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    md5 = models.CharField(max_length=32)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.READ)
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "key", "etag", "version_id"], name="object_checksum_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.sha256[:12]}"
