"""Guards shared by every provider: the model allow-list and the ``max_tokens`` cap."""

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


def cap_max_tokens(requested: int | None) -> int:
    """At most ``AI_MAX_TOKENS`` completion tokens, whatever a caller asks for."""
    cap = int(settings.AI_MAX_TOKENS)
    if requested is None or requested <= 0:
        return cap
    return min(int(requested), cap)
