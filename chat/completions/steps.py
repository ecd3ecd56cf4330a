"""The steps every model call shares: who may call, which model, the quota, the metering."""

from collections.abc import Sequence

from django.db import transaction

from accounts.models import User
from ai.metrics import generation_observe
from ai.providers import (
    ModelProvider,
    PromptMessage,
    Usage,
    ensure_provider_allowed,
    get_provider,
)
from ai.providers.limits import cap_max_tokens, check_model_allowed
from ai.providers.tokens import count_message_tokens
from config.exceptions import PermissionDeniedError
from core import policies
from core.actor import Actor
from metering.models import UsageKind
from metering.quotas import quota_release, quota_reserve, quota_settle
from metering.usage import usage_record_create


def generation_require_writer(actor: Actor) -> None:
    """Model calls spend the budget: viewers may read but not generate."""
    if not policies.can_write(actor):
        raise PermissionDeniedError("Your role (viewer) can read but not call models.")


def generation_model_resolve(*, model: str | None, pooled: bool) -> tuple[ModelProvider, str]:
    """The provider and the chat model to use, or ``ProviderError`` (disabled, not allowed).

    ``pooled``: the call runs on the server's long-lived loop and shares its connection pool.
    """
    provider = get_provider(pooled=pooled)
    ensure_provider_allowed(provider)
    return provider, check_model_allowed(model or provider.chat_model, default=provider.chat_model)


def generation_estimate(prompt: Sequence[PromptMessage], *, max_tokens: int | None = None) -> int:
    """Tokens to reserve: the prompt plus the largest answer the provider may produce."""
    return count_message_tokens(prompt) + cap_max_tokens(max_tokens)


def generation_reserve(
    *, user: User, prompt: Sequence[PromptMessage], max_tokens: int | None = None, count: int = 1
) -> int:
    """Reserve the quota for ``count`` calls of ``prompt`` (429 ``QUOTA_EXCEEDED`` if no room)."""
    return quota_reserve(
        user=user, estimate=generation_estimate(prompt, max_tokens=max_tokens) * count
    )


def generation_meter(
    *,
    user_id: int,
    reservation_id: int | None,
    charge: bool,
    provider: str,
    model: str,
    usage: Usage,
    latency_ms: int,
    ttft_ms: int | None,
    error_kind: str | None = None,
    kind: str = UsageKind.CHAT,
    message_id: int | None = None,
    request_id: str | None = None,
) -> None:
    """Settle the reservation (``charge``: the tokens used; else released) and record usage.

    One transaction (a savepoint inside the caller's): the budget and the usage record never
    disagree. Cancelled and incomplete answers are charged for what was produced.
    """
    with transaction.atomic():
        if charge:
            quota_settle(reservation_id=reservation_id, tokens=usage.total_tokens)
        else:
            quota_release(reservation_id=reservation_id)
        usage_record_create(
            user=user_id,
            kind=kind,
            provider=provider,
            model=model,
            usage=usage,
            latency_ms=latency_ms,
            message_id=message_id,
            request_id=request_id,
        )
    generation_observe(
        provider=provider,
        ttft_ms=ttft_ms,
        latency_ms=latency_ms,
        completion_tokens=usage.completion_tokens,
        error_kind=error_kind,
    )
