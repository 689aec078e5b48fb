"""The list filters of the approvals inbox and the executions list."""

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from console.pages.filters import InboxChoiceFilter
from workflows.models import Approval, Execution


class ApprovalStatusFilter(InboxChoiceFilter):
    """Pending approvals by default: that is the operator's inbox."""

    title = "status"
    parameter_name = "status"
    field = "status"
    default = Approval.Status.PENDING
    choices_list = Approval.Status.choices


class ClaimFilter(admin.SimpleListFilter):
    title = "claimed"
    parameter_name = "claimed"

    def lookups(self, request, model_admin):
        return [("me", "By me"), ("unclaimed", "Unclaimed"), ("others", "By colleagues")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(claimed_by=request.user)
        if self.value() == "unclaimed":
            return queryset.filter(claimed_by__isnull=True)
        if self.value() == "others":
            return queryset.filter(claimed_by__isnull=False).exclude(claimed_by=request.user)
        return queryset


class FourEyesFilter(admin.SimpleListFilter):
    title = "approvals needed"
    parameter_name = "four_eyes"

    def lookups(self, request, model_admin):
        return [("yes", "Two (four-eyes)"), ("second", "Waiting for a second approver"), ("no", "One")]

    def queryset(self, request, queryset):
        match self.value():
            case "yes":
                return queryset.filter(required_approvals__gt=1)
            case "second":
                return queryset.filter(required_approvals__gt=1, first_approved_by__isnull=False)
            case "no":
                return queryset.filter(required_approvals=1)
        return queryset


class ExpiryFilter(admin.SimpleListFilter):
    title = "expires"
    parameter_name = "expires"
    WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "3d": timedelta(days=3)}

    def lookups(self, request, model_admin):
        return [("1h", "Within an hour"), ("24h", "Within a day"), ("3d", "Within 3 days")]

    def queryset(self, request, queryset):
        window = self.WINDOWS.get(self.value() or "")
        return queryset.filter(expires_at__lte=timezone.now() + window) if window else queryset


class RestartedFilter(admin.SimpleListFilter):
    title = "restarts"
    parameter_name = "restarted"

    def lookups(self, request, model_admin):
        return [("restart", "Restarts (new executions)"), ("redriven", "Redriven")]

    def queryset(self, request, queryset):
        if self.value() == "restart":
            return queryset.filter(restarted_from__isnull=False)
        if self.value() == "redriven":
            return queryset.filter(redrive_count__gt=0)
        return queryset


class EndingFilter(admin.SimpleListFilter):
    """Failures apart from the endings designed into the workflow: Step Functions calls an
    execution that ended in OrderRejected or OrderCancelled FAILED all the same (the home
    page's "Failed executions" links here)."""

    title = "ending"
    parameter_name = "ending"

    def lookups(self, request, model_admin):
        return [("failure", "Failures (errors, time-outs, stops)"), ("designed", "Rejected or cancelled")]

    def queryset(self, request, queryset):
        if self.value() == "failure":
            return queryset.filter(status__in=Execution.FAILURE_STATUSES).exclude(error__in=Execution.DESIGNED_ENDINGS)
        if self.value() == "designed":
            return queryset.filter(error__in=Execution.DESIGNED_ENDINGS)
        return queryset
