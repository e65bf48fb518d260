from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models

from sources.models import Source


class Package(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="packages")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "slug"], name="package_slug_unique_per_owner")]

    def __str__(self) -> str:
        return self.name


def text_upload_to(entry: PackageEntry, filename: str) -> str:
    # Stored under a random name: the logical path lives in the database, so renaming an
    # entry never moves a file and no user-chosen name reaches the storage backend.
    return f"packages/{entry.package.public_id}/{uuid.uuid4().hex}"


class PackageEntry(models.Model):
    class Kind(models.TextChoices):
        POINTER = "pointer", "Data file (pointer)"
        TEXT = "text", "Text file"

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="entries")
    path = models.CharField(max_length=1024)
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

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def is_text(self) -> bool:
        return self.kind == self.Kind.TEXT

    def read_text(self) -> str:
        with self.text_file.open("rb") as handle:
            return handle.read().decode("utf-8", errors="replace")


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
