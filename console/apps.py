from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"


class ConsoleAdminConfig(AdminConfig):
    """The Django admin, with the operations console as its default site."""

    default_site = "console.sites.ConsoleAdminSite"
