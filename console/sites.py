from django.contrib import admin


class ConsoleAdminSite(admin.AdminSite):
    """The operations console: the Django admin for staff (operators, support, admins).
    API clients are not staff and cannot log in here."""

    site_header = "Operations console"
    site_title = "Ops console"
    index_title = "Orders, approvals and operations"
