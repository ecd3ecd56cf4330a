"""Metering: one ``UsageRecord`` per model call.

Everything that calls a model goes through :func:`usage_record_create`, so the quota layer
(a later issue) has a single place to wrap.
"""

import uuid
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from ai.providers.base import Usage
from config.exceptions import current_request_id
from core.tenancy import current_organization_id
from metering.models import UsageKind, UsageRecord


def usage_record_create(
    *,
    user: AbstractBaseUser | int | None,
    organization_id: Any,
    kind: str,
    provider: str,
    model: str,
    usage: Usage,
    latency_ms: int,
    message_id: int | None = None,
    document_id: uuid.UUID | str | None = None,
    request_id: str | None = None,
) -> UsageRecord:
    """Record one model call (tokens as reported, or estimated when the provider gave none).

    ``organization_id``: where the call was made (the actor's organization, a document's);
    the organization's usage report counts it there (``None``: the current organization)."""
    if kind not in UsageKind.values:
        raise ValueError(f"unknown usage kind {kind!r}")
    # None: a user who has been deleted since (training metered when a job ends).
    user_id = user if user is None or isinstance(user, int) else user.pk
    return UsageRecord.objects.create(
        user_id=user_id,
        organization_id=(
            organization_id if organization_id is not None else current_organization_id()
        ),
        kind=kind,
        provider=provider[:32],
        model=model[:128],
        prompt_tokens=max(0, usage.prompt_tokens),
        completion_tokens=max(0, usage.completion_tokens),
        total_tokens=max(0, usage.total_tokens),
        latency_ms=max(0, int(latency_ms)),
        message_id=message_id,
        document_id=document_id,
        request_id=(request_id if request_id is not None else current_request_id())[:128],
    )
