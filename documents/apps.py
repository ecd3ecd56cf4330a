from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self) -> None:
        from documents import signals, user_data

        signals.connect()
        user_data.register()  # what deleting a user removes here: accounts.deletion
