from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import schema  # noqa: F401  (registers the bearer scheme with drf-spectacular)


class ConsoleAdminConfig(AdminConfig):
    """The Django admin, with the operations console as its default site."""

    default_site = "console.sites.ConsoleAdminSite"
