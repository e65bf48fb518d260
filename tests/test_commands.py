"""Management commands for administrators, and the demo seed."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from packager.models import ApiToken, Package
from shares.demo import seed_demo
from shares.models import Share
from sources.models import Source
from tests.conftest import S3Server

pytestmark = pytest.mark.django_db


def run(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_add_list_and_remove_sources(
    owner: Any, seaweed: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_access_key)
    output = run(
        "add_source",
        "lab",
        "--kind=s3",
        f"--owner={owner.username}",
        f"--bucket={s3_bucket}",
        f"--endpoint-url={seaweed.endpoint_url}",
        "--addressing-style=path",
        f"--access-key-id={seaweed.access_key_id}",
    )
    assert "Added source “lab”" in output
    source = Source.objects.get(name="lab")
    assert source.credentials["secret_access_key"] == seaweed.secret_access_key
    listing = run("list_sources")
    assert "lab" in listing and s3_bucket in listing and seaweed.secret_access_key not in listing
    with pytest.raises(CommandError, match="does not exist"):
        run("add_source", "bad", "--kind=s3", f"--owner={owner.username}", "--bucket=missing",
            f"--endpoint-url={seaweed.endpoint_url}", "--addressing-style=path",
            f"--access-key-id={seaweed.access_key_id}")  # fmt: skip
    with pytest.raises(CommandError, match="No user"):
        run("add_source", "x", "--kind=local", "--owner=nobody", "--path=/tmp")
    assert "Removed source “lab”" in run("remove_source", "lab")
    with pytest.raises(CommandError, match="No source"):
        run("remove_source", "lab")


def test_admins_may_give_a_user_a_local_folder(owner: Any, tmp_path: Path) -> None:
    run("add_source", "nfs", "--kind=local", f"--owner={owner.username}", f"--path={tmp_path}")
    assert Source.objects.get(name="nfs").local_path == str(tmp_path)


def test_create_api_token_prints_a_working_token(owner: Any, client: Any) -> None:
    token = run("create_api_token", owner.username).strip()
    assert ApiToken.objects.get().token_hash == ApiToken.hash(token)
    assert client.get("/api/v1/packages", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_rotating_the_credentials_key_keeps_them_readable(
    owner: Any, seaweed: S3Server, s3_bucket: str, settings: Any
) -> None:
    from tests.factories import make_source

    source = make_source(owner, seaweed.source_fields(s3_bucket), index=False)
    old_token = source.encrypted_credentials
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-installation"
    assert Source.objects.get(pk=source.pk).credentials["access_key_id"] == seaweed.access_key_id
    assert "1 source" in run("rotate_credentials")
    rotated = Source.objects.get(pk=source.pk)
    assert rotated.encrypted_credentials != old_token
    settings.SECRET_KEY_FALLBACKS = []
    assert rotated.credentials["secret_access_key"] == seaweed.secret_access_key


def test_the_demo_seed_runs_twice_without_duplicating(
    settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    settings.VAR_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        first = seed_demo()
    with django_capture_on_commit_callbacks(execute=True):
        second = seed_demo()
    assert (first.password, first.share.token) == (second.password, second.share.token)
    assert Source.objects.count() == Package.objects.count() == Share.objects.count() == 1
    assert first.source.indexed_objects.filter(is_dir=False).count() == 4
    assert sorted(first.package.entries.values_list("path", flat=True)) == [
        "README.md",
        "data/2024-summer.csv",
        "notebooks/overview.ipynb",
    ]
    output = run("seed_demo")
    assert first.password in output and f"/s/{first.share.token}/" in output


def _manage(*args: str, var: Path, **extra: str) -> Any:
    import subprocess
    import sys

    checkout = Path(__file__).resolve().parent.parent
    environment = {"PATH": "/usr/bin:/bin", "PACKAGER_VAR_DIR": str(var), "PYTHONPATH": str(checkout), **extra}
    return subprocess.run(
        [sys.executable, str(checkout / "manage.py"), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_commands_run_by_hand_use_the_key_make_run_keeps(tmp_path: Path) -> None:
    show = ("shell", "--no-imports", "-c", "from django.conf import settings; print(settings.SECRET_KEY)")
    refused = _manage(*show, var=tmp_path)  # no key anywhere, DEBUG off: refused, none made
    assert refused.returncode != 0 and "Set SECRET_KEY" in refused.stderr
    assert not (tmp_path / "secret-key").exists()
    (tmp_path / "secret-key").write_text("kept-by-make-run-0123456789abcdefghijklmnopqrstuvwxyz\n")
    kept = _manage(*show, var=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.strip() == "kept-by-make-run-0123456789abcdefghijklmnopqrstuvwxyz"
    chosen = _manage(*show, var=tmp_path, SECRET_KEY="set-by-the-operator-0123456789abcdefghijklmnopqrstuvwxyz")
    assert chosen.stdout.strip() == "set-by-the-operator-0123456789abcdefghijklmnopqrstuvwxyz"
