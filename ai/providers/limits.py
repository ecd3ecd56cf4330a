"""Guards shared by every provider: the model allow-list and the ``max_tokens`` cap."""

from typing import Any

from django.conf import settings

from ai.providers.base import ProviderError
from core.tenancy import current_organization_id


def allowed_models(*, default: str) -> list[str]:
    """``AI_ALLOWED_MODELS`` when set, else just the configured chat model; then the current
    organization's own models on the configured provider (its fine-tuned models)."""
    # Imported here: providers load before the app registry (ai.registry reads a model).
    from ai.registry import organization_model_ids

    configured = [m for m in settings.AI_ALLOWED_MODELS if m] or [default]
    own = organization_model_ids(
        organization_id=current_organization_id(), provider=settings.AI_PROVIDER
    )
    return configured + [m for m in own if m not in configured]


def check_model_allowed(model: str, *, default: str) -> str:
    """Return ``model`` when it may be used; the configured default is always allowed."""
    if model == default or model in allowed_models(default=default):
        return model
    raise ProviderError(f"The model {model!r} is not allowed.", kind="model_not_allowed")


def platform_chat_models() -> list[str]:
    """Every chat model the platform allows: the configured one and ``AI_ALLOWED_MODELS``."""
    from ai.providers import get_provider

    default = get_provider().chat_model
    models = allowed_models(default=default)
    return models if default in models else [default, *models]


def organization_models(*, default: str, organization: Any = None) -> tuple[list[str], str]:
    """The chat models an organization may use and its default model: the platform's
    allow-list narrowed to the organization's ``allowed_models`` (empty: no narrowing). The
    platform's default stays the default when the organization allows it, else its first
    allowed model. A list that names no model the platform still allows (the operator
    changed ``AI_ALLOWED_MODELS`` since) falls back to the platform's default alone."""
    platform = allowed_models(default=default)
    if default not in platform:
        platform = [default, *platform]
    wanted = [m for m in (getattr(organization, "allowed_models", None) or []) if m]
    if not wanted:
        return platform, default
    narrowed = [m for m in platform if m in wanted]
    if not narrowed:
        return [default], default
    return narrowed, default if default in narrowed else narrowed[0]


def check_organization_model(model: str | None, *, default: str, organization: Any = None) -> str:
    """The model to use for ``organization`` (its default when ``model`` is empty), or
    ``ProviderError`` (``model_not_allowed``) when the organization or the platform forbids
    it."""
    models, organization_default = organization_models(default=default, organization=organization)
    chosen = model or organization_default
    if chosen not in models:
        raise ProviderError(f"The model {chosen!r} is not allowed.", kind="model_not_allowed")
    return check_model_allowed(chosen, default=default)


def cap_max_tokens(requested: int | None) -> int:
    """At most ``AI_MAX_TOKENS`` completion tokens, whatever a caller asks for."""
    cap = int(settings.AI_MAX_TOKENS)
    if requested is None or requested <= 0:
        return cap
    return min(int(requested), cap)
