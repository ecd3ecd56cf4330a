"""Training datasets, fine-tuning jobs (a state machine mirroring the provider's) and the
provider's events of each job."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.tenant_models import TenantOwnedModel


def dataset_upload_to(instance: "TrainingDataset", filename: str) -> str:
    # Under the organization: one organization's files never share a folder with another's.
    return f"training/{instance.organization_id}/{instance.pk}/{filename}"


class DatasetSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    EXPORT = "export", "Exported conversations"


class TrainingDataset(TenantOwnedModel):
    """A validated JSONL file in the chat fine-tuning format (and its optional validation file).

    Only valid files are kept: validation runs before the row exists. The provider file ids
    are set when a job first uploads the files (and reused by later jobs on the same provider);
    deleting the dataset deletes them at the provider too."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=8, choices=DatasetSource.choices)
    file = models.FileField(upload_to=dataset_upload_to, max_length=400)
    validation_file = models.FileField(
        upload_to=dataset_upload_to, max_length=400, blank=True, default=""
    )
    size_bytes = models.PositiveBigIntegerField(default=0)
    validation_size_bytes = models.PositiveBigIntegerField(default=0)
    examples = models.PositiveIntegerField(default=0)
    validation_examples = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    validation_tokens = models.PositiveBigIntegerField(default=0)
    max_example_tokens = models.PositiveIntegerField(default=0)
    # The base model it was validated for (context length, price of the estimate).
    base_model = models.CharField(max_length=128)
    # Tokens of each training example, in file order (the review of what will be trained).
    example_tokens = models.JSONField(default=list, blank=True)
    provider = models.CharField(max_length=16, blank=True, default="")
    provider_file_id = models.CharField(max_length=128, blank=True, default="")
    provider_validation_file_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    tenant_owner_field = "created_by"

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"], name="ft_dataset_org")]

    def __str__(self) -> str:
        return self.name


class JobStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    UPLOAD_FAILED = "upload_failed", "Upload failed"
    VALIDATING_FILES = "validating_files", "Validating files"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# The provider's states and ours: a job in one of these is still moving.
ACTIVE_JOB_STATUSES = frozenset(
    {JobStatus.UPLOADING, JobStatus.VALIDATING_FILES, JobStatus.QUEUED, JobStatus.RUNNING}
)
TERMINAL_JOB_STATUSES = frozenset(
    {JobStatus.UPLOAD_FAILED, JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
)


class FineTuneJob(TenantOwnedModel):
    """One fine-tuning run at the provider, kept in sync by the periodic task."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The history outlives a deleted dataset.
    dataset = models.ForeignKey(
        TrainingDataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    provider = models.CharField(max_length=16)
    base_model = models.CharField(max_length=128)
    # What the admin asked for (omitted: the provider's defaults, "auto").
    hyperparameters = models.JSONField(default=dict, blank=True)
    suffix = models.CharField(max_length=64, blank=True, default="")
    seed = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.UPLOADING)
    provider_job_id = models.CharField(max_length=128, blank=True, default="")
    training_file_id = models.CharField(max_length=128, blank=True, default="")
    validation_file_id = models.CharField(max_length=128, blank=True, default="")
    estimated_tokens = models.PositiveBigIntegerField(default=0)
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    trained_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    fine_tuned_model = models.CharField(max_length=256, blank=True, default="")
    # Azure serves a fine-tuned model only through a deployment the admin creates and names.
    deployment = models.CharField(max_length=256, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    # Sync bookkeeping: when to look next, consecutive provider failures, the last one.
    next_sync_at = models.DateTimeField(default=timezone.now)
    sync_failures = models.PositiveIntegerField(default=0)
    last_sync_error = models.CharField(max_length=200, blank=True, default="")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Set once the trained tokens were metered (exactly once, whoever syncs).
    metered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    tenant_owner_field = "created_by"

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="ft_job_org"),
            models.Index(fields=["status", "next_sync_at"], name="ft_job_due"),
        ]

    def __str__(self) -> str:
        return f"{self.base_model} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES


class FineTuneEvent(TenantOwnedModel):
    """One event of the provider's job log (messages, loss and step metrics), stored once."""

    job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="events")
    provider_event_id = models.CharField(max_length=128)
    level = models.CharField(max_length=16, default="info")
    type = models.CharField(max_length=16, default="message")
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta(TenantOwnedModel.Meta):
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "provider_event_id"], name="ft_event_unique_provider_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_event_id}: {self.message[:60]}"
