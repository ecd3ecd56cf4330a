"""Model providers: ``get_provider()`` returns the one configured by ``AI_PROVIDER``."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ai.providers.base import (
    ChatResult,
    EmbeddingResult,
    ModelProvider,
    PromptMessage,
    ProviderError,
    Sampling,
    StreamDelta,
    StreamEnd,
    Usage,
)
from ops.flags import flag_enabled

__all__ = [
    "ChatResult",
    "EmbeddingResult",
    "ModelProvider",
    "PromptMessage",
    "ProviderError",
    "Sampling",
    "StreamDelta",
    "StreamEnd",
    "Usage",
    "ensure_provider_allowed",
    "get_provider",
]


def ensure_provider_allowed(provider: ModelProvider) -> None:
    """Raise ``ProviderError(kind="provider_disabled")`` when the ``offline_provider_allowed``
    flag forbids ``provider`` from answering chat messages.

    Administrators may forbid the canned offline answers on a deployment that must only answer
    with a real model (e.g. while credentials are being fixed).
    """
    if provider.name == "offline" and not flag_enabled("offline_provider_allowed"):
        raise ProviderError(
            "The offline model provider is disabled on this server.", kind="provider_disabled"
        )


def get_provider(*, pooled: bool = False) -> ModelProvider:
    """A fresh provider for the configured backend (settings are read on every call).

    ``pooled=True`` shares the SDK's HTTP client with everything else on the running event
    loop (for long-lived loops such as the ASGI server's); otherwise the client is private
    and ``await provider.aclose()`` releases it.
    """
    name = settings.AI_PROVIDER
    if name == "offline":
        from ai.providers.offline import OfflineProvider

        return OfflineProvider(dimensions=int(settings.OFFLINE_EMBEDDING_DIMENSIONS))
    if name == "openai":
        from ai.providers.openai_compat.provider import OpenAICompatibleProvider

        return OpenAICompatibleProvider(
            base_url=settings.OPENAI_BASE_URL or None,
            api_key=settings.OPENAI_API_KEY,
            chat_model=settings.OPENAI_CHAT_MODEL,
            embedding_model=settings.OPENAI_EMBEDDING_MODEL,
            embedding_dimensions=settings.AI_EMBEDDING_DIMENSIONS,
            pooled=pooled,
        )
    if name == "azure":
        from ai.providers.openai_compat.azure import AzureOpenAIProvider

        if not (settings.AZURE_OPENAI_ENDPOINT and settings.AZURE_OPENAI_API_KEY):
            raise ImproperlyConfigured("AI_PROVIDER=azure needs AZURE_OPENAI_ENDPOINT and _KEY.")
        return AzureOpenAIProvider(
            endpoint=settings.AZURE_OPENAI_ENDPOINT,
            api_key=settings.AZURE_OPENAI_API_KEY,
            api_version=settings.AZURE_OPENAI_API_VERSION,
            chat_deployment=settings.AZURE_OPENAI_CHAT_DEPLOYMENT,
            embedding_deployment=settings.AZURE_OPENAI_EMBEDDING_DEPLOYMENT,
            embedding_dimensions=settings.AI_EMBEDDING_DIMENSIONS,
            pooled=pooled,
        )
    raise ImproperlyConfigured(f"Unknown AI_PROVIDER {name!r} (azure, openai or offline).")
