"""The admin app with the product's console site as ``admin.site`` (see accounts.admin_site)."""

from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.ConsoleAdminSite"
