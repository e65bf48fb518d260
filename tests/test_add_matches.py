"""'Add all matches to a package' past the inline limit: a job a worker runs, with progress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from packager import services
from packager.models import AddMatchesJob, Package, PackageEntry
from sources.models import Source, SourceObject
from tests.conftest import Api
from tests.factories import make_local_source

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def fill(source: Source, count: int) -> None:
    """count index rows in 10 folders below big/, without files behind them."""
    SourceObject.objects.bulk_create(
        SourceObject(
            source=source,
            path=f"big/part-{index % 10}/f{index:05d}.bin",
            parent=f"big/part-{index % 10}/",
            name=f"f{index:05d}.bin",
            size=index,
        )
        for index in range(count)
    )


@pytest.fixture
def big(owner: Any, tmp_path: Path, settings: Any) -> Source:
    settings.ADD_MATCHES_INLINE_LIMIT = 50
    source = make_local_source(owner, tmp_path)
    fill(source, 120)
    return source


def add_body(source: Source, glob: str = "big/**", target: str = "data") -> dict[str, Any]:
    return {"source": str(source.public_id), "search": {"glob": glob}, "target": target}


def test_past_the_inline_limit_the_api_answers_202_with_a_job_a_worker_finishes(
    api: Api, big: Source, django_capture_on_commit_callbacks: Any
) -> None:
    package = api.call("post", "/packages", {"name": "big"}).json()
    with django_capture_on_commit_callbacks(execute=True):  # the (eager) worker runs the job
        answer = api.call("post", f"/packages/{package['id']}/entries", add_body(big))
    assert answer.status_code == 202
    job = answer.json()["job"]
    assert job["state"] == "queued" and job["total"] == 120 and job["added"] == 0
    done = api.call("get", f"/packages/{package['id']}/add-jobs/{job['id']}").json()
    assert (done["state"], done["added"], done["total"], done["error"]) == ("done", 120, 120, "")
    assert done["finished_at"] is not None
    assert PackageEntry.objects.filter(package__public_id=package["id"]).count() == 120
    assert PackageEntry.objects.filter(path="data/part-3/f00013.bin", parent="data/part-3/").exists()
    assert api.call("get", f"/packages/{package['id']}").json()["entry_count"] == 120
    small = api.call("post", f"/packages/{package['id']}/entries", add_body(big, "big/part-1/*", "small"))
    assert small.status_code == 201 and small.json() == {"added_count": 12}  # under the limit: inline


def test_a_rerun_after_a_killed_worker_resumes_without_duplicates(
    owner: Any, big: Source, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    package = services.package_create(owner=owner, name="resumed")
    from sources.search import Search

    job = services.package_add_search(package=package, source=big, search=Search(glob="big/**"), target="")
    assert isinstance(job, AddMatchesJob)
    monkeypatch.setattr(services, "ADD_MATCHES_BATCH", 25)
    real_batch = services._add_match_batch
    calls = {"count": 0}

    def dies_on_the_third_batch(*args: Any) -> int:
        calls["count"] += 1
        if calls["count"] == 3:
            raise KeyboardInterrupt  # as a killed worker: nothing of this batch is kept
        return real_batch(*args)

    monkeypatch.setattr(services, "_add_match_batch", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        services.add_matches_job_run(job_pk=job.pk)
    job.refresh_from_db()
    assert (job.state, job.added) == ("running", 50) and job.resume_after
    assert not services.add_matches_job_run(job_pk=job.pk)  # its heartbeat is fresh: someone has it
    settings.ADD_MATCHES_STALE_SECONDS = 0
    assert services.add_matches_job_run(job_pk=job.pk)
    job.refresh_from_db()
    assert (job.state, job.added, job.total) == ("done", 120, 120)
    paths = list(package.entries.values_list("path", flat=True))
    assert len(paths) == len(set(paths)) == 120
    assert calls["count"] == 3 + 3  # the rerun went on after the last batch kept: 70 left, three batches


def test_a_collision_fails_the_job_before_anything_is_added(
    api: Api, big: Source, django_capture_on_commit_callbacks: Any
) -> None:
    package = api.call("post", "/packages", {"name": "taken"}).json()
    text = api.call("post", f"/packages/{package['id']}/entries", {"path": "data/part-4", "text": "a file"})
    assert text.status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        job = api.call("post", f"/packages/{package['id']}/entries", add_body(big)).json()["job"]
    failed = api.call("get", f"/packages/{package['id']}/add-jobs/{job['id']}").json()
    assert failed["state"] == "failed" and "data/part-4" in failed["error"] and failed["added"] == 0
    assert PackageEntry.objects.filter(package__public_id=package["id"]).count() == 1


def test_the_package_page_shows_the_progress_and_polls_while_the_job_runs(
    owner_client: Client, owner: Any, big: Source
) -> None:
    package = services.package_create(owner=owner, name="watched")
    job = AddMatchesJob.objects.create(package=package, source=big, search={"glob": "big/**"}, total=120)
    AddMatchesJob.objects.filter(pk=job.pk).update(state="running", added=40)
    page = owner_client.get(reverse("package_detail", args=[package.public_id])).content.decode()
    progress_url = reverse("package_add_jobs", args=[package.public_id])
    assert f'hx-get="{progress_url}"' in page and 'max="120" value="40"' in page
    services.add_matches_job_run(job_pk=job.pk)  # its heartbeat is empty: claimed and finished
    partial = owner_client.get(progress_url).content.decode()
    assert "Added 120 files" in partial and "hx-get" not in partial  # done: no more polling
    assert Package.objects.get(pk=package.pk).entries.count() == 120


def test_outsiders_get_404_and_anonymous_users_log_in(
    api: Api, outsider_api: Api, outsider_client: Client, owner: Any, big: Source
) -> None:
    package = services.package_create(owner=owner, name="private")
    job = AddMatchesJob.objects.create(package=package, source=big, search={"glob": "big/**"}, total=120)
    url = f"/packages/{package.public_id}/add-jobs/{job.public_id}"
    assert api.call("get", url).status_code == 200
    assert outsider_api.call("get", url).status_code == 404
    progress_url = reverse("package_add_jobs", args=[package.public_id])
    assert outsider_client.get(progress_url).status_code == 404
    assert outsider_client.post(progress_url).status_code == 405
    anonymous = Client().get(progress_url)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    other = services.package_create(owner=owner, name="other")
    assert api.call("get", f"/packages/{other.public_id}/add-jobs/{job.public_id}").status_code == 404


def test_a_path_taken_after_the_check_fails_the_job_instead_of_retrying_forever(
    owner: Any, big: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sources.search import Search

    package = services.package_create(owner=owner, name="raced")
    job = services.package_add_search(package=package, source=big, search=Search(glob="big/**"), target="")
    assert isinstance(job, AddMatchesJob)
    monkeypatch.setattr(services, "_check_matches", lambda *args: None)  # the edit lands after the check
    services.package_write_text(package=package, path="part-3/f00013.bin", content="not the object")
    assert services.add_matches_job_run(job_pk=job.pk)
    job.refresh_from_db()
    assert job.state == "failed" and "meanwhile" in job.error
    assert not services.add_matches_job_run(job_pk=job.pk)  # a failed job is not run again


def test_a_job_stops_when_its_requester_lost_the_role_meanwhile(
    owner: Any, big: Source, django_user_model: Any
) -> None:
    from sources.search import Search
    from teams import services as teams
    from teams.models import Membership

    curator = django_user_model.objects.create_user("carla")
    team = teams.team_create(name="Lake lab", creator=owner)
    teams.member_add(team=team, user=curator, role="curator", actor=owner)
    Source.objects.filter(pk=big.pk).update(team=team)
    big.refresh_from_db()
    package = services.package_create(owner=owner, name="shared", team=team)
    job = services.package_add_search(package=package, source=big, search=Search(glob="big/**"), actor=curator)
    assert isinstance(job, AddMatchesJob) and job.requested_by == curator
    Membership.objects.filter(team=team, user=curator).update(role="viewer")  # before the worker runs
    assert services.add_matches_job_run(job_pk=job.pk) is True
    job.refresh_from_db()
    assert job.state == "failed" and "carla may no longer add files" in job.error
    assert not PackageEntry.objects.filter(package=package).exists()
