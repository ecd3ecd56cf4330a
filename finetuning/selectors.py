"""Reads of fine-tuning: the organization's datasets and jobs, for its owners and admins.

The tenant-scoped managers keep every read inside the current organization: another
organization's dataset or job is a 404, like one that does not exist."""

import uuid
from typing import Any

from django.db.models import QuerySet

from config.exceptions import NotFoundError
from core.actor import Actor
from finetuning.access import fine_tuning_require_admin
from finetuning.models import FineTuneEvent, FineTuneJob, TrainingDataset


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def dataset_list(*, actor: Actor) -> QuerySet[TrainingDataset]:
    fine_tuning_require_admin(actor)
    return TrainingDataset.objects.filter(organization_id=actor.organization_id).order_by(
        "-created_at", "-id"
    )


def dataset_get(*, actor: Actor, dataset_id: Any) -> TrainingDataset:
    key = _uuid(dataset_id)
    dataset = dataset_list(actor=actor).filter(pk=key).first() if key else None
    if dataset is None:
        raise NotFoundError("Dataset not found.", code="DATASET_NOT_FOUND")
    return dataset


def job_list(*, actor: Actor, status: str | None = None) -> QuerySet[FineTuneJob]:
    fine_tuning_require_admin(actor)
    jobs = FineTuneJob.objects.filter(organization_id=actor.organization_id)
    if status:
        jobs = jobs.filter(status=status)
    return jobs.select_related("dataset").order_by("-created_at", "-id")


def job_get(*, actor: Actor, job_id: Any) -> FineTuneJob:
    key = _uuid(job_id)
    job = job_list(actor=actor).filter(pk=key).first() if key else None
    if job is None:
        raise NotFoundError("Fine-tuning job not found.", code="JOB_NOT_FOUND")
    return job


def job_events(*, job: FineTuneJob, limit: int = 500) -> list[FineTuneEvent]:
    """The job's stored provider events, oldest first (the last ``limit``)."""
    newest = list(FineTuneEvent.objects.filter(job=job).order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest
