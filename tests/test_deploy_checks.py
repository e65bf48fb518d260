"""System checks that refuse a start which would break on more than one machine, or with the wrong key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from sources.models import Source

ROOT = Path(__file__).resolve().parent.parent


def _check(**environment: str) -> subprocess.CompletedProcess[str]:
    """`manage.py check` in a fresh process: the settings are read from this environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environment}
    for name in ("TEXT_STORAGE", "MEDIA_ROOT_SHARED"):
        if name not in environment:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


# Port 9 on loopback: nothing listens there, so a check that tried to connect would fail
# with a connection error rather than the message the test expects.
UNREACHABLE_POSTGRES = "postgres://packager:packager@127.0.0.1:9/packager"


def test_it_refuses_local_text_storage_with_a_database_server() -> None:
    result = _check(DATABASE_URL=UNREACHABLE_POSTGRES)
    assert result.returncode != 0
    assert "packager.E001" in result.stderr
    assert "MEDIA_ROOT_SHARED=1" in result.stderr
    assert "connection" not in result.stderr.lower()


def test_it_accepts_local_text_storage_on_a_shared_media_root() -> None:
    result = _check(DATABASE_URL=UNREACHABLE_POSTGRES, MEDIA_ROOT_SHARED="1")
    assert result.returncode == 0, result.stderr


def test_it_accepts_bucket_text_storage_with_a_database_server() -> None:
    result = _check(DATABASE_URL=UNREACHABLE_POSTGRES, TEXT_STORAGE="s3", TEXT_STORAGE_BUCKET="texts")
    assert result.returncode == 0, result.stderr


def test_it_accepts_local_text_storage_with_sqlite() -> None:
    from packager.checks import text_storage_shared

    assert text_storage_shared() == []


def _source_with_credentials(owner: Any) -> None:
    # Stored as the source services store them; no storage server is needed to check the keys.
    source = Source(owner=owner, name="bucket", kind=Source.Kind.S3, bucket="data")
    source.set_credentials({"access_key_id": "key-id", "secret_access_key": "secret-key"})
    source.save()


@pytest.mark.django_db
def test_it_refuses_a_secret_key_that_cannot_decrypt_the_credentials(owner: Any, settings: Any) -> None:
    _source_with_credentials(owner)
    call_command("check", "--database", "default", "--tag", "database")  # the key they were stored with
    settings.SECRET_KEY = "another-key-than-the-one-the-credentials-were-stored-with"
    with pytest.raises(SystemCheckError) as refused:
        call_command("check", "--database", "default", "--tag", "database")
    message = str(refused.value)
    assert "sources.E001" in message
    assert "SECRET_KEY" in message
    assert "'bucket'" in message
    assert "secret-key" not in message


@pytest.mark.django_db
def test_it_accepts_the_old_key_among_the_fallbacks(owner: Any, settings: Any) -> None:
    _source_with_credentials(owner)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the-new-key-after-a-rotation"
    call_command("check", "--database", "default", "--tag", "database")


@pytest.mark.django_db
def test_it_names_credentials_keys_when_they_are_set(owner: Any, settings: Any) -> None:
    _source_with_credentials(owner)
    settings.CREDENTIALS_KEYS = ["a-credentials-key-the-sources-were-not-stored-with"]
    with pytest.raises(SystemCheckError, match="CREDENTIALS_KEYS"):
        call_command("check", "--database", "default", "--tag", "database")


def test_it_needs_the_database_option_to_read_credentials() -> None:
    from sources.checks import credentials_readable

    # Without --database, Django runs database checks with databases=None: nothing is read.
    assert credentials_readable(databases=None) == []


def _entrypoint(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """The image's entry point, with the venv's python first on PATH as in the image."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PACKAGER_VAR_DIR": str(tmp_path),
        **environment,
    }
    env.pop("TEXT_STORAGE", None)
    marker = tmp_path / "started"
    return subprocess.run(
        ["sh", str(ROOT / "deploy" / "docker" / "entrypoint.sh"), "touch", str(marker)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_image_refuses_to_start_what_the_checks_refuse(tmp_path: Path) -> None:
    result = _entrypoint(tmp_path, DATABASE_URL=UNREACHABLE_POSTGRES)
    assert result.returncode != 0
    assert "packager.E001" in result.stderr
    assert not (tmp_path / "started").exists()


def test_the_image_starts_its_command_once_the_checks_pass(tmp_path: Path) -> None:
    result = _entrypoint(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "started").exists()
