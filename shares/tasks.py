from __future__ import annotations

from celery import shared_task

from shares import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def build_share_repository(repository_pk: int) -> None:
    """Build a share's git-annex or DVC repository once; a rerun of a done build does nothing."""
    services.share_repository_build(repository_pk=repository_pk)
