from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "ai"
    verbose_name = "AI providers and generations"

    def ready(self) -> None:
        from ai import user_data

        user_data.register()  # what deleting a user removes (or keeps) here: accounts.deletion
