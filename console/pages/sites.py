from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.urls import path, re_path

from console.api.rest import not_found_view
from console.models import AuditEntry
from console.pages.dashboard import charts_for, my_recent_actions, panels_for
from console.platform.audit import audit_record
from console.platform.roles import API_CLIENT


class ConsoleAuthenticationForm(AdminAuthenticationForm):
    """The console login refuses API clients (REST only), even ones marked as staff."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if user.groups.filter(name=API_CLIENT).exists():
            raise ValidationError(
                "This is an API client account: it uses the REST API with a token, not the console.",
                code="api_client",
            )


class ConsoleAdminSite(admin.AdminSite):
    """The operations console: the Django admin for staff (operators, support, admins).
    API clients are not staff and cannot log in here."""

    site_header = "Operations console"
    site_title = "Ops console"
    index_title = "Orders, approvals and operations"
    login_form = ConsoleAuthenticationForm
    # The console is the site (it serves the root): a "View site" link would lead back here.
    site_url = None

    # API clients never use the console.
    def has_permission(self, request) -> bool:
        """Staff only, and never an API client: even marked as staff by mistake, a user in
        the api-client role uses the REST API only."""
        if not super().has_permission(request):
            return False
        user = request.user
        if not hasattr(user, "_is_api_client"):
            user._is_api_client = user.groups.filter(name=API_CLIENT).exists()
        return not user._is_api_client

    def get_urls(self):
        """The console serves the site root, so its catch-all (which sends visitors to the
        login page) would also take unknown API paths: those get the API's 404 instead."""
        from console.platform import two_factor  # lazy: cold start (loaded with the console's pages, not by the API)

        return [
            re_path(r"^api/", not_found_view, name="api-not-found"),
            # The user's own second factor, and its code after the password (console.platform.two_factor).
            path("account/two-factor/", self.admin_view(two_factor.setup_view), name="two_factor"),
            path("account/two-factor/verify/", self.admin_view(two_factor.verify_view), name="two_factor_verify"),
            *super().get_urls(),
        ]

    def password_change(self, request, extra_context=None):
        """A user changing their own password is audited like any other change (never the
        password itself)."""
        response = super().password_change(request, extra_context)
        if request.method == "POST" and response.status_code == 302:
            audit_record(
                action="auth.user.password_change",
                obj=request.user,
                actor=request.user,
                source=AuditEntry.Source.CONSOLE,
                after={"password": "(changed)"},
            )
        return response

    # The home page: the dashboard's panels (console/pages/dashboard.py) above the app list.
    index_template = "console/index.html"

    def index(self, request, extra_context=None):
        context = {
            "dashboard_panels": panels_for(request),
            "dashboard_charts": charts_for(request),
            "my_actions": my_recent_actions(request),
        }
        return super().index(request, {**(extra_context or {}), **context})
