from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from chat import user_data

        user_data.register()  # what deleting a user removes here (accounts.deletion)
