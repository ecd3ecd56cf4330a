from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Usage and quotas"

    def ready(self) -> None:
        from metering import user_data

        user_data.register()  # what deleting a user removes (or keeps) here: accounts.deletion
