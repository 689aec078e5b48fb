from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import got_request_exception

        from console import observability
        from console import schema as _schema  # noqa: F401  (registers the bearer scheme with drf-spectacular)

        # Requests that end in an unhandled exception (a 500) count in the Errors metric.
        got_request_exception.connect(observability.count_request_error, dispatch_uid="observability-errors")


class ConsoleAdminConfig(AdminConfig):
    """The Django admin, with the operations console as its default site."""

    default_site = "console.sites.ConsoleAdminSite"
