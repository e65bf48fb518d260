from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models

from sources.models import Source
from teams.departures import keep_with_team
from teams.models import Team
from web.jobs import JobRecord
from web.paths import name_of


class Package(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A package belongs to its owner, or (team set) to a team; teams/policy.py decides who may do what.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=keep_with_team, related_name="packages")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, null=True, blank=True, related_name="packages")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    description = models.TextField(blank=True)
    # The catalog's sort and search keys, kept by the services: the name in natural order
    # ("2" before "10"; packager.catalog.natural_key), and the draft's README text.
    name_key = models.CharField(max_length=400, default="", db_index=True, editable=False)
    readme_text = models.TextField(blank=True, editable=False)
    # The draft's total size, kept with its folder aggregates (the root folder's size), so
    # that the catalog's size sort walks an index instead of summing every package.
    size_key = models.BigIntegerField(default=0, editable=False)
    # Citation metadata of the draft (packager.metadata.Metadata, stored as checked);
    # each version keeps a copy.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The newest published version, kept here so that a share following "latest" finds its
    # version in the same query that finds the share.
    latest_version = models.ForeignKey(
        "PackageVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "slug"], name="package_slug_unique_per_owner")]
        # The catalog's keyset pages: ordered by the key, then the id.
        indexes = [
            models.Index(fields=["size_key", "id"], name="package_catalog_size"),
            models.Index(fields=["updated_at", "id"], name="package_catalog_updated"),
        ]

    def __str__(self) -> str:
        return self.name

    def entry_sources(self) -> models.QuerySet[Source]:
        """The sources its entries point into (one query when evaluated)."""
        return Source.objects.filter(pk__in=PackageEntry.objects.filter(package=self).values("source_id"))


def text_upload_to(entry: PackageEntry, filename: str) -> str:
    # Stored under a random name: the logical path lives in the database, so renaming an
    # entry never moves a file and no user-chosen name reaches the storage backend.
    return f"packages/{entry.package.public_id}/{uuid.uuid4().hex}"


class EntryFile:
    """What a draft entry and a version's entry both say of their file."""

    path: str
    kind: str

    @property
    def name(self) -> str:
        return name_of(self.path)

    @property
    def is_text(self) -> bool:
        return self.kind == "text"


class PackageEntry(EntryFile, models.Model):
    class Kind(models.TextChoices):
        POINTER = "pointer", "Data file (pointer)"
        TEXT = "text", "Text file"

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="entries")
    path = models.CharField(max_length=1024)
    # The folder the entry sits in ("a/b/" for "a/b/c.csv", "" at the top): folder pages
    # read one folder's rows through an index instead of every path of the package.
    parent = models.CharField(max_length=1024, default="")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    md5 = models.CharField(max_length=32, blank=True)
    # Pointer entries: where the bytes are.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    key = models.CharField(max_length=1024, blank=True)
    version_id = models.CharField(max_length=1024, blank=True)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    # Text entries: the content, through Django's storage API.
    text_file = models.FileField(upload_to=text_upload_to, blank=True, max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["package", "path"], name="entry_path_unique_per_package")]
        indexes = [models.Index(fields=["package", "parent", "path"], name="entry_folder_listing")]

    def __str__(self) -> str:
        return self.path

    def read_text(self) -> str:
        with self.text_file.open("rb") as handle:
            return handle.read().decode("utf-8", errors="replace")


class FolderTotals(models.Model):
    """A folder ("a/b/") with the number and total size of the files below it, at any depth."""

    path = models.CharField(max_length=1024)  # ends with "/"
    parent = models.CharField(max_length=1024, default="")
    size = models.BigIntegerField(default=0)
    file_count = models.BigIntegerField(default=0)

    class Meta:
        abstract = True
        ordering = ["path"]

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return name_of(self.path)


class PackageFolder(FolderTotals):
    """A folder of a package's draft, with its totals.

    Kept up to date by the package services in the same transaction as the entries, so the
    package page reads one folder's aggregates instead of every path of the package. The row
    with path "" holds the whole package's totals.
    """

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="folders")

    class Meta(FolderTotals.Meta):
        constraints = [models.UniqueConstraint(fields=["package", "path"], name="package_folder_unique")]
        indexes = [models.Index(fields=["package", "parent", "path"], name="package_folder_listing")]


class PackageVersion(JobRecord, models.Model):
    """An immutable snapshot of a package's entries, pinned to object versions and hashes."""

    class State(models.TextChoices):
        CHECKSUMMING = "checksumming", "Checksumming"
        PUBLISHED = "published", "Published"
        FAILED = "failed", "Failed"

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    message = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.CHECKSUMMING)
    error = models.TextField(blank=True)
    failed_paths = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Lowercase hex sha256 over every entry sorted by path in code-point order (see
    # packager.checksumming.top_hash); set when the version is published.
    top_hash = models.CharField(max_length=64, blank=True)
    entry_count = models.BigIntegerField(default=0)
    file_count = models.BigIntegerField(default=0)  # data (pointer) entries
    total_size = models.BigIntegerField(default=0)

    # Progress of checksumming: objects and bytes.
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    progress_bytes_done = models.BigIntegerField(default=0)
    progress_bytes_total = models.BigIntegerField(default=0)
    # Bytes that must be read to checksum what the stores do not vouch for; past
    # CHECKSUM_CONFIRM_BYTES the task waits until the curator confirms.
    bytes_to_read = models.BigIntegerField(default=0)
    # Set once every object has been looked up in the checksum cache and the store, so a
    # resumed task goes straight to reading what is still missing.
    # Every data entry pinned to its object as storage had it when the task started (not
    # as the index saw it last), so a rerun does not pin again.
    storage_pinned = models.BooleanField(default=False)
    store_checked = models.BooleanField(default=False)
    read_confirmed = models.BooleanField(default=False)
    awaiting_confirmation = models.BooleanField(default=False)
    # The publish task claims the version with a conditional update on heartbeat_at, which
    # it keeps fresh (web.jobs.JobRecord; idempotent tasks).

    # Drift: the last "verify" of every object against the store.
    verify_started_at = models.DateTimeField(null=True, blank=True)
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    # A verify run's progress, written about once a second while it runs.
    verify_done = models.BigIntegerField(default=0)
    verify_total = models.BigIntegerField(default=0)
    drift_missing = models.JSONField(default=list, blank=True)
    drift_changed = models.JSONField(default=list, blank=True)

    # What the export layer computes once at publish time (sizes, blob names).
    exports = models.JSONField(default=dict, blank=True)
    # The ids of the sources its entries point into, noted when it is sealed.
    source_ids = models.JSONField(default=list, blank=True)

    # Citation: the package's metadata as it was when this version was published, its DOI
    # (bare, "10.5072/x.1"), and whether it is listed in the public catalog and OAI-PMH.
    metadata = models.JSONField(default=dict, blank=True)
    doi = models.CharField(max_length=300, blank=True)
    # "" (none registered here), "draft" or "findable": the DOI's state at DataCite.
    doi_state = models.CharField(max_length=10, blank=True)
    # Why the last request to DataCite failed (shown to the owner), "" after a success.
    doi_error = models.TextField(blank=True)
    public = models.BooleanField(default=False)
    # When `public` last changed: the OAI-PMH datestamp (a version made private again is
    # answered as a deleted record with this date).
    public_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["package", "number"], name="version_number_unique")]
        indexes = [models.Index(fields=["public_changed_at", "id"], name="version_catalog_changes")]

    def __str__(self) -> str:
        return f"{self.package} v{self.number}"

    def entry_sources(self) -> models.QuerySet[Source]:
        """The sources its entries point into (one query when evaluated): those noted when
        the version was sealed, so a page of a million-file version does not read its rows."""
        if self.state == self.State.PUBLISHED:
            return Source.objects.filter(pk__in=self.source_ids)
        return Source.objects.filter(pk__in=VersionEntry.objects.filter(package_version=self).values("source_id"))

    @property
    def is_published(self) -> bool:
        return self.state == self.State.PUBLISHED


class VersionEntry(EntryFile, models.Model):
    """One file of a published version. Never changes once the version is published.

    `position` is the rank of the path in code-point order: exports, manifests and the top
    hash read entries in that order straight off the (package_version, position) index.
    """

    class Drift(models.TextChoices):
        NONE = "", "Unchanged"
        MISSING = "missing", "Missing from storage"
        CHANGED = "changed", "Changed in storage"

    package_version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, related_name="entries")
    position = models.BigIntegerField()
    path = models.CharField(max_length=1024)
    parent = models.CharField(max_length=1024, default="")
    kind = models.CharField(max_length=10, choices=PackageEntry.Kind.choices)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    md5 = models.CharField(max_length=32, blank=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    key = models.CharField(max_length=1024, blank=True)
    # The object's version id in a versioned bucket: the resolver signs for it, so the bytes
    # behind a pinned entry cannot change.
    version_id = models.CharField(max_length=1024, blank=True)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.DateTimeField(null=True, blank=True)
    # Text entries: the storage name of the content (shared with the draft until it changes).
    text_name = models.CharField(max_length=300, blank=True)
    drift = models.CharField(max_length=10, choices=Drift.choices, blank=True, default=Drift.NONE)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["package_version", "path"], name="version_entry_path_unique"),
            models.UniqueConstraint(fields=["package_version", "position"], name="version_entry_position_unique"),
        ]
        indexes = [
            models.Index(fields=["package_version", "parent", "path"], name="version_entry_folder"),
            models.Index(fields=["package_version", "sha256"], name="version_entry_sha256"),
            models.Index(fields=["package_version", "md5"], name="version_entry_md5"),
        ]

    def __str__(self) -> str:
        return self.path

    def read_text(self) -> str:
        from django.core.files.storage import default_storage

        with default_storage.open(self.text_name, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")


class VersionFolder(FolderTotals):
    """A folder of a published version with the number and total size of the files below it."""

    package_version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, related_name="folders")

    class Meta(FolderTotals.Meta):
        constraints = [models.UniqueConstraint(fields=["package_version", "path"], name="version_folder_unique")]
        indexes = [models.Index(fields=["package_version", "parent", "path"], name="version_folder_listing")]


class ExportPart(models.Model):
    """A piece of what the exports compute once per version (packager.exports.parts).

    A part ("zip-local", "manifest", ...) is stored as numbered zlib-compressed chunks of
    about a megabyte, so a download streams it with flat memory whatever the version's
    size, from any database and whatever storage the text files live on.
    """

    package_version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, related_name="export_parts")
    name = models.CharField(max_length=40)
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        ordering = ["package_version", "name", "index"]
        constraints = [
            models.UniqueConstraint(fields=["package_version", "name", "index"], name="export_part_chunk_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name}#{self.index}"


class ApiToken(models.Model):
    """A personal token for the JSON API; only its hash is stored."""

    PREFIX = "pk_"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def new_token(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class AttemptCounter(models.Model):
    """Password attempts counted in a time window: share unlocks and logins (packager.ratelimit).

    Kept in the database so that every web process counts together, Redis or not.
    """

    key = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class VersionPublication(JobRecord, models.Model):
    """A published version written to a bucket, as data pipelines publish results: the record.

    Under `prefix` (rendered from the key template) it holds manifest.jsonl,
    datapackage.json, the text files and optionally a ZIP; never the data, which the manifest
    points at where it is. `written` lists every object put, with what the store said:
    [{"key", "size", "sha256", "checksum_sha256", "content_md5", "version_id", "etag"}].
    One record per (version, destination source, prefix): publishing again to the same place
    runs it again, and objects already there byte for byte are left as they are.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Writing"
        DONE = "done", "Published"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    package_version = models.ForeignKey(PackageVersion, on_delete=models.CASCADE, related_name="publications")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    key_template = models.CharField(max_length=300)
    prefix = models.CharField(max_length=1024)
    include_zip = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    error = models.TextField(blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    bucket = models.CharField(max_length=255, blank=True)
    region = models.CharField(max_length=64, blank=True)
    endpoint = models.CharField(max_length=500, blank=True)
    written = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The task claims the record with a conditional update on heartbeat_at (web.jobs).
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["package_version", "source", "prefix"], name="version_publication_unique_place"
            )
        ]

    def __str__(self) -> str:
        return f"{self.package_version} → {self.bucket or self.source_id}/{self.prefix}"


class AddMatchesJob(JobRecord, models.Model):
    """Adding every match of a search to a package, done by a worker when there are many.

    The worker adds the matches in key order, a batch per transaction, and records the last
    key added with each batch: a rerun after a killed worker resumes after it, and adding
    is idempotent anyway (the same object at the same path is never added twice).
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Adding"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="add_jobs")
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    # The search's fields (sources.search.Search), dates as ISO 8601 text.
    search = models.JSONField(default=dict)
    target = models.CharField(max_length=1024, blank=True)
    # Who asked: the worker checks again that they still may (a curator who lost the role
    # meanwhile stops the job). Empty for a job a tool asked for.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    error = models.TextField(blank=True)
    total = models.BigIntegerField(default=0)  # matches found when the job was asked for
    added = models.BigIntegerField(default=0)  # entries added so far
    # The key (below the source's prefix) of the last match handled; "" before the first.
    resume_after = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The task claims the job with a conditional update on heartbeat_at (web.jobs); a
    # running job whose heartbeat stopped is claimed again.
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.package_id}: {self.added}/{self.total}"

    @property
    def running(self) -> bool:
        return self.state in {self.State.QUEUED, self.State.RUNNING}
