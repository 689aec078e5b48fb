from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.conf import settings
from django.contrib.admin.apps import SimpleAdminConfig
from django.core.signals import got_request_exception

from console.platform import observability


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Requests that end in an unhandled exception (a 500) count in the Errors metric.
        got_request_exception.connect(observability.count_request_error, dispatch_uid="observability-errors")


class ConsoleAdminConfig(SimpleAdminConfig):
    """The Django admin, with the operations console as its default site.

    The apps' ``admin`` modules (and all they import) are found when the console's URLs
    load (``console/pages/urls.py``). On Lambda that is the first console request, so a
    cold start that serves the REST API never imports them; elsewhere (servers, workers,
    management commands, tests) they are found at start, as Django usually does, so the
    admin's system checks see every registration.
    """

    default_site = "console.pages.sites.ConsoleAdminSite"

    def ready(self) -> None:
        super().ready()
        if not settings.ON_LAMBDA:
            self.module.autodiscover()


# Third-party apps show in the console's app list and breadcrumbs under their package's name
# ("Axes", "Knox"), which tells an operator nothing: these say what their pages hold.
class AxesConfig(AxesAppConfig):
    verbose_name = "Sign-in attempts and lockouts"


class KnoxConfig(AppConfig):
    name = "knox"
    verbose_name = "API tokens"
