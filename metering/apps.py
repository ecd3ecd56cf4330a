from django.apps import AppConfig

from ops.selectors import platform_stats_register


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Usage and quotas"

    def ready(self) -> None:
        from metering import user_data
        from metering.selectors import usage_stats

        platform_stats_register("metering", usage_stats)
        user_data.register()  # what deleting a user removes (or keeps) here: accounts.deletion
