"""The demo that `make run` seeds: a user, a local source, a package and a share link."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from packager import checksumming, versions
from packager import services as packages
from packager.models import Package
from shares import services as shares
from shares.models import Share
from sources import indexing
from sources import services as sources
from sources.models import Source

DEMO_USER = "demo"
DEMO_DATA = settings.BASE_DIR / "demo" / "data"


@dataclass
class Demo:
    username: str
    password: str
    source: Source
    package: Package
    share: Share


def _password_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-login.json"


def _demo_password() -> str:
    """One random password per installation, kept under var/ so that reruns print it."""
    path = _password_file()
    if path.exists():
        return str(json.loads(path.read_text())["password"])
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"username": DEMO_USER, "password": password}))
    path.chmod(0o600)
    return password


@transaction.atomic
def seed_demo(*, data_path: Path = DEMO_DATA) -> Demo:
    """Create what is missing of the demo; running it again changes nothing."""
    password = _demo_password()
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=DEMO_USER, defaults={"is_staff": True, "email": "demo@example.com"}
    )
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    source = Source.objects.filter(owner=user, name="Demo data").first()
    if source is None:
        source = sources.source_create(
            owner=user,
            kind=Source.Kind.LOCAL,
            fields={"name": "Demo data", "local_path": str(data_path)},
            credentials={},
            index=False,
            trusted=True,
        )
    if not source.is_indexed:
        transaction.on_commit(lambda: indexing.source_index(source_pk=source.pk))
    package = Package.objects.filter(owner=user, slug="lake-temperature-survey").first()
    if package is None:
        package = packages.package_create(
            owner=user,
            name="Lake temperature survey",
            description="Hourly surface temperatures from two stations, with a first-look notebook.",
        )
        packages.package_add_objects(
            package=package, source=source, paths=["measurements/2024-summer.csv"], target="data"
        )
        packages.package_write_text(package=package, path="README.md", content=(data_path / "README.md").read_text())
        packages.package_write_text(
            package=package,
            path="notebooks/overview.ipynb",
            content=(data_path / "notebooks" / "overview.ipynb").read_text(),
        )
    if not package.versions.exists():
        version = versions.package_publish(
            package=package, message="The summer 2024 measurements, README and notebook.", created_by=user
        )
        # Published here rather than by the worker, so the demo link works at once.
        transaction.on_commit(lambda: checksumming.version_publish_run(version_pk=version.pk))
    share = package.shares.filter(revoked_at__isnull=True, expires_at__isnull=True, password_hash="").first()
    if share is None:
        share = shares.share_create(package=package, created_by=user, label="demo link")
    return Demo(username=DEMO_USER, password=password, source=source, package=package, share=share)
