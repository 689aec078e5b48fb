"""Console pages for approvals and executions; Approve and Reject are POST actions that
only users with ``workflows.decide_approval`` may take."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST

from console.models import AuditEntry
from workflows.models import Approval, Execution, StepRun
from workflows.services import ApprovalNotPending, ReasonRequired, approval_decide

DECIDE_PERMISSION = "workflows.decide_approval"


class ApprovalStatusFilter(admin.SimpleListFilter):
    """Pending approvals by default: that is the operator's inbox."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("all", "All")] + list(Approval.Status.choices)

    def choices(self, changelist):
        value = self.value() or Approval.Status.PENDING
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or Approval.Status.PENDING
        return queryset if value == "all" else queryset.filter(status=value)


def _redirect_back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = [
        "order_link",
        "order_total",
        "order_user",
        "status",
        "waiting",
        "expires_at",
        "decided_by",
        "decision_buttons",
    ]
    list_filter = [ApprovalStatusFilter]
    search_fields = ["=order__id"]
    list_select_related = ["order", "decided_by"]
    ordering = ["requested_at", "id"]
    exclude = ["task_token", "token_sha256"]
    change_list_template = "admin/workflows/approval/change_list.html"
    change_form_template = "admin/workflows/approval/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in {"task_token", "token_sha256"}]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Order", ordering="order__created_at")
    def order_link(self, approval: Approval) -> str:
        url = reverse("admin:orders_order_change", args=[approval.order_id])
        return format_html('<a href="{}">{}</a>', url, str(approval.order_id))

    @admin.display(description="Total", ordering="order__total")
    def order_total(self, approval: Approval):
        return approval.order.total

    @admin.display(description="Customer")
    def order_user(self, approval: Approval) -> str:
        return approval.order.user_id

    @admin.display(description="Waiting")
    def waiting(self, approval: Approval) -> str:
        if not approval.is_pending:
            return "-"
        return timesince(approval.requested_at, timezone.now())

    @admin.display(description="Decision")
    def decision_buttons(self, approval: Approval) -> str:
        if not approval.is_pending:
            return approval.get_status_display()
        approve_url = reverse("admin:workflows_approval_approve", args=[approval.pk])
        reject_url = reverse("admin:workflows_approval_reject", args=[approval.pk])
        # The buttons submit the standalone form below the changelist (forms cannot nest).
        return format_html(
            '<button type="submit" class="button" form="approval-decision" formaction="{}" '
            'data-approve="{}">Approve</button> <a class="button" href="{}">Reject…</a>',
            approve_url,
            approval.pk,
            reject_url,
        )

    def get_urls(self):
        custom = [
            path(
                "<int:approval_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="workflows_approval_approve",
            ),
            path(
                "<int:approval_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="workflows_approval_reject",
            ),
        ]
        return custom + super().get_urls()

    def _check_decide(self, request: HttpRequest) -> None:
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied("You may not decide approvals.")

    def _inbox_url(self) -> str:
        return reverse("admin:workflows_approval_changelist")

    def approve_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        return require_POST(self._approve)(request, approval_id)

    def _approve(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval, pk=approval_id)
        try:
            approval_decide(
                approval_id=approval.pk,
                approve=True,
                actor=request.user,
                reason=request.POST.get("note", ""),
                source=AuditEntry.Source.CONSOLE,
            )
        except ApprovalNotPending as exc:
            messages.warning(request, f"Order {approval.order_id}: {exc}")
        else:
            messages.success(request, f"Order {approval.order_id} approved; the workflow has resumed.")
        return _redirect_back(request, self._inbox_url())

    def reject_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval.objects.select_related("order"), pk=approval_id)
        error = ""
        if request.method == "POST":
            try:
                approval_decide(
                    approval_id=approval.pk,
                    approve=False,
                    actor=request.user,
                    reason=request.POST.get("reason", ""),
                    source=AuditEntry.Source.CONSOLE,
                )
            except ReasonRequired as exc:
                error = str(exc)
            except ApprovalNotPending as exc:
                messages.warning(request, f"Order {approval.order_id}: {exc}")
                return _redirect_back(request, self._inbox_url())
            else:
                messages.success(request, f"Order {approval.order_id} rejected; the workflow has ended it.")
                return _redirect_back(request, self._inbox_url())
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reject order {approval.order_id}",
            "approval": approval,
            "order": approval.order,
            "error": error,
            "reason": request.POST.get("reason", ""),
            "next": request.GET.get("next") or request.POST.get("next") or "",
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/workflows/approval/reject.html", context)
        if error:
            response.status_code = 400
        return response


class StepRunInline(admin.TabularInline):
    model = StepRun
    fields = ["step", "status", "output", "error", "cause", "started_at", "finished_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ["name", "state_machine", "status", "current_state", "started_at", "stopped_at"]
    list_filter = ["status", "state_machine"]
    search_fields = ["=order__id", "=name"]
    inlines = [StepRunInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
