from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox import admin as knox_admin
from knox.models import AuthToken

from console.models import AuditEntry
from console.pages.change_audit import AuditedModelAdmin
from console.pages.readonly import ReadOnlyAdminMixin
from console.pages.user_links import UserLinksMixin
from console.platform import privileges, two_factor
from console.platform.audit import audited_ref
from console.platform.counts import EstimatedCountPaginator


class AuditActionFilter(admin.SimpleListFilter):
    """Actions by family (``order.``, ``approval.``, ...): fixed choices, so the filter
    does not scan the log for its distinct values. A family is one or more action
    prefixes; its value in the query string is its first (links keep working)."""

    title = "action"
    parameter_name = "action_family"
    FAMILIES = [
        ("order.", "Orders", ("order.", "orders.")),
        ("approval.", "Approvals", ("approval.",)),
        ("execution.", "Workflow executions", ("execution.", "saga.")),
        ("dlq.", "Dead letters and redrives", ("dlq.",)),
        ("alarm.", "Alarms", ("alarm.", "ops.alarm.")),
        ("import.", "Order CSV imports", ("import.",)),
        ("media.", "Media and uploads", ("media.", "upload.")),
        ("auth.", "Users and groups", ("auth.",)),
        ("knox.", "API tokens", ("knox.",)),
        ("axes.", "Login lockouts", ("axes.",)),
    ]

    def lookups(self, request, model_admin):
        return [(value, label) for value, label, _ in self.FAMILIES]

    def queryset(self, request, queryset):
        prefixes = next((prefixes for value, _, prefixes in self.FAMILIES if value == self.value()), None)
        if prefixes is None:
            return queryset
        matches = Q()
        for prefix in prefixes:
            matches |= Q(action__startswith=prefix)
        return queryset.filter(matches)


class AuditWhoFilter(admin.SimpleListFilter):
    """People's actions, the system's, or all. People by default: the system's own status
    changes (imports finishing, redrives ending, workflows moving orders) outnumber what
    people do many times over. A search (a request id, an object id) looks at everything
    unless a choice is made."""

    title = "who"
    parameter_name = "who"
    PEOPLE, SYSTEM, ALL = "people", "system", "all"

    def lookups(self, request, model_admin):
        return [(self.PEOPLE, "People"), (self.SYSTEM, "System"), (self.ALL, "All")]

    @classmethod
    def current(cls, query) -> str:
        """The choice in effect for a request's query string."""
        value = query.get(cls.parameter_name)
        if value in {cls.PEOPLE, cls.SYSTEM, cls.ALL}:
            return value
        return cls.ALL if query.get("q") else cls.PEOPLE

    def choices(self, changelist):
        current = self.current(self.request.GET)
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        current = self.current(request.GET)
        if current == self.PEOPLE:
            return queryset.exclude(actor_name="")
        if current == self.SYSTEM:
            return queryset.filter(actor_name="")
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(UserLinksMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["when", "actor_name", "source", "action", "target", "reason_short", "request_id"]
    list_filter = [AuditWhoFilter, "source", AuditActionFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=object_id", "=actor_name", "=request_id", "=action"]
    search_help_text = "An object id, a user name, a request id or an action (exact)."
    list_select_related = False
    # The log grows with every change: estimated counts, no full COUNT(*), no date drill-down scan.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    change_list_template = "admin/console/auditentry/change_list.html"

    def changelist_view(self, request, extra_context=None):
        # Which entries the list shows, said above it: the default hides the system's.
        extra = {
            "audit_who": AuditWhoFilter.current(request.GET),
            "audit_who_all_url": _query_with(request, who=AuditWhoFilter.ALL),
            "audit_who_people_url": _query_with(request, who=AuditWhoFilter.PEOPLE),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    @admin.display(description="When (UTC)", ordering="created_at")
    def when(self, entry: AuditEntry) -> str:
        # To the second: entries of one action often fall in the same minute.
        return format_html(
            '<time datetime="{}">{}</time>',
            entry.created_at.isoformat(),
            entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )

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
        return format_html('<span title="{}">{}</span>', entry.reason, Truncator(entry.reason).chars(120) or "-")

    # Append-only: nobody adds, edits or deletes entries through the console.


def _query_with(request, **params: str) -> str:
    query = request.GET.copy()
    for name, value in params.items():
        query[name] = value
    query.pop("p", None)
    return "?" + query.urlencode()


# --- Users, groups, API tokens and login lockouts: audited, privileges checked ------------
# django-otp's device admin shows secrets and QR codes: users manage their own second
# factor (console.platform.two_factor), and an admin removes a lost one from the user's page.
for _model in (get_user_model(), Group, AuthToken, TOTPDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class PrivilegeCheckedForm:
    """Mixed into the user and group forms: refuses, as a form error, a save that would
    give what the actor may not give (``console.platform.access``). The admin checks again after
    saving, inside the same transaction (``_refuse_unless_allowed``)."""

    actor = None  # set on the class the admin builds for each request

    def clean(self):
        cleaned = super().clean()
        if refusal := self.privilege_refusal(cleaned):
            raise ValidationError(refusal, code="privilege")
        return cleaned


class UserPrivilegeForm(PrivilegeCheckedForm):
    def privilege_refusal(self, cleaned: dict) -> str | None:
        target = self.instance
        before = privileges.Privileges.of(target)
        after = privileges.Privileges(
            is_superuser=cleaned.get("is_superuser", before.is_superuser),
            is_staff=cleaned.get("is_staff", before.is_staff),
            is_active=cleaned.get("is_active", before.is_active),
            group_ids=frozenset(g.pk for g in cleaned["groups"]) if "groups" in cleaned else before.group_ids,
            permission_ids=frozenset(p.pk for p in cleaned["user_permissions"])
            if "user_permissions" in cleaned
            else before.permission_ids,
        )
        return privileges.user_grant_refusal(actor=self.actor, target=target, before=before, after=after)


class GroupPrivilegeForm(PrivilegeCheckedForm):
    def privilege_refusal(self, cleaned: dict) -> str | None:
        if "permissions" not in cleaned:
            return None
        current = set(self.instance.permissions.all()) if self.instance.pk else set()
        added = [p for p in cleaned["permissions"] if p not in current]
        return privileges.permissions_grant_refusal(actor=self.actor, names=privileges.permission_names(added))


class PrivilegeCheckedAdmin(AuditedModelAdmin):
    """Shared by the user and group pages: the form refuses what the actor may not give,
    and whatever reaches the database is checked again before the transaction commits."""

    privilege_form: type

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (self.privilege_form, form), {"actor": request.user})

    def _refuse(self, refusal: str | None) -> None:
        if refusal:
            raise PermissionDenied(refusal)

    def log_deletions(self, request, queryset):
        # Called before anything is deleted (the bulk action is not one transaction).
        objects = list(queryset)
        for obj in objects:
            if not self.has_delete_permission(request, obj):
                raise PermissionDenied
        return super().log_deletions(request, objects)

    def delete_model(self, request, obj):
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            if not self.has_delete_permission(request, obj):
                raise PermissionDenied
        super().delete_queryset(request, queryset)


@admin.register(get_user_model())
class AuditedUserAdmin(PrivilegeCheckedAdmin, auth_admin.UserAdmin):
    """Users. Nobody gives a flag, group or permission they do not hold; only a superuser
    changes, resets the password of, or deletes a superuser or another admin; nobody but a
    superuser changes their own privileges (``console.platform.access``)."""

    privilege_form = UserPrivilegeForm
    PRIVILEGE_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")

    def _change_refusal(self, request, obj) -> str | None:
        # Asked several times per page: answered once per request and user.
        if obj is None or obj.pk is None:
            return None
        memo = request.__dict__.setdefault("_user_change_refusals", {})
        if obj.pk not in memo:
            memo[obj.pk] = privileges.user_change_refusal(actor=request.user, target=obj)
        return memo[obj.pk]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not self._change_refusal(request, obj)

    def has_delete_permission(self, request, obj=None):
        if not super().has_delete_permission(request, obj):
            return False
        if obj is not None and obj.pk == request.user.pk and not request.user.is_superuser:
            return False
        return not self._change_refusal(request, obj)

    def _privilege_readonly_fields(self, request, obj) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if request.user.is_superuser or obj is None:
            return fields
        if obj.pk == request.user.pk:
            return [*fields, *self.PRIVILEGE_FIELDS]
        return [*fields, "is_superuser"]

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if request is None or request.user.is_superuser or field is None:
            return field
        # Offered: what the actor may give, and whatever the user already has (so that
        # saving never drops it unseen); anything else posted is not a valid choice.
        target_id = _object_id(request)
        kept = Q(user__pk=target_id) if target_id else Q(pk__in=[])
        if db_field.name == "groups":
            grantable = [
                group.pk
                for group in field.queryset.prefetch_related("permissions")
                if not privileges.group_grant_refusal(actor=request.user, group=group)
            ]
            field.queryset = field.queryset.filter(Q(pk__in=grantable) | kept).distinct()
        elif db_field.name == "user_permissions":
            field.queryset = _grantable_permissions(field.queryset, request.user, kept)
        return field

    def save_model(self, request, obj, form, change):
        request._privileges_before = privileges.Privileges.of(obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = getattr(request, "_privileges_before", privileges.Privileges.of(None))
        self._refuse(
            privileges.user_grant_refusal(
                actor=request.user, target=obj, before=before, after=privileges.Privileges.of(obj)
            )
        )

    def get_urls(self):
        return [
            path(
                "<id>/two-factor/remove/",
                self.admin_site.admin_view(self.two_factor_remove_view),
                name="auth_user_two_factor_remove",
            ),
            *super().get_urls(),
        ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, ("Two-factor authentication", {"fields": ["two_factor"]})]

    def get_readonly_fields(self, request, obj=None):
        fields = self._privilege_readonly_fields(request, obj)
        return fields if obj is None else [*fields, "two_factor"]

    @admin.display(description="Authenticator app")
    def two_factor(self, user) -> str:
        device = two_factor.confirmed_device(user)
        if device is None:
            return "Off"
        # Posts the page's own form (and its CSRF token) to the removal URL.
        return format_html(
            'On since {} <button type="submit" class="button" formaction="{}" formnovalidate>Remove</button>',
            device.created_at.strftime("%Y-%m-%d"),
            reverse("admin:auth_user_two_factor_remove", args=[user.pk]),
        )

    def two_factor_remove_view(self, request, id):
        """POST: removes the user's authenticator (a lost phone). Whoever may change the
        user may do it; audited."""
        user = self.get_object(request, id)
        if user is None:
            raise Http404
        if request.method != "POST" or not self.has_change_permission(request, user):
            raise PermissionDenied
        if two_factor.two_factor_remove(actor=request.user, user=user, reason="Removed from the user's page"):
            self.message_user(request, f"{user.get_username()}'s second factor was removed.")
        return redirect("admin:auth_user_change", user.pk)

    def user_change_password(self, request, id, form_url=""):
        # One's own password is changed where the current one is asked for.
        if str(request.user.pk) == str(id) and not request.user.is_superuser:
            return redirect("admin:password_change")
        return super().user_change_password(request, id, form_url)


def _object_id(request) -> str | None:
    """The object a change page is about (None on an add page)."""
    match = getattr(request, "resolver_match", None)
    return match.kwargs.get("object_id") if match else None


def _grantable_permissions(queryset, actor, keep: Q):
    held = actor.get_all_permissions() - privileges.USER_MANAGEMENT_PERMISSIONS
    allowed = Q(pk__in=[])
    for name in held:
        app_label, codename = name.split(".", 1)
        allowed |= Q(content_type__app_label=app_label, codename=codename)
    return queryset.filter(allowed | keep).distinct()


@admin.register(Group)
class AuditedGroupAdmin(PrivilegeCheckedAdmin, auth_admin.GroupAdmin):
    """Groups: a group gets only permissions its editor holds; a group that makes admins,
    or has admins or its editor among its members, is a superuser's to change."""

    privilege_form = GroupPrivilegeForm

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not privileges.group_change_refusal(
            actor=request.user, group=obj
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not privileges.group_change_refusal(
            actor=request.user, group=obj
        )

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if request is None or request.user.is_superuser or field is None or db_field.name != "permissions":
            return field
        group_id = _object_id(request)
        kept = Q(group__pk=group_id) if group_id else Q(pk__in=[])
        field.queryset = _grantable_permissions(field.queryset, request.user, kept)
        return field

    def save_model(self, request, obj, form, change):
        request._group_permissions_before = set(obj.permissions.values_list("pk", flat=True)) if obj.pk else set()
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        from django.contrib.auth.models import Permission

        before = getattr(request, "_group_permissions_before", set())
        added = Permission.objects.filter(group=form.instance).exclude(pk__in=before)
        self._refuse(privileges.permissions_grant_refusal(actor=request.user, names=privileges.permission_names(added)))


@admin.register(AuthToken)
class AuditedAuthTokenAdmin(ReadOnlyAdminMixin, AuditedModelAdmin, knox_admin.AuthTokenAdmin):
    """API tokens: admins see and revoke them; tokens are issued with ``manage.py issue_token``."""

    list_display = ["token_key", "user", "created", "expiry"]
    search_fields = ["=token_key", "=user__username"]
    deletable = True


@admin.register(AccessAttempt)
class LoginLockoutAdmin(ReadOnlyAdminMixin, AuditedModelAdmin):
    """Failed console logins (django-axes). Deleting a row lifts that lockout."""

    list_display = ["attempt_time", "username", "ip_address", "failures_since_start", "locked_out"]
    list_filter = [("attempt_time", admin.DateFieldListFilter)]
    search_fields = ["=username", "=ip_address"]
    ordering = ["-attempt_time"]
    fields = ["username", "ip_address", "user_agent", "path_info", "attempt_time", "failures_since_start"]
    readonly_fields = fields
    deletable = True

    @admin.display(boolean=True, description="Locked out")
    def locked_out(self, attempt: AccessAttempt) -> bool:
        from django.conf import settings

        return attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT
