from django.apps import AppConfig

from ops.selectors import platform_stats_register


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401 - registers the OpenAPI auth extension
        from accounts.selectors import user_stats

        platform_stats_register("accounts", user_stats)
