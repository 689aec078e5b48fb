from django.contrib import admin
from django.utils.html import format_html
from django.utils.text import Truncator

from console.audit import audited_ref
from console.counts import EstimatedCountPaginator
from console.models import AuditEntry


class AuditActionFilter(admin.SimpleListFilter):
    """Actions by family (``order.``, ``approval.``, ...): fixed choices, so the filter
    does not scan the log for its distinct values."""

    title = "action"
    parameter_name = "action_family"
    FAMILIES = [
        ("order.", "Orders"),
        ("approval.", "Approvals"),
        ("auth.", "Users and groups"),
        ("knox.", "API tokens"),
        ("axes.", "Login lockouts"),
    ]

    def lookups(self, request, model_admin):
        return self.FAMILIES

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=self.value())
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_name", "source", "action", "target", "reason_short", "request_id"]
    list_filter = ["source", AuditActionFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=object_id", "=actor_name", "=request_id", "=action"]
    search_help_text = "An object id, a user name, a request id or an action (exact)."
    list_select_related = False
    # The log grows with every change: estimated counts, no full COUNT(*), no date drill-down scan.
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="Object")
    def target(self, entry: AuditEntry) -> str:
        return f"{entry.object_type} {entry.object_id}"  # stands in for get_list_display's column

    def get_list_display(self, request):
        @admin.display(description="Object")
        def target(entry: AuditEntry) -> str:
            # "Order 109b1172", linked to its page for those who may see it; the whole id on hover.
            name, url = audited_ref(request.user, entry.object_type, entry.object_id)
            if url:
                return format_html('<a href="{}" title="{}">{}</a>', url, entry.object_id, name)
            return format_html('<span title="{}">{}</span>', entry.object_id, name)

        return [target if column == "target" else column for column in self.list_display]

    @admin.display(description="Reason")
    def reason_short(self, entry: AuditEntry) -> str:
        return Truncator(entry.reason).chars(120) or "-"

    # Append-only: nobody adds, edits or deletes entries through the console.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Orders at production depth: audited user, group, token and lockout pages ------------
from axes.models import AccessAttempt  # noqa: E402
from django.contrib.auth import admin as auth_admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from knox import admin as knox_admin  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from console.admin_audit import AuditedModelAdmin  # noqa: E402

for _model in (get_user_model(), Group, AuthToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(get_user_model())
class AuditedUserAdmin(AuditedModelAdmin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class AuditedGroupAdmin(AuditedModelAdmin, auth_admin.GroupAdmin):
    pass


@admin.register(AuthToken)
class AuditedAuthTokenAdmin(AuditedModelAdmin, knox_admin.AuthTokenAdmin):
    """API tokens: admins see and revoke them; tokens are issued with ``manage.py issue_token``."""

    list_display = ["token_key", "user", "created", "expiry"]
    search_fields = ["=token_key", "=user__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AccessAttempt)
class LoginLockoutAdmin(AuditedModelAdmin):
    """Failed console logins (django-axes). Deleting a row lifts that lockout."""

    list_display = ["attempt_time", "username", "ip_address", "failures_since_start", "locked_out"]
    list_filter = [("attempt_time", admin.DateFieldListFilter)]
    search_fields = ["=username", "=ip_address"]
    ordering = ["-attempt_time"]
    fields = ["username", "ip_address", "user_agent", "path_info", "attempt_time", "failures_since_start"]
    readonly_fields = fields

    @admin.display(boolean=True, description="Locked out")
    def locked_out(self, attempt: AccessAttempt) -> bool:
        from django.conf import settings

        return attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
