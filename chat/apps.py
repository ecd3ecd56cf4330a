from django.apps import AppConfig

from ops.selectors import platform_stats_register


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from chat import organization_data, user_data
        from chat.selectors import chat_stats

        platform_stats_register("chat", chat_stats)
        user_data.register()  # what deleting a user removes here (accounts.deletion)
        organization_data.register()  # what deleting an organization removes (tenants.deletion)
