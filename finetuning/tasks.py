"""Celery tasks of fine-tuning: the periodic sweep over active jobs and the sync of one job.

Beat (scaled mode) and the embedded timer (config.periodic) run ``finetuning.jobs_sync``;
it claims each due job and hands it to ``finetuning.job_sync`` (a worker in scaled mode,
inline when tasks are eager), which runs in the job's organization.
"""

from celery import shared_task

from core.tenancy import organization_scope, platform_scope
from finetuning.services.sync import job_sync, jobs_due_claim


@shared_task(name="finetuning.job_sync", ignore_result=True)
def job_sync_task(*, organization_id: str, job_id: str) -> str | None:
    """Launch or follow one job (provider errors reschedule it; they never fail the task)."""
    with organization_scope(organization_id):
        job = job_sync(job_id=job_id)
    return job.status if job is not None else None


@shared_task(name="finetuning.jobs_sync", ignore_result=True)
def jobs_sync_task() -> int:
    """Periodic: every active job whose next look is due."""
    with platform_scope():
        due = jobs_due_claim()
    for organization_id, job_id in due:
        job_sync_task.delay(organization_id=str(organization_id), job_id=str(job_id))
    return len(due)
