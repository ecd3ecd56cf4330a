"""Writes of training datasets: validated uploads, exports of conversations, deletion."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from ai.providers import ProviderError
from config.exceptions import ApplicationError, ConflictError, PayloadTooLargeError
from core.actor import Actor
from finetuning.access import fine_tuning_require_admin, fine_tuning_unavailable
from finetuning.export import (
    examples_check_size,
    examples_from_ratings,
    examples_from_sessions,
    examples_to_jsonl,
    export_system_prompt,
)
from finetuning.models import ACTIVE_JOB_STATUSES, DatasetSource, TrainingDataset
from finetuning.validation import FileReport, training_estimate, validate_jsonl
from ops.audit import audit_log

# Examples shown by an export's review (the whole file is downloadable once saved).
PREVIEW_EXAMPLES = 20


class DatasetInvalidError(ApplicationError):
    status_code = 400
    default_code = "DATASET_INVALID"
    default_detail = "The training file has problems."


def base_model_check(model: str | None) -> str:
    """``model`` when it is on the fine-tunable allow-list (``FINETUNING_MODELS``); omitted:
    the first of the list."""
    allowed = [m for m in settings.FINETUNING_MODELS if m]
    if not allowed:
        raise fine_tuning_unavailable()
    if not model:
        return allowed[0]
    if model not in allowed:
        raise ApplicationError(
            f"{model!r} cannot be fine-tuned here.",
            code="MODEL_NOT_FINE_TUNABLE",
            details={"base_model": [f"Choose one of: {', '.join(allowed)}."]},
        )
    return model


def _read_bounded(uploaded_file: Any, *, part: str) -> bytes:
    limit = int(settings.FINETUNING_MAX_FILE_BYTES)
    message = f"The {part} file is larger than {limit} bytes (FINETUNING_MAX_FILE_BYTES)."
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise PayloadTooLargeError(message)
    data = b"".join(uploaded_file.chunks())
    if len(data) > limit:  # the declared size can lie
        raise PayloadTooLargeError(message)
    return data


@dataclass
class DatasetCheck:
    """The validation of a training file (and its validation file) for one base model."""

    base_model: str
    training: FileReport
    validation: FileReport | None

    @property
    def problems(self) -> list[dict[str, Any]]:
        found = [p.as_dict() for p in self.training.problems]
        if self.validation is not None:
            found += [p.as_dict() for p in self.validation.problems]
        return found[: int(settings.FINETUNING_MAX_PROBLEMS)]

    @property
    def problem_count(self) -> int:
        return self.training.problem_count + (
            self.validation.problem_count if self.validation else 0
        )

    def raise_if_invalid(self) -> None:
        if self.problem_count:
            raise DatasetInvalidError(
                f"The training data has {self.problem_count} problem(s); nothing was stored "
                "or sent to the provider.",
                details={"problem_count": self.problem_count, "problems": self.problems},
            )


def dataset_check(*, data: bytes, validation: bytes | None, base_model: str) -> DatasetCheck:
    return DatasetCheck(
        base_model=base_model,
        training=validate_jsonl(
            data,
            part="training",
            model=base_model,
            min_examples=int(settings.FINETUNING_MIN_EXAMPLES),
        ),
        validation=(
            validate_jsonl(validation, part="validation", model=base_model)
            if validation is not None
            else None
        ),
    )


def _dataset_save(
    *,
    actor: Actor,
    name: str,
    source: str,
    data: bytes,
    validation: bytes | None,
    check: DatasetCheck,
) -> TrainingDataset:
    dataset = TrainingDataset(
        organization_id=actor.organization_id,
        created_by=actor.user,
        name=(" ".join(name.split()) or "Training data")[:200],
        source=source,
        base_model=check.base_model,
        size_bytes=len(data),
        examples=check.training.examples,
        total_tokens=check.training.total_tokens,
        max_example_tokens=check.training.max_example_tokens,
        example_tokens=check.training.example_tokens,
    )
    dataset.file.save("training.jsonl", ContentFile(data), save=False)
    if validation is not None and check.validation is not None:
        dataset.validation_file.save("validation.jsonl", ContentFile(validation), save=False)
        dataset.validation_size_bytes = len(validation)
        dataset.validation_examples = check.validation.examples
        dataset.validation_tokens = check.validation.total_tokens
    dataset.save()
    audit_log(
        action="finetuning.dataset_create",
        actor=actor,
        target=dataset,
        source=source,
        examples=dataset.examples,
        tokens=dataset.total_tokens,
    )
    return dataset


def dataset_upload(
    *,
    actor: Actor,
    uploaded_file: Any,
    validation_file: Any = None,
    name: str = "",
    base_model: str | None = None,
) -> TrainingDataset:
    """Validate an uploaded JSONL file (and validation file) and keep it; nothing is sent to a
    provider until a job starts. Every problem is answered at once (400 ``DATASET_INVALID``)."""
    fine_tuning_require_admin(actor)
    model = base_model_check(base_model)
    data = _read_bounded(uploaded_file, part="training")
    validation = (
        _read_bounded(validation_file, part="validation") if validation_file is not None else None
    )
    check = dataset_check(data=data, validation=validation, base_model=model)
    check.raise_if_invalid()
    return _dataset_save(
        actor=actor,
        name=name or getattr(uploaded_file, "name", "") or "Training data",
        source=DatasetSource.UPLOAD,
        data=data,
        validation=validation,
        check=check,
    )


def dataset_export(
    *,
    actor: Actor,
    session_ids: list[int] | None = None,
    rated_since: dt.datetime | None = None,
    rated_until: dt.datetime | None = None,
    system_prompt: str | None = None,
    base_model: str | None = None,
    name: str = "",
    save: bool = False,
) -> dict[str, Any]:
    """Examples from the organization's conversations: a review (``save=False``: the first
    examples, counts, tokens, cost and problems) or a stored dataset (``save=True``)."""
    fine_tuning_require_admin(actor)
    model = base_model_check(base_model)
    prompt = export_system_prompt(organization_id=actor.organization_id, override=system_prompt)
    if session_ids:
        examples = examples_from_sessions(session_ids=session_ids, system_prompt=prompt)
    else:
        examples = examples_from_ratings(since=rated_since, until=rated_until, system_prompt=prompt)
    examples_check_size(examples)
    data = examples_to_jsonl(examples)
    check = dataset_check(data=data, validation=None, base_model=model)
    review = {
        "examples": len(examples),
        "total_tokens": check.training.total_tokens,
        "estimate": training_estimate(tokens=check.training.total_tokens, epochs=None, model=model),
        "problem_count": check.problem_count,
        "problems": check.problems,
        "preview": examples[:PREVIEW_EXAMPLES],
        "dataset": None,
    }
    if save:
        check.raise_if_invalid()
        review["dataset"] = _dataset_save(
            actor=actor,
            name=name or "Exported conversations",
            source=DatasetSource.EXPORT,
            data=data,
            validation=None,
            check=check,
        )
    return review


def dataset_delete(*, actor: Actor, dataset: TrainingDataset) -> None:
    """Delete a dataset, its files here and the files uploaded to the provider.

    A dataset a running job trains on is kept (409): the provider reads the file until the
    job ends."""
    from finetuning.access import fine_tuning_provider

    fine_tuning_require_admin(actor)
    if dataset.jobs.filter(status__in=ACTIVE_JOB_STATUSES).exists():
        raise ConflictError("A running job trains on this dataset; stop it or wait for its end.")
    provider_files = [
        f for f in (dataset.provider_file_id, dataset.provider_validation_file_id) if f
    ]
    if provider_files:
        provider = fine_tuning_provider()
        try:
            for file_id in provider_files:
                provider.delete_file(file_id)
        except ProviderError as error:
            raise ApplicationError(
                f"The provider did not delete the uploaded file: {error}",
                code="AI_PROVIDER_ERROR",
                status_code=502,
            ) from error
        finally:
            provider.close()
    dataset_id = dataset.pk
    with transaction.atomic():
        dataset.delete()
    for stored in (dataset.file, dataset.validation_file):
        if stored:
            stored.delete(save=False)
    audit_log(
        action="finetuning.dataset_delete",
        actor=actor,
        dataset_id=str(dataset_id),
        provider_files=provider_files,
    )
