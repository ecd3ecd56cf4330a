"""Keeping jobs in step with the provider, outside any request.

The periodic sweep (:func:`jobs_due_claim`) claims each due job by moving its ``next_sync_at``
forward in one conditional update, so two schedulers or workers never work on one job at
once; :func:`job_sync` then uploads and creates (an ``uploading`` job) or reads the job and its
new events (a job at the provider). Provider failures back off (429/5xx/connection: doubling
up to ``FINETUNING_SYNC_MAX_BACKOFF``); transitions are idempotent (a terminal state never
changes again) and each provider event is stored once (unique per job). A succeeded job's
model is registered for its organization and its trained tokens metered exactly once.
"""

import datetime as dt
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ai.models import OrganizationModel
from ai.providers import ProviderError, Usage
from ai.providers.finetuning import RETRYABLE_KINDS, FineTuneJobSnapshot, FineTuningProvider
from config.exceptions import ApplicationError
from finetuning.access import fine_tuning_provider
from finetuning.models import (
    ACTIVE_JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    FineTuneEvent,
    FineTuneJob,
    JobStatus,
)
from metering.models import UsageKind
from metering.usage import usage_record_create

logger = structlog.get_logger(__name__)

_PROVIDER_STATUSES = frozenset(
    {"validating_files", "queued", "running", "succeeded", "failed", "cancelled"}
)


def _interval() -> dt.timedelta:
    return dt.timedelta(seconds=max(0, int(settings.FINETUNING_SYNC_INTERVAL)))


def _backoff(failures: int) -> dt.timedelta:
    base = max(1, int(settings.FINETUNING_SYNC_INTERVAL))
    cap = int(settings.FINETUNING_SYNC_MAX_BACKOFF)
    return dt.timedelta(seconds=min(cap, base * (2 ** min(failures, 20))))


def jobs_due_claim(*, limit: int = 100) -> list[tuple[Any, Any]]:
    """``(organization_id, job_id)`` of active jobs due a sync, each claimed for this caller
    (platform code: every organization's jobs)."""
    now = timezone.now()
    lease = now + max(_interval(), dt.timedelta(seconds=30))
    due = list(
        FineTuneJob.all_organizations.filter(status__in=ACTIVE_JOB_STATUSES, next_sync_at__lte=now)
        .order_by("next_sync_at")
        .values_list("organization_id", "pk", "next_sync_at")[:limit]
    )
    claimed = []
    for organization_id, job_id, seen in due:
        if FineTuneJob.all_organizations.filter(pk=job_id, next_sync_at=seen).update(
            next_sync_at=lease
        ):
            claimed.append((organization_id, job_id))
    return claimed


def _schedule(job_id: Any, *, failures: int, error: str = "", when: dt.timedelta) -> None:
    FineTuneJob.objects.filter(pk=job_id).update(
        next_sync_at=timezone.now() + when,
        sync_failures=failures,
        last_sync_error=error[:200],
        last_synced_at=timezone.now(),
    )


def _end_upload(job: FineTuneJob, *, code: str, message: str) -> None:
    FineTuneJob.objects.filter(pk=job.pk, status=JobStatus.UPLOADING).update(
        status=JobStatus.UPLOAD_FAILED,
        error_code=code[:64],
        error_message=message[:2000],
        finished_at=timezone.now(),
        last_synced_at=timezone.now(),
    )


def _launch(job: FineTuneJob, provider: FineTuningProvider) -> None:
    """Upload the dataset's files (once per provider) and create the provider's job."""
    dataset = job.dataset
    if dataset is None:
        _end_upload(job, code="dataset_deleted", message="The dataset was deleted.")
        return
    same_provider = dataset.provider == provider.name
    training_id = dataset.provider_file_id if same_provider else ""
    validation_id = dataset.provider_validation_file_id if same_provider else ""
    if not training_id:
        with dataset.file.open("rb") as handle:
            training_id = provider.upload_file(
                filename=f"{dataset.pk}-training.jsonl", content=handle.read(), retry=False
            )
    if dataset.validation_file and not validation_id:
        with dataset.validation_file.open("rb") as handle:
            validation_id = provider.upload_file(
                filename=f"{dataset.pk}-validation.jsonl", content=handle.read(), retry=False
            )
    type(dataset).objects.filter(pk=dataset.pk).update(
        provider=provider.name,
        provider_file_id=training_id,
        provider_validation_file_id=validation_id,
    )
    FineTuneJob.objects.filter(pk=job.pk).update(
        training_file_id=training_id, validation_file_id=validation_id
    )
    # Cancelled while the files went up: no provider job is created.
    if not FineTuneJob.objects.filter(pk=job.pk, status=JobStatus.UPLOADING).exists():
        return
    snapshot = provider.create_job(
        model=job.base_model,
        training_file=training_id,
        validation_file=validation_id or None,
        hyperparameters=job.hyperparameters,
        suffix=job.suffix or None,
        seed=job.seed,
        retry=False,
    )
    FineTuneJob.objects.filter(pk=job.pk).update(provider_job_id=snapshot.id)
    job_apply_snapshot(job_id=job.pk, snapshot=snapshot)


def _register_model(job: FineTuneJob) -> None:
    model_id = job.fine_tuned_model if job.provider != "azure" else job.deployment
    OrganizationModel.all_organizations.update_or_create(
        organization_id=job.organization_id,
        provider=job.provider,
        fine_tuned_model=job.fine_tuned_model,
        defaults={
            "base_model": job.base_model,
            "model_id": model_id,
            "source_id": str(job.pk),
            "created_by_id": job.created_by_id,
        },
    )


def _meter_once(job: FineTuneJob) -> None:
    """One ``training`` usage record per succeeded job, whoever syncs it first."""
    if not FineTuneJob.objects.filter(pk=job.pk, metered_at__isnull=True).update(
        metered_at=timezone.now()
    ):
        return
    tokens = int(job.trained_tokens or 0)
    usage_record_create(
        user=job.created_by_id,
        kind=UsageKind.TRAINING,
        provider=job.provider,
        model=job.fine_tuned_model or job.base_model,
        usage=Usage(prompt_tokens=tokens, completion_tokens=0),
        latency_ms=0,
        request_id="",
        organization_id=job.organization_id,
    )


def job_apply_snapshot(*, job_id: Any, snapshot: FineTuneJobSnapshot) -> FineTuneJob:
    """Move the job to what the provider says; a job that has ended stays as it ended."""
    with transaction.atomic():
        job = FineTuneJob.objects.select_for_update().get(pk=job_id)
        if job.status in TERMINAL_JOB_STATUSES:
            return job
        status = snapshot.status if snapshot.status in _PROVIDER_STATUSES else job.status
        job.status = status
        job.provider_job_id = job.provider_job_id or snapshot.id
        if snapshot.trained_tokens is not None:
            job.trained_tokens = snapshot.trained_tokens
        if snapshot.fine_tuned_model:
            job.fine_tuned_model = snapshot.fine_tuned_model
        if status == JobStatus.FAILED:
            job.error_code = (snapshot.error_code or "failed")[:64]
            job.error_message = snapshot.error_message or "The provider reported a failure."
        if status in TERMINAL_JOB_STATUSES:
            job.finished_at = timezone.now()
        job.sync_failures = 0
        job.last_sync_error = ""
        job.last_synced_at = timezone.now()
        job.next_sync_at = timezone.now() + _interval()
        job.save()
        if status == JobStatus.SUCCEEDED and job.fine_tuned_model:
            _register_model(job)
            _meter_once(job)
    if status in TERMINAL_JOB_STATUSES:
        logger.info("finetuning_job_ended", job_id=str(job.pk), status=status)
    return job


def _store_events(job: FineTuneJob, provider: FineTuningProvider) -> int:
    known = set(FineTuneEvent.objects.filter(job=job).values_list("provider_event_id", flat=True))
    new = provider.list_new_events(job.provider_job_id, known=known)
    rows = [
        FineTuneEvent(
            organization_id=job.organization_id,
            job=job,
            provider_event_id=event.id[:128],
            level=event.level[:16],
            type=event.type[:16],
            message=event.message,
            data=event.data,
            created_at=dt.datetime.fromtimestamp(event.created_at, tz=dt.UTC),
        )
        for event in new
    ]
    # The unique (job, provider event id) constraint keeps a concurrent sync from doubling.
    FineTuneEvent.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def job_sync(*, job_id: Any) -> FineTuneJob | None:
    """One step of a job (in its organization's scope): launch it, or read its state and new
    events. Provider errors reschedule it with backoff; they never raise."""
    job = FineTuneJob.objects.select_related("dataset").filter(pk=job_id).first()
    if job is None or job.status in TERMINAL_JOB_STATUSES:
        return job
    try:
        provider = fine_tuning_provider()
    except ApplicationError:  # the provider was switched off: look again later, change nothing
        _schedule(job.pk, failures=job.sync_failures, when=_backoff(job.sync_failures))
        return job
    try:
        if job.status == JobStatus.UPLOADING and not job.provider_job_id:
            _launch(job, provider)
        else:
            snapshot = provider.retrieve_job(job.provider_job_id)
            _store_events(job, provider)
            job_apply_snapshot(job_id=job.pk, snapshot=snapshot)
    except ProviderError as error:
        failures = job.sync_failures + 1
        retryable = error.kind in RETRYABLE_KINDS
        logger.warning(
            "finetuning_sync_failed", job_id=str(job.pk), kind=error.kind, failures=failures
        )
        if job.status == JobStatus.UPLOADING and (
            not retryable or failures >= int(settings.FINETUNING_UPLOAD_MAX_ATTEMPTS)
        ):
            _end_upload(job, code=error.kind, message=str(error))
        elif job.status != JobStatus.UPLOADING and error.kind == "not_found":
            with transaction.atomic():
                FineTuneJob.objects.filter(pk=job.pk, status__in=ACTIVE_JOB_STATUSES).update(
                    status=JobStatus.FAILED,
                    error_code="not_found",
                    error_message="The provider no longer knows this job.",
                    finished_at=timezone.now(),
                )
        else:
            _schedule(
                job.pk, failures=failures, error=f"{error.kind}: {error}", when=_backoff(failures)
            )
    finally:
        provider.close()
    return FineTuneJob.objects.filter(pk=job.pk).first()
