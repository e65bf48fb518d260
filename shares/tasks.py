from __future__ import annotations

from celery import shared_task

from shares import services


@shared_task
def purge_share_events() -> int:
    """Celery beat, daily: drop the access logs of shares that ended long ago."""
    return services.share_events_purge()
