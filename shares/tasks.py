from __future__ import annotations

from celery import shared_task

from packager.models import PackageVersion
from shares import services
from shares.models import Share, ShareRepository


@shared_task(acks_late=True, reject_on_worker_lost=True)
def build_share_repository(repository_pk: int) -> None:
    """Build a share's git-annex or DVC repository once; a rerun of a done build does nothing."""
    services.share_repository_build(repository_pk=repository_pk)


@shared_task
def prepare_share_repositories(share_pk: int, version_pk: int | None, base_url: str) -> None:
    """Request the git-annex and DVC builds of a share's version (each built once), and for
    a password share those at its key link too."""
    share = Share.objects.select_related("version", "package__latest_version").filter(pk=share_pk).first()
    if share is None or not share.is_active:
        return
    # None: the version the share serves now (none yet while its first one is being published).
    version = (
        share.serving_version
        if version_pk is None
        else PackageVersion.objects.filter(pk=version_pk, state=PackageVersion.State.PUBLISHED).first()
    )
    if version is None:
        return
    # A password share's repositories at its key link too, which need no password.
    for key_link in (False, True) if share.has_password else (False,):
        for kind in ShareRepository.Kind:
            services.share_repository_request(
                share=share, version=version, kind=kind, base_url=base_url, key_link=key_link
            )


@shared_task
def purge_share_events() -> int:
    """Celery beat, daily: drop the access logs of shares that ended long ago."""
    return services.share_events_purge()
