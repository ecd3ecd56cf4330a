"""Writes of fine-tuning jobs: start, cancel, the Azure deployment name of the result.

A job starts as ``uploading``; the provider work (upload the files, create the job, follow it)
happens outside the request, in :mod:`finetuning.services.sync`.
"""

import re
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ai.models import OrganizationModel
from ai.providers import ProviderError
from config.exceptions import ApplicationError, ConflictError
from core.actor import Actor
from finetuning.access import fine_tuning_provider, fine_tuning_require_admin
from finetuning.models import TERMINAL_JOB_STATUSES, FineTuneJob, JobStatus
from finetuning.quotas import training_quota_check
from finetuning.selectors import dataset_get
from finetuning.services.datasets import base_model_check
from finetuning.validation import context_tokens, training_estimate
from metering.models import OrganizationQuota
from ops.audit import audit_log

JOB_LAUNCH_TASK = "finetuning.job_sync"
DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _hyperparameters(
    *, epochs: int | None, batch_size: int | None, learning_rate_multiplier: float | None
) -> dict[str, Any]:
    """Only what the admin chose: the provider picks the rest ("auto")."""
    chosen: dict[str, Any] = {}
    if epochs is not None:
        chosen["n_epochs"] = epochs
    if batch_size is not None:
        chosen["batch_size"] = batch_size
    if learning_rate_multiplier is not None:
        chosen["learning_rate_multiplier"] = learning_rate_multiplier
    return chosen


def job_dispatch(*, job: FineTuneJob) -> None:
    """Scaled mode: a worker uploads now. Embedded mode (no broker): the maintenance timer
    (``finetuning.jobs_sync``) picks the job up, so the request never waits for the upload."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    current_app.tasks[JOB_LAUNCH_TASK].delay(
        organization_id=str(job.organization_id), job_id=str(job.pk)
    )


def job_start(
    *,
    actor: Actor,
    dataset_id: Any,
    base_model: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate_multiplier: float | None = None,
    suffix: str = "",
    seed: int | None = None,
) -> FineTuneJob:
    """Queue a fine-tuning job on one of the organization's datasets.

    Refused when the provider cannot fine-tune (409), the model is not fine-tunable, an
    example is longer than the model accepts, or the estimated trained tokens exceed the
    organization's training budget left this month (429 ``QUOTA_EXCEEDED``)."""
    fine_tuning_require_admin(actor)
    provider = fine_tuning_provider()
    provider_name = provider.name
    provider.close()
    dataset = dataset_get(actor=actor, dataset_id=dataset_id)
    model = base_model_check(base_model or dataset.base_model)
    limit = context_tokens(model)
    if dataset.max_example_tokens > limit:
        raise ApplicationError(
            f"The longest example has {dataset.max_example_tokens} tokens; {model} trains on at "
            f"most {limit} tokens per example.",
            code="DATASET_INVALID",
        )
    estimate = training_estimate(tokens=dataset.total_tokens, epochs=epochs, model=model)
    organization_id = actor.organization_id
    with transaction.atomic():
        # One start at a time per organization reads and spends the training budget.
        list(OrganizationQuota.objects.select_for_update().filter(organization_id=organization_id))
        training_quota_check(organization_id=organization_id, estimate=estimate["trained_tokens"])
        job = FineTuneJob.objects.create(
            organization_id=organization_id,
            created_by=actor.user,
            dataset=dataset,
            provider=provider_name,
            base_model=model,
            hyperparameters=_hyperparameters(
                epochs=epochs,
                batch_size=batch_size,
                learning_rate_multiplier=learning_rate_multiplier,
            ),
            suffix=suffix,
            seed=seed,
            status=JobStatus.UPLOADING,
            estimated_tokens=estimate["trained_tokens"],
            estimated_cost=estimate["cost_usd"],
            next_sync_at=timezone.now(),
        )
        audit_log(
            action="finetuning.job_start",
            actor=actor,
            target=job,
            dataset_id=str(dataset.pk),
            base_model=model,
            estimated_tokens=job.estimated_tokens,
        )
        transaction.on_commit(lambda: job_dispatch(job=job))
    return job


def job_cancel(*, actor: Actor, job: FineTuneJob) -> FineTuneJob:
    """Stop a job: at the provider when it has one there, else before its upload (409 once
    it has ended)."""
    from finetuning.services.sync import job_apply_snapshot

    fine_tuning_require_admin(actor)
    if job.status in TERMINAL_JOB_STATUSES:
        raise ConflictError(f"The job has already ended ({job.status}).")
    if not job.provider_job_id:
        with transaction.atomic():
            locked = FineTuneJob.objects.select_for_update().get(pk=job.pk)
            if not locked.provider_job_id and locked.status == JobStatus.UPLOADING:
                locked.status = JobStatus.CANCELLED
                locked.finished_at = timezone.now()
                locked.save(update_fields=["status", "finished_at", "updated_at"])
                audit_log(action="finetuning.job_cancel", actor=actor, target=locked)
                return locked
        job.refresh_from_db()
        if not job.provider_job_id:
            raise ConflictError(f"The job has already ended ({job.status}).")
    provider = fine_tuning_provider()
    try:
        snapshot = provider.cancel_job(job.provider_job_id)
    except ProviderError as error:
        raise ApplicationError(
            f"The provider did not cancel the job: {error}",
            code="AI_PROVIDER_ERROR",
            status_code=502,
            details={"kind": error.kind},
        ) from error
    finally:
        provider.close()
    job = job_apply_snapshot(job_id=job.pk, snapshot=snapshot)
    audit_log(action="finetuning.job_cancel", actor=actor, target=job)
    return job


def job_deployment_set(*, actor: Actor, job: FineTuneJob, deployment: str) -> FineTuneJob:
    """Azure: name the deployment of the fine-tuned model (created by the admin in Azure), so
    chat can call it; the model then appears in the organization's model lists."""
    fine_tuning_require_admin(actor)
    deployment = deployment.strip()
    if not DEPLOYMENT_NAME.match(deployment):
        raise ApplicationError(
            "A deployment name is 1-64 letters, digits, dots, dashes and underscores.",
            code="VALIDATION_ERROR",
            details={"deployment": ["Invalid deployment name."]},
        )
    if job.status != JobStatus.SUCCEEDED or not job.fine_tuned_model:
        raise ConflictError("Only a succeeded job has a model to deploy.")
    if job.provider != "azure":
        raise ConflictError(
            "Only Azure OpenAI serves fine-tuned models through deployments; OpenAI serves "
            f"{job.fine_tuned_model} by its name."
        )
    with transaction.atomic():
        job.deployment = deployment
        job.save(update_fields=["deployment", "updated_at"])
        OrganizationModel.objects.update_or_create(
            organization_id=job.organization_id,
            provider=job.provider,
            fine_tuned_model=job.fine_tuned_model,
            defaults={"model_id": deployment, "base_model": job.base_model},
        )
        audit_log(
            action="finetuning.job_deployment_set", actor=actor, target=job, deployment=deployment
        )
    return job
