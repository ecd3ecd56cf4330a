"""Guards shared by every provider: the model allow-list and the ``max_tokens`` cap."""

from django.conf import settings

from ai.providers.base import ProviderError


def allowed_models(*, default: str) -> list[str]:
    """``AI_ALLOWED_MODELS`` when set, else just the configured chat model."""
    configured = [m for m in settings.AI_ALLOWED_MODELS if m]
    return configured or [default]


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
