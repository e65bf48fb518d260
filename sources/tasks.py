from __future__ import annotations

from celery import shared_task

from sources import indexing, services
from sources.backends.errors import StorageError
from web import jobs


class TransientStorageError(Exception):
    pass


@shared_task(
    autoretry_for=(TransientStorageError,),
    retry_backoff=10,
    retry_kwargs={"max_retries": 3},
)
def index_source(source_pk: int) -> None:
    """List a source into its index. Idempotent: a rerun redoes the listing and finishes."""
    try:
        indexing.source_index(source_pk=source_pk)
    except StorageError as error:
        # Wrong credentials or a deleted bucket will not fix themselves: the error is on
        # the source for its owner to see. A timeout or a refused connection may.
        if error.reason in {"timeout", "unreachable"}:
            raise TransientStorageError(error.message) from error


@shared_task
def index_due_sources() -> int:
    """Celery beat: queue scheduled re-indexes."""
    return services.sources_index_due()


@shared_task
def resume_stalled_jobs() -> dict[str, int]:
    """Celery beat: queue again every background job of every kind whose worker went
    silent or whose task was lost (web.jobs); how many of each kind."""
    return jobs.jobs_resume_stalled()
