"""/healthz, /readyz, /metrics, request ids and JSON request logs."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from config.celery import app as celery_app
from config.logs import JsonFormatter, RequestIdFilter
from config.middleware import loggable_path
from packager import services as packages
from packager.models import Package
from shares import access_log, services
from sources.models import Source
from tests.factories import make_local_source, publish, write_files
from tests.servers import ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent


def test_it_answers_healthz_without_the_database(client: Any) -> None:
    # No django_db mark: any database access would fail this test.
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")  # a probe by the pod's address
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.mark.django_db
def test_it_answers_readyz_with_every_check(client: Any) -> None:
    response = client.get("/readyz", HTTP_HOST="10.1.2.3")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "storage"}
    assert all(check["status"] == "ok" for check in body["checks"].values()), body


@pytest.mark.django_db
def test_it_answers_503_when_the_broker_is_down(client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.READINESS_TIMEOUT_SECONDS = 1
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["broker"]["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    assert "127.0.0.1" not in response.content.decode()  # no error text in a public answer


@pytest.mark.django_db
def test_it_answers_503_when_the_text_storage_is_unusable(client: Any, settings: Any, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    settings.MEDIA_ROOT = str(tmp_path / "a-file" / "media")  # cannot be created, not even by root
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == {"status": "fail", "error": "NotADirectoryError"}


def _scrape(client: Any, address: str = "127.0.0.1", **headers: str) -> Any:
    return client.get("/metrics", REMOTE_ADDR=address, **headers)


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.django_db
def test_it_serves_metrics_to_allowed_addresses_only(client: Any, settings: Any) -> None:
    assert _scrape(client).status_code == 200
    assert _scrape(client, "::1").status_code == 200
    assert _scrape(client, "203.0.113.5").status_code == 404
    # A forged X-Forwarded-For counts only behind a proxy, and then the proxy's last entry.
    assert _scrape(client, "203.0.113.5", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404
    settings.BEHIND_PROXY = True
    assert _scrape(client, "10.0.0.2", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.5").status_code == 404
    settings.BEHIND_PROXY = False
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]
    assert _scrape(client, "203.0.113.5").status_code == 200
    assert _scrape(client).status_code == 404


@pytest.fixture
def open_share(owner: Any, tmp_path: Path) -> Any:
    folder = tmp_path / "data"
    write_files(folder, {"a.csv": b"a,b\n1,2\n"})
    source = make_local_source(owner, folder)
    package = packages.package_create(owner=owner, name="measured")
    packages.package_add_objects(package=package, source=source, paths=["a.csv"])
    publish(package)
    return services.share_create(package=package, created_by=owner)


@pytest.mark.django_db
def test_it_counts_requests_by_route_and_times_the_resolver(
    client: Any, owner: Any, open_share: Any, settings: Any
) -> None:
    # Static files from the apps' folders, as collectstatic would gather them (the client's
    # middleware is built at its first request, after this).
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    before = _scrape(client).content.decode()
    assert client.get(reverse("login")).status_code == 200
    assert client.get(f"/s/{open_share.token}/r/a.csv").status_code in {302, 307}
    assert client.get("/no/such/page/").status_code == 404
    assert client.get("/static/css/app.css").status_code == 200
    after = _scrape(client).content.decode()

    def added(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert added("packager_http_requests_total", route="login", method="GET", status="200") == 1
    assert added("packager_http_requests_total", route="share_resolve", method="GET", status="307") == 1
    assert added("packager_http_requests_total", route="unmatched", status="404") == 1
    assert added("packager_http_requests_total", route="static", status="200") == 1
    assert added("packager_resolve_seconds_count", route="share_resolve") == 1
    assert open_share.token not in after and "no/such" not in after  # routes, never paths


@pytest.mark.django_db
def test_it_reports_jobs_and_the_access_log_backlog(client: Any, owner: Any, open_share: Any) -> None:
    Source.objects.create(owner=owner, name="waiting", kind=Source.Kind.LOCAL, status=Source.Status.QUEUED)
    package = Package.objects.get(name="measured")
    version = package.versions.create(number=2)  # checksumming: the state a publish starts in
    type(version).objects.filter(pk=version.pk).update(created_at=version.created_at - _minutes(5))
    access_log.access_log_discard()
    for _ in range(3):
        access_log.share_access_record(share_id=open_share.pk, kind="view")
    text = _scrape(client).content.decode()
    assert _sample(text, "packager_jobs", kind="index", state="queued") == 1
    assert _sample(text, "packager_jobs", kind="checksum", state="checksumming") == 1
    assert _sample(text, "packager_job_oldest_age_seconds", kind="checksum") >= 300
    assert _sample(text, "packager_job_oldest_age_seconds", kind="publish") == 0
    assert 'packager_jobs{kind="publish",state="queued"} 0.0' in text  # a series even when empty
    # The gauge is set as each request ends: the scrape before this one saw three events.
    text = _scrape(client).content.decode()
    assert _sample(text, "packager_access_log_backlog_events") == 3
    access_log.access_log_flush()
    _scrape(client)
    assert _sample(_scrape(client).content.decode(), "packager_access_log_backlog_events") == 0


def _minutes(count: int) -> Any:
    import datetime as dt

    return dt.timedelta(minutes=count)


def test_it_keeps_a_sane_request_id_and_replaces_any_other(client: Any) -> None:
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-4f2a.91").headers["X-Request-ID"] == "edge-4f2a.91"
    for insane in ["x" * 200, "two words", "<script>", "é"]:
        replaced = client.get("/healthz", HTTP_X_REQUEST_ID=insane).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced), insane


def test_it_logs_no_key_of_a_key_link() -> None:
    assert loggable_path("/s/tok3n/k/s3cr3t-key/r/a.csv") == "/s/tok3n/k/…/r/a.csv"
    assert loggable_path("/s/tok3n/r/k/a.csv") == "/s/tok3n/r/k/a.csv"


def test_it_formats_a_record_as_one_json_line() -> None:
    record = logging.LogRecord("packager.requests", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.status = 200
    record.request = object()  # Django passes the request along: never serialized
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "GET /x"
    assert parsed["status"] == 200
    assert parsed["request_id"] == "-"
    assert "request" not in parsed


@pytest.mark.system
@pytest.mark.slow
def test_gunicorn_workers_share_metrics_and_log_json_and_report_a_database_down(tmp_path: Path) -> None:
    """Two gthread workers (config/gunicorn.py), PostgreSQL unreachable: /healthz answers,
    /readyz says which check failed, a scrape sums both workers, every request is a JSON line."""
    stderr = tmp_path / "gunicorn.log"
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"postgres://packager:never-logged@127.0.0.1:{free_port()}/packager",
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
        "READINESS_TIMEOUT_SECONDS": "1",
        "PACKAGER_VAR_DIR": str(tmp_path / "var"),
    }
    port = free_port()
    with stderr.open("wb") as log:
        import subprocess

        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "config.wsgi",
                "-c",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process=process, port=port)
    try:
        from tests.servers import wait_for_port

        wait_for_port(port, process, "gunicorn")
        base = f"http://127.0.0.1:{port}"

        def get(path: str, **headers: str) -> tuple[int, bytes, Any]:
            request = urllib.request.Request(base + path, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read(), response.headers
            except urllib.error.HTTPError as error:
                return error.code, error.read(), error.headers

        for _ in range(20):
            assert get("/healthz")[0] == 200
        status, body, headers = get(
            "/healthz?signature=s3cr3t-signature", **{"X-Request-ID": "probe-1", "Authorization": "Basic c2VjcmV0"}
        )
        assert (status, headers["X-Request-ID"]) == (200, "probe-1")

        started = time.monotonic()
        status, body, _ = get("/readyz")
        assert time.monotonic() - started < 5
        assert status == 503
        checks = json.loads(body)["checks"]
        assert checks["database"]["status"] == "fail"
        assert {name for name, check in checks.items() if check["status"] == "ok"} == {"cache", "broker", "storage"}

        status, body, _ = get("/metrics")
        assert status == 200
        assert _sample(body.decode(), "packager_http_requests_total", route="healthz", status="200") == 21
    finally:
        server.stop()
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]  # every line is JSON
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    requests = [line for line in lines if line["logger"] == "packager.requests"]
    probe = next(line for line in requests if line["request_id"] == "probe-1")
    assert probe["method"] == "GET"
    assert probe["path"] == "/healthz"
    assert probe["status"] == 200
    assert probe["duration_ms"] >= 0
    assert any(line["path"] == "/readyz" and line["status"] == 503 for line in requests)
    text = stderr.read_text()
    assert "s3cr3t-signature" not in text
    assert "c2VjcmV0" not in text
    assert "never-logged" not in text
