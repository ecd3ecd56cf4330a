from django.apps import AppConfig

from ops.selectors import platform_stats_register


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Documents"

    def ready(self) -> None:
        from documents import organization_data, signals, user_data
        from documents.selectors import document_stats

        signals.connect()
        platform_stats_register("documents", document_stats)
        user_data.register()  # what deleting a user removes here: accounts.deletion
        organization_data.register()  # what deleting an organization removes (tenants.deletion)
