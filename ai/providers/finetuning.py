"""Fine-tuning adapters: OpenAI and Azure OpenAI through the official SDK's ``files`` and
``fine_tuning.jobs``.

The clients are built from the same settings as the chat providers (``OPENAI_*``,
``AZURE_OPENAI_*``). These calls are rare and short, so the adapter is synchronous (the
``finetuning`` services and tasks are). Errors come out as :class:`ProviderError` with the
same kinds as chat calls (``rate_limited``, ``server_error``, ``bad_request`` ...); the
caller decides whether to retry now (a request) or later (the periodic sync).
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai
from django.conf import settings

from ai.providers.base import ProviderError
from ai.providers.openai_compat.retries import _RETRYABLE, classify

T = TypeVar("T")

# Failures worth trying again later (429, 5xx, timeouts, connection errors).
RETRYABLE_KINDS = _RETRYABLE

# The settings that make fine-tuning available, for the 409 of the offline provider.
ENABLING_SETTINGS = (
    "AI_PROVIDER=openai with OPENAI_API_KEY (and OPENAI_BASE_URL for another server), or "
    "AI_PROVIDER=azure with AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY; "
    "FINETUNING_MODELS lists the base models that may be fine-tuned"
)
# Pages of events read per sync at most (newest first, 100 a page): a job's history is read
# once, a little at a time, never unboundedly in one call.
EVENT_PAGES_PER_SYNC = 5


@dataclass(frozen=True)
class FineTuneJobSnapshot:
    """What the provider says about one job now."""

    id: str
    status: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error_code: str = ""
    error_message: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FineTuneEventSnapshot:
    id: str
    created_at: int
    level: str
    message: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def _retrying(call: Callable[[], T]) -> T:
    """A request-path call with a short backoff on 429/5xx/connection errors."""
    attempts = int(settings.AI_MAX_RETRIES) + 1
    cap = float(settings.AI_RETRY_AFTER_CAP)
    base = float(settings.AI_RETRY_BACKOFF_BASE)
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            error = classify(exc)
            if error.kind not in _RETRYABLE or attempt == attempts - 1:
                raise error from exc
            delay = error.retry_after if error.retry_after is not None else base * (2**attempt)
            time.sleep(min(cap, delay) * (0.5 + random.random() / 2))  # noqa: S311 - jitter
    raise AssertionError("unreachable")


def _provider_message(exc: BaseException) -> str:
    """The provider's own explanation of a rejected request (a bad file, an unknown model)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:1000]
    return str(exc)[:1000]


class FineTuningProvider:
    """One provider's fine-tuning API."""

    name = "openai"

    def __init__(self, client: Any) -> None:
        self.client = client

    def close(self) -> None:
        """Release the SDK's HTTP connections."""
        self.client.close()

    def _call(self, call: Callable[[], T], *, retry: bool) -> T:
        if retry:
            try:
                return _retrying(call)
            except ProviderError as failure:
                cause = failure.__cause__
                if failure.kind == "bad_request" and cause is not None:
                    raise ProviderError(_provider_message(cause), kind="bad_request") from cause
                raise
        try:
            return call()
        except Exception as exc:
            classified = classify(exc)
            if classified.kind == "bad_request":
                classified = ProviderError(_provider_message(exc), kind="bad_request")
            raise classified from exc

    def upload_file(self, *, filename: str, content: bytes, retry: bool = True) -> str:
        """Upload a JSONL file with ``purpose="fine-tune"``; its provider id."""
        uploaded = self._call(
            lambda: self.client.files.create(
                file=(filename, content, "application/jsonl"), purpose="fine-tune"
            ),
            retry=retry,
        )
        return str(uploaded.id)

    def delete_file(self, file_id: str) -> None:
        """Delete an uploaded file; one the provider no longer has counts as deleted."""
        try:
            self._call(lambda: self.client.files.delete(file_id), retry=True)
        except ProviderError as error:
            if error.kind != "not_found":
                raise

    def create_job(
        self,
        *,
        model: str,
        training_file: str,
        validation_file: str | None,
        hyperparameters: dict[str, Any],
        suffix: str | None,
        seed: int | None,
        retry: bool = True,
    ) -> FineTuneJobSnapshot:
        extra: dict[str, Any] = {}
        if validation_file:
            extra["validation_file"] = validation_file
        if hyperparameters:
            extra["hyperparameters"] = hyperparameters
        if suffix:
            extra["suffix"] = suffix
        if seed is not None:
            extra["seed"] = seed
        job = self._call(
            lambda: self.client.fine_tuning.jobs.create(
                model=model, training_file=training_file, **extra
            ),
            retry=retry,
        )
        return _snapshot(job)

    def retrieve_job(self, job_id: str) -> FineTuneJobSnapshot:
        # No immediate retries: the periodic sync backs off and tries again later.
        return _snapshot(
            self._call(lambda: self.client.fine_tuning.jobs.retrieve(job_id), retry=False)
        )

    def cancel_job(self, job_id: str) -> FineTuneJobSnapshot:
        return _snapshot(
            self._call(lambda: self.client.fine_tuning.jobs.cancel(job_id), retry=True)
        )

    def list_new_events(self, job_id: str, *, known: set[str]) -> list[FineTuneEventSnapshot]:
        """Events not in ``known``, oldest first: pages are read newest first and reading stops
        at the first known event (or after :data:`EVENT_PAGES_PER_SYNC` pages)."""
        found: list[FineTuneEventSnapshot] = []
        after: str | None = None
        for _ in range(EVENT_PAGES_PER_SYNC):
            kwargs: dict[str, Any] = {"limit": 100}
            if after:
                kwargs["after"] = after
            page: Any = self._call(
                lambda kwargs=kwargs: self.client.fine_tuning.jobs.list_events(  # type: ignore[misc]
                    job_id, **kwargs
                ),
                retry=False,
            )
            items = list(page.data)
            reached_known = False
            for item in items:
                if item.id in known:
                    reached_known = True
                    break
                found.append(_event(item))
            if reached_known or not items or not getattr(page, "has_more", False):
                break
            after = items[-1].id
        found.reverse()
        return found


class AzureFineTuningProvider(FineTuningProvider):
    name = "azure"


def _snapshot(job: Any) -> FineTuneJobSnapshot:
    error = getattr(job, "error", None)
    hyper = getattr(job, "hyperparameters", None)
    return FineTuneJobSnapshot(
        id=str(job.id),
        status=str(job.status),
        fine_tuned_model=job.fine_tuned_model or None,
        trained_tokens=job.trained_tokens,
        error_code=str(getattr(error, "code", "") or "") if error else "",
        error_message=str(getattr(error, "message", "") or "") if error else "",
        hyperparameters=hyper.model_dump(exclude_none=True) if hyper is not None else {},
    )


def _event(item: Any) -> FineTuneEventSnapshot:
    data = getattr(item, "data", None)
    return FineTuneEventSnapshot(
        id=str(item.id),
        created_at=int(item.created_at or 0),
        level=str(item.level or "info"),
        message=str(item.message or "")[:2000],
        type=str(getattr(item, "type", "") or "message"),
        data=data if isinstance(data, dict) else {},
    )


def fine_tuning_configured() -> bool:
    """Whether :func:`get_fine_tuning_provider` would return a provider (no client built)."""
    name = settings.AI_PROVIDER
    if name == "openai":
        return bool(settings.OPENAI_API_KEY)
    if name == "azure":
        return bool(settings.AZURE_OPENAI_ENDPOINT and settings.AZURE_OPENAI_API_KEY)
    return False


def get_fine_tuning_provider() -> FineTuningProvider | None:
    """The fine-tuning API of the configured provider, or ``None`` (the offline provider and
    an incompletely configured Azure cannot fine-tune)."""
    name = settings.AI_PROVIDER
    timeout = float(settings.AI_REQUEST_TIMEOUT)
    if name == "openai" and settings.OPENAI_API_KEY:
        return FineTuningProvider(
            openai.OpenAI(
                base_url=settings.OPENAI_BASE_URL or None,
                api_key=settings.OPENAI_API_KEY,
                timeout=timeout,
                max_retries=0,
            )
        )
    if name == "azure" and settings.AZURE_OPENAI_ENDPOINT and settings.AZURE_OPENAI_API_KEY:
        return AzureFineTuningProvider(
            openai.AzureOpenAI(
                azure_endpoint=settings.AZURE_OPENAI_ENDPOINT,
                api_key=settings.AZURE_OPENAI_API_KEY,
                api_version=settings.AZURE_OPENAI_API_VERSION,
                timeout=timeout,
                max_retries=0,
            )
        )
    return None
