"""Celery tasks of the tenants app: deleting an organization (``tenants.deletion``)."""

from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="tenants.organization_deletion", acks_late=True, ignore_result=True)
def organization_deletion_task(*, job_id: int) -> None:
    """Run one organization-deletion job; a job another worker holds is left to it."""
    from tenants.deletion import organization_deletion_run

    organization_deletion_run(job_id=job_id)


@shared_task(name="tenants.organization_deletions_resume", ignore_result=True)
def organization_deletions_resume_task() -> int:
    """Periodic (and at every worker's start): resume deletion jobs whose worker died."""
    from tenants.deletion import organization_deletions_resume

    return organization_deletions_resume()


@worker_ready.connect
def _resume_on_worker_start(**kwargs: object) -> None:
    # A worker (re)started after a crash picks up what died with it without waiting for beat.
    organization_deletions_resume_task.delay()
