from asgiref.sync import sync_to_async
from django.apps import AppConfig

from config.health import health_check_register


class AiConfig(AppConfig):
    name = "ai"
    verbose_name = "AI providers and generations"

    def ready(self) -> None:
        from ai import registry, user_data  # noqa: F401 - registry: its signal receivers
        from ai.health import provider_health, qdrant_health

        # /health/detailed reports what this app integrates (config.health imports no app).
        health_check_register("qdrant", sync_to_async(qdrant_health, thread_sensitive=False))
        health_check_register("ai_provider", provider_health)
        user_data.register()  # what deleting a user removes (or keeps) here: accounts.deletion
        # An organization's allowed models are checked against the platform's (tenants sits
        # below ai, so it is told where they come from).
        from ai.providers.limits import platform_chat_models
        from tenants.services import platform_models_register

        platform_models_register(platform_chat_models)
