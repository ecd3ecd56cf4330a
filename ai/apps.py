from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "ai"
    verbose_name = "AI, documents and usage"

    def ready(self) -> None:
        from ai import user_data

        user_data.register()  # what deleting a user removes here (accounts.deletion)
