"""Who may manage fine-tuning, and whether this server can: every door asks here first."""

from django.conf import settings

from ai.providers.finetuning import (
    ENABLING_SETTINGS,
    FineTuningProvider,
    fine_tuning_configured,
    get_fine_tuning_provider,
)
from config.exceptions import ApplicationError, PermissionDeniedError
from core import policies
from core.actor import Actor


class FineTuningUnavailableError(ApplicationError):
    status_code = 409
    default_code = "FINE_TUNING_UNAVAILABLE"
    default_detail = "This server cannot fine-tune models."


def fine_tuning_require_admin(actor: Actor) -> None:
    """Training spends the organization's budget on its data: owners and admins only."""
    if not policies.is_org_admin(actor):
        raise PermissionDeniedError(
            "Only owners and admins of the organization manage fine-tuning."
        )


def fine_tuning_unavailable() -> FineTuningUnavailableError:
    return FineTuningUnavailableError(
        f"The configured model provider ({settings.AI_PROVIDER}) cannot fine-tune. "
        f"Fine-tuning needs {ENABLING_SETTINGS}.",
        details={
            "provider": settings.AI_PROVIDER,
            "settings": [
                "AI_PROVIDER",
                "OPENAI_API_KEY",
                "OPENAI_BASE_URL",
                "AZURE_OPENAI_ENDPOINT",
                "AZURE_OPENAI_API_KEY",
                "FINETUNING_MODELS",
            ],
        },
    )


def fine_tuning_require_available() -> None:
    """The 409 when the configured provider cannot fine-tune (the offline provider)."""
    if not fine_tuning_configured() or not [m for m in settings.FINETUNING_MODELS if m]:
        raise fine_tuning_unavailable()


def fine_tuning_provider() -> FineTuningProvider:
    """The provider's fine-tuning API (close it after use), or the 409."""
    provider = get_fine_tuning_provider()
    if provider is None:
        raise fine_tuning_unavailable()
    return provider
