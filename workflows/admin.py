"""Console pages for approvals (the operator's inbox) and executions.

Every state change is a POST with CSRF, permission-checked here and in the services:
decide (``workflows.decide_approval``): approve, reject, claim, release, assign, bulk approve;
``workflows.assign_approval``: take a colleague's claim away; ``workflows.restart_execution``:
restart a failed execution. Links from approval emails only show a confirmation page.
"""

import logging
import re
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timesince import timeuntil
from django.views.decorators.http import require_POST

from console.aws import resources
from console.models import AuditEntry
from console.pages.filters import InboxChoiceFilter
from console.pages.readonly import ReadOnlyAdminMixin
from console.platform.timefmt import duration
from workflows import selectors, sfn
from workflows.approvals import (
    ASSIGN_PERMISSION,
    DECIDE_PERMISSION,
    ApprovalNotPending,
    AssigneeNotAllowed,
    ReasonRequired,
    TooManyForBulk,
    approval_assign,
    approval_bulk_approve,
    approval_claim,
    approval_decide,
    approval_unclaim,
)
from workflows.approvals.notifications import LinkInvalid, approval_link_read
from workflows.executions import execution_refresh
from workflows.models import Approval, Execution, StepRun
from workflows.restarts import RESTARTABLE_STATUSES, ExecutionNotRestartable, execution_restart

logger = logging.getLogger(__name__)
RESTART_PERMISSION = "workflows.restart_execution"


def _redirect_back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


def _order_ref(approval: Approval) -> str:
    return str(approval.order_id)[:8]


# --- Inbox filters ------------------------------------------------------------------------------


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


# --- The inbox ----------------------------------------------------------------------------------


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["order_link", "summary", "amount", "waiting", "expiry", "claim", "decision_buttons"]
    list_display_links = None
    list_filter = [ApprovalStatusFilter, ClaimFilter, FourEyesFilter, ExpiryFilter]
    search_fields = ["order__id"]
    search_help_text = "An order id, whole or its first characters (e.g. 1a2b3c4d)."
    ordering = ["requested_at", "id"]
    actions = ["approve_selected"]
    show_full_result_count = False
    list_per_page = 50
    change_list_template = "admin/workflows/approval/change_list.html"
    change_form_template = "admin/workflows/approval/change_form.html"

    # The approval's page: the request, then only the claim and decision facts there are
    # (a pending approval has none), then Step Functions' side of it, folded.
    _request_fields = ["order", "execution", "status", "state_name", "requested_at", "expires_at", "required_approvals"]
    _decision_fields = [
        "claimed_by",
        "claimed_at",
        "first_approved_by",
        "first_approved_at",
        "first_note",
        "decided_by",
        "decided_at",
        "reason",
    ]
    _delivery_fields = ["delivered_at", "aws_request_id", "outcome_detail", "heartbeat_seconds", "checked_at"]
    fields = _request_fields + _decision_fields + _delivery_fields  # all read-only

    def get_fieldsets(self, request, obj=None):
        decision = [name for name in self._decision_fields if obj is not None and getattr(obj, name) not in (None, "")]
        fieldsets = [(None, {"fields": self._request_fields})]
        if decision:
            fieldsets.append(("Claim and decision", {"fields": decision}))
        fieldsets.append(("Step Functions", {"fields": self._delivery_fields, "classes": ["collapse"]}))
        return fieldsets

    def get_queryset(self, request):
        return selectors.approval_list(filters={"status": "all"})

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(selectors.order_id_filter(term)), False

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    # Columns -----------------------------------------------------------------------------------

    @admin.display(description="Order", ordering="order__created_at")
    def order_link(self, approval: Approval) -> str:
        url = reverse("admin:workflows_approval_change", args=[approval.pk])
        return format_html(
            '<a href="{}" class="approval-order" title="{}">{}</a><br><span class="help">{}</span>',
            url,
            approval.order_id,
            _order_ref(approval),
            approval.order.user_id,
        )

    @admin.display(description="Items")
    def summary(self, approval: Approval) -> str:
        return selectors.items_summary(list(approval.order.items.all()))

    @admin.display(description="Amount", ordering="order__total")
    def amount(self, approval: Approval) -> str:
        if approval.is_four_eyes:
            second = (
                format_html(
                    "<br><span class='help'>1st: {}</span>",
                    approval.first_approved_by.get_username() if approval.first_approved_by else "?",
                )
                if approval.first_approved_by_id
                else ""
            )
            return format_html(
                '<strong>{}</strong><br><span class="four-eyes" title="Needs two approvals by two people">'
                "four-eyes</span>{}",
                approval.order.total,
                second,
            )
        return format_html("<strong>{}</strong>", approval.order.total)

    @admin.display(description="Waiting", ordering="requested_at")
    def waiting(self, approval: Approval) -> str:
        if not approval.is_pending:
            return "-"
        return format_html(
            '<span title="since {}">{}</span>',
            timezone.localtime(approval.requested_at).strftime("%Y-%m-%d %H:%M"),
            duration(approval.requested_at, depth=2),
        )

    @admin.display(description="Expires", ordering="expires_at")
    def expiry(self, approval: Approval) -> str:
        if not approval.expires_at:
            return "-"
        now = timezone.now()
        at = timezone.localtime(approval.expires_at).strftime("%Y-%m-%d %H:%M")
        if approval.expires_at <= now:
            return format_html('<span class="expired" title="{}">expired</span>', at)
        soon = approval.expires_at - now < timedelta(hours=1)
        return format_html(
            '<span class="{}" title="{}">in {}</span>',
            "expires-soon" if soon else "",
            at,
            timeuntil(approval.expires_at, now),
        )

    @admin.display(description="Claimed by")
    def claim(self, approval: Approval) -> str:
        if not approval.is_pending:
            return "-"
        if not approval.claimed_by_id:
            return format_html(
                '<button type="submit" class="button claim" form="approval-decision" formaction="{}">Claim</button>',
                reverse("admin:workflows_approval_claim", args=[approval.pk]),
            )
        return format_html(
            '{} <button type="submit" class="button unclaim" form="approval-decision" formaction="{}">Release</button>',
            approval.claimed_by.get_username(),
            reverse("admin:workflows_approval_unclaim", args=[approval.pk]),
        )

    @admin.display(description="Decision")
    def decision_buttons(self, approval: Approval) -> str:
        if not approval.is_pending:
            by = f" by {approval.decided_by.get_username()}" if approval.decided_by else ""
            return format_html('<span class="approval-status">{}{}</span>', approval.get_status_display(), by)
        approve_label = "Approve (2nd)" if approval.needs_second_approval else "Approve"
        return format_html(
            '<button type="submit" class="button default approve" form="approval-decision" formaction="{}" '
            'data-approve="{}">{}</button> <a class="button reject" href="{}">Reject…</a> '
            '<a class="assign" href="{}">Assign…</a>',
            reverse("admin:workflows_approval_approve", args=[approval.pk]),
            approval.pk,
            approve_label,
            reverse("admin:workflows_approval_reject", args=[approval.pk]),
            reverse("admin:workflows_approval_assign", args=[approval.pk]),
        )

    # Pages -------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("<int:approval_id>/approve/", view(self.approve_view), name="workflows_approval_approve"),
            path("<int:approval_id>/reject/", view(self.reject_view), name="workflows_approval_reject"),
            path("<int:approval_id>/claim/", view(self.claim_view), name="workflows_approval_claim"),
            path("<int:approval_id>/unclaim/", view(self.unclaim_view), name="workflows_approval_unclaim"),
            path("<int:approval_id>/assign/", view(self.assign_view), name="workflows_approval_assign"),
            path("link/<str:token>/", view(self.link_view), name="workflows_approval_link"),
        ]
        return custom + super().get_urls()

    def _check_decide(self, request: HttpRequest) -> None:
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied("You may not decide approvals.")

    def _inbox_url(self) -> str:
        return reverse("admin:workflows_approval_changelist")

    def _context(self, request: HttpRequest, approval: Approval, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "approval": approval,
            "order": approval.order,
            "items": list(approval.order.items.all()),
            "opts": self.model._meta,
            "next": request.GET.get("next") or request.POST.get("next") or "",
            **extra,
        }

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if request.GET.get("status", Approval.Status.PENDING) == Approval.Status.PENDING:
            extra_context.setdefault("title", "Approvals waiting for a decision (oldest first)")
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        approval = Approval.objects.filter(pk=object_id).select_related("order").first()
        if approval is not None:
            extra_context["items"] = list(approval.order.items.all())
            extra_context["trail"] = AuditEntry.objects.filter(
                object_type="workflows.approval", object_id=str(approval.pk)
            ).order_by("created_at", "id")
        return super().change_view(request, object_id, form_url, extra_context)

    def approve_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        return require_POST(self._approve)(request, approval_id)

    def _approve(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval, pk=approval_id)
        self._decide(request, approval, approve=True, reason=request.POST.get("note", ""))
        return _redirect_back(request, self._inbox_url())

    def _decide(self, request: HttpRequest, approval: Approval, *, approve: bool, reason: str) -> Approval | None:
        """Decide and tell the operator what happened. Raises ReasonRequired."""
        try:
            decided = approval_decide(
                approval_id=approval.pk, approve=approve, actor=request.user, reason=reason, source="console"
            )
        except ApprovalNotPending as exc:
            messages.warning(request, f"Order {approval.order_id}: {exc}")
            return None
        except ReasonRequired:
            raise
        except Exception as exc:
            logger.exception("decision on approval %s not delivered", approval.pk)
            messages.error(
                request,
                f"Order {approval.order_id}: your decision is recorded, but Step Functions could not be reached "
                f"({type(exc).__name__}); it will be delivered again automatically.",
            )
            return None
        if decided.needs_second_approval:
            messages.success(
                request,
                f"Order {approval.order_id}: first approval recorded. It is above the four-eyes limit, so a second "
                "operator must approve it too.",
            )
        elif approve:
            messages.success(request, f"Order {approval.order_id} approved; the workflow has resumed.")
        else:
            messages.success(request, f"Order {approval.order_id} rejected; the workflow has ended it.")
        return decided

    def reject_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval.objects.select_related("order"), pk=approval_id)
        error = ""
        if request.method == "POST":
            try:
                self._decide(request, approval, approve=False, reason=request.POST.get("reason", ""))
            except ReasonRequired as exc:
                error = str(exc)
            else:
                return _redirect_back(request, self._inbox_url())
        context = self._context(
            request,
            approval,
            title=f"Reject order {approval.order_id}",
            error=error,
            reason=request.POST.get("reason", ""),
        )
        response = TemplateResponse(request, "admin/workflows/approval/reject.html", context)
        if error:
            response.status_code = 400
        return response

    def claim_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        return require_POST(self._claim)(request, approval_id)

    def _claim(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval, pk=approval_id)
        try:
            approval_claim(approval_id=approval.pk, actor=request.user)
        except ApprovalNotPending as exc:
            messages.warning(request, f"Order {approval.order_id}: {exc}")
        else:
            messages.success(request, f"You claimed order {approval.order_id}; colleagues see it as yours.")
        return _redirect_back(request, self._inbox_url())

    def unclaim_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        return require_POST(self._unclaim)(request, approval_id)

    def _unclaim(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval, pk=approval_id)
        try:
            approval_unclaim(approval_id=approval.pk, actor=request.user)
        except ApprovalNotPending as exc:
            messages.warning(request, f"Order {approval.order_id}: {exc}")
        else:
            messages.success(request, f"Order {approval.order_id} is unclaimed again.")
        return _redirect_back(request, self._inbox_url())

    def assign_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval.objects.select_related("order", "claimed_by"), pk=approval_id)
        colleagues = [
            user
            for user in get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
            if user.has_perm(DECIDE_PERMISSION) and user.pk != approval.first_approved_by_id
        ]
        error = ""
        if request.method == "POST":
            assignee = next((u for u in colleagues if str(u.pk) == request.POST.get("assignee")), None)
            if assignee is None:
                error = "Choose a colleague who may decide approvals."
            else:
                try:
                    approval_assign(approval_id=approval.pk, assignee=assignee, actor=request.user)
                except (AssigneeNotAllowed, ApprovalNotPending) as exc:
                    error = str(exc)
                else:
                    messages.success(request, f"Order {approval.order_id} assigned to {assignee.get_username()}.")
                    return _redirect_back(request, self._inbox_url())
        context = self._context(
            request,
            approval,
            title=f"Assign order {approval.order_id}",
            colleagues=colleagues,
            error=error,
            can_reassign=request.user.has_perm(ASSIGN_PERMISSION),
        )
        response = TemplateResponse(request, "admin/workflows/approval/assign.html", context)
        if error:
            response.status_code = 400
        return response

    def link_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """An email link: GET/HEAD only show what would be decided; POST decides."""
        try:
            link, approval = approval_link_read(token)
        except LinkInvalid as exc:
            context = {**self.admin_site.each_context(request), "title": "Approval link", "link_error": str(exc)}
            return TemplateResponse(request, "admin/workflows/approval/link.html", context, status=400)
        can_decide = request.user.has_perm(DECIDE_PERMISSION)
        error = ""
        if request.method == "POST":
            self._check_decide(request)
            approve = link.decision == "approve"
            try:
                self._decide(
                    request, approval, approve=approve, reason=request.POST.get("note" if approve else "reason", "")
                )
            except ReasonRequired as exc:
                error = str(exc)
            else:
                # The messages say what happened; the approval's page shows where it stands.
                return HttpResponseRedirect(reverse("admin:workflows_approval_change", args=[approval.pk]))
        elif request.method not in {"GET", "HEAD"}:
            return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
        context = self._context(
            request,
            approval,
            title=(
                f"{link.decision.title()} order {approval.order_id}?"
                if approval.is_pending
                else f"Order {approval.order_id}: {approval.get_status_display().lower()}"
            ),
            decision=link.decision,
            can_decide=can_decide,
            error=error,
            reason=request.POST.get("reason", ""),
        )
        return TemplateResponse(
            request,
            "admin/workflows/approval/link.html",
            context,
            status=400 if error else 403 if not can_decide else 200,
        )

    # Bulk approve ------------------------------------------------------------------------------

    @admin.action(permissions=["decide"], description="Approve selected orders…")
    def approve_selected(self, request: HttpRequest, queryset):
        approvals = list(queryset.order_by("requested_at", "id"))
        if request.POST.get("confirm") == "yes":
            try:
                outcome = approval_bulk_approve(
                    approval_ids=[a.pk for a in approvals], actor=request.user, note=request.POST.get("note", "")
                )
            except TooManyForBulk as exc:
                messages.error(request, str(exc))
                return None
            if outcome.approved:
                messages.success(
                    request,
                    f"Approved {len(outcome.approved)} order(s); their workflows have resumed: "
                    + ", ".join(_order_ref(a) for a in outcome.approved),
                )
            if outcome.first_approvals:
                messages.info(
                    request,
                    f"First approval recorded for {len(outcome.first_approvals)} four-eyes order(s); each needs a "
                    "second operator: " + ", ".join(_order_ref(a) for a in outcome.first_approvals),
                )
            for approval, reason in outcome.refused:
                messages.warning(request, f"Order {_order_ref(approval)}: {reason}")
            return None
        rows = [(approval, _bulk_preview(approval, request.user)) for approval in approvals]
        context = {
            **self.admin_site.each_context(request),
            "title": "Approve these orders?",
            "rows": rows,
            "will_decide": sum(1 for _, (ok, _text) in rows if ok),
            "queryset": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "too_many": len(approvals) > _bulk_max(),
            "bulk_max": _bulk_max(),
        }
        return TemplateResponse(request, "admin/workflows/approval/bulk_approve.html", context)


def _bulk_max() -> int:
    from django.conf import settings

    return settings.APPROVAL_BULK_MAX


def _bulk_preview(approval: Approval, user) -> tuple[bool, str]:
    """What approving will do to this row (the services decide for real)."""
    if not approval.is_pending:
        return False, f"Not pending ({approval.get_status_display()}): skipped."
    if approval.expires_at and approval.expires_at <= timezone.now():
        return False, "Expired: skipped."
    if approval.claimed_by_id and approval.claimed_by_id != user.pk:
        return False, f"Claimed by {approval.claimed_by.get_username()}: skipped."
    if approval.is_four_eyes:
        if approval.first_approved_by_id == user.pk:
            return False, "You gave the first approval; a different operator must give the second: skipped."
        if approval.first_approved_by_id:
            return True, f"Second approval (first by {approval.first_approved_by.get_username()}): approves."
        return True, "Four-eyes: records the first of two approvals; a colleague must approve too."
    return True, "Approves and resumes the workflow."


# --- Executions ---------------------------------------------------------------------------------


class StepRunInline(admin.TabularInline):
    model = StepRun
    fields = ["step", "status", "output", "error", "cause", "started_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Step runs (our handlers' records)"

    def has_add_permission(self, request, obj=None):
        return False


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


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _short_uuid(match: re.Match) -> str:
    return match.group()[:8] + "\u2026"


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "short_name",
        "order_link",
        "machine",
        "status_badge",
        "current_state",
        "started_at",
        "took",
        "label",
    ]
    list_display_links = ["short_name"]
    list_filter = ["status", "state_machine", RestartedFilter]
    search_fields = ["name"]
    search_help_text = "An order id (whole or its first characters) or an execution name."
    list_select_related = ["order", "restarted_from"]
    show_full_result_count = False
    inlines = [StepRunInline]
    change_form_template = "admin/workflows/execution/change_form.html"
    change_list_template = "admin/workflows/execution/change_list.html"
    fields = [
        "name",
        "order",
        "state_machine",
        "status",
        "current_state",
        "arn",
        "error",
        "cause",
        "started_at",
        "stopped_at",
        "restarted_from",
        "restart_method",
        "redrive_count",
    ]

    def get_fieldsets(self, request, obj=None):
        # The page's summary and history above show these already: the record, folded.
        return [("Recorded fields", {"fields": self.fields, "classes": ["collapse"]})]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        by_order = selectors.order_id_filter(term)
        return queryset.filter(by_order) | queryset.filter(name=term), False

    @admin.display(description="Order")
    def order_link(self, execution: Execution) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[execution.order_id]),
            str(execution.order_id)[:8],
        )

    @admin.display(description="Name", ordering="name")
    def short_name(self, execution: Execution) -> str:
        # Names carry the order's whole id (order-<uuid>, order-<uuid>-restart-2): shown with
        # its first characters, as the order column shows it; the whole name on hover.
        return format_html('<span title="{}">{}</span>', execution.name, _UUID.sub(_short_uuid, execution.name))

    @admin.display(description="State machine", ordering="state_machine")
    def machine(self, execution: Execution) -> str:
        # Records made from a task message hold the full name (<prefix>-<stage>-<machine>).
        return execution.state_machine.removeprefix(resources.resource_name(""))

    @admin.display(description="Status", ordering="status")
    def status_badge(self, execution: Execution) -> str:
        return format_html(
            '<span class="execution-status status-{}">{}</span>', execution.status.lower(), execution.status
        )

    @admin.display(description="Took")
    def took(self, execution: Execution) -> str:
        if execution.started_at and execution.stopped_at:
            return duration(execution.started_at, execution.stopped_at, depth=2)
        return "-"

    @admin.display(description="")
    def label(self, execution: Execution) -> str:
        parts = []
        if execution.restarted_from_id:
            parts.append(f"restart of {execution.restarted_from.name}")
        if execution.redrive_count:
            parts.append(f"redriven {execution.redrive_count}×")
        return ", ".join(parts)

    def get_urls(self):
        custom = [
            path(
                "<int:execution_id>/restart/",
                self.admin_site.admin_view(self.restart_view),
                name="workflows_execution_restart",
            )
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        execution = Execution.objects.filter(pk=object_id).select_related("order", "restarted_from").first()
        if execution is not None:
            extra_context.update(self._history_context(request, execution))
        return super().change_view(request, object_id, form_url, extra_context)

    def _history_context(self, request: HttpRequest, execution: Execution) -> dict:
        live_error, history = "", None
        if execution.arn:
            try:
                if execution.is_open:
                    execution = execution_refresh(execution=execution)
                history = selectors.execution_history(execution_arn=execution.arn)
            except Exception as exc:  # the page still shows what we recorded
                logger.warning("could not read the history of %s: %s", execution.name, exc)
                live_error = f"{type(exc).__name__}: {exc}"
        return {
            "execution": execution,
            "history": history,
            "live_error": live_error,
            "restarts": list(execution.restarts.order_by("created_at")),
            "approvals": list(execution.approvals.select_related("decided_by").order_by("requested_at")),
            "can_restart": request.user.has_perm(RESTART_PERMISSION) and execution.status in RESTARTABLE_STATUSES,
        }

    def restart_view(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        return require_POST(self._restart)(request, execution_id)

    def _restart(self, request: HttpRequest, execution_id: int) -> HttpResponse:
        if not request.user.has_perm(RESTART_PERMISSION):
            raise PermissionDenied("You may not restart executions.")
        execution = get_object_or_404(Execution, pk=execution_id)
        try:
            running = execution_restart(
                execution_id=execution.pk, actor=request.user, reason=request.POST.get("reason", "")
            )
        except ExecutionNotRestartable as exc:
            messages.warning(request, f"{execution.name}: {exc}")
            return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[execution.pk]))
        except sfn.StepFunctionsUnavailable as exc:
            logger.warning("restart of %s: Step Functions answered %s", execution.name, exc.aws_code)
            messages.error(
                request,
                f"{execution.name} was not restarted: Step Functions answered {exc.aws_code or 'an error'} "
                "(a temporary fault on AWS's side). Nothing was changed; try again in a few minutes.",
            )
            return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[execution.pk]))
        if running.pk == execution.pk:
            messages.success(request, f"{execution.name} redriven: it continues from the step that failed.")
        else:
            messages.success(
                request, f"Started {running.name} with the same input (the engine could not redrive {execution.name})."
            )
        return HttpResponseRedirect(reverse("admin:workflows_execution_change", args=[running.pk]))
