"""The approvals inbox: pending approvals oldest first, with what each order holds, how
long it waited, who claimed it and its decision buttons; each approval's page with its
audit trail. The decision, claim and bulk pages are the mixins it is made of."""

from django.contrib import admin

from console.models import AuditEntry
from console.pages.audit_history import AuditHistoryMixin, HistoryRow
from console.pages.live import live_not_modified
from console.pages.readonly import ReadOnlyAdminMixin
from console.pages.user_links import UserLinksMixin
from workflows import selectors
from workflows.admin.approval_pages import pending_neighbours
from workflows.admin.bulk import ApprovalBulkApprove
from workflows.admin.claims import ApprovalClaimViews
from workflows.admin.columns import ApprovalColumns
from workflows.admin.decisions import ApprovalDecisionViews
from workflows.admin.filters import ApprovalStatusFilter, ClaimFilter, ExpiryFilter, FourEyesFilter
from workflows.models import Approval


@admin.register(Approval)
class ApprovalAdmin(
    ApprovalDecisionViews,
    ApprovalClaimViews,
    ApprovalBulkApprove,
    ApprovalColumns,
    AuditHistoryMixin,
    UserLinksMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
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
        request_fields = self._request_fields
        if obj is not None and not obj.is_pending:
            request_fields = [name for name in request_fields if name != "expires_at"]  # it expires no more
        fieldsets = [(None, {"fields": request_fields})]
        if decision:
            fieldsets.append(("Claim and decision", {"fields": decision}))
        fieldsets.append(("Step Functions", {"fields": self._delivery_fields, "classes": ["collapse"]}))
        return self.with_user_links(request, fieldsets)

    def get_list_display(self, request):
        columns = self.reader_columns(request)
        return [columns.get(name, name) for name in self.list_display]

    def get_queryset(self, request):
        return selectors.approval_list(filters={"status": "all"})

    def get_readonly_fields(self, request, obj=None):
        return self.user_fields_in(request, self.fields)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(selectors.order_id_filter(term)), False

    def changelist_view(self, request, extra_context=None):
        if self.has_view_or_change_permission(request) and self._shows_pending_only(request):
            # A live poll of the inbox: one aggregate query instead of the page, when nothing changed.
            not_modified = live_not_modified(request, fingerprint=selectors.approval_inbox_fingerprint)
            if not_modified is not None:
                return not_modified
        extra_context = extra_context or {}
        if request.GET.get("status", Approval.Status.PENDING) == Approval.Status.PENDING:
            extra_context.setdefault("title", "Approvals waiting for a decision (oldest first)")
            extra_context.setdefault("inbox_pending", not set(request.GET) - {"status"})
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _shows_pending_only(request) -> bool:
        return request.GET.get("status", Approval.Status.PENDING) == Approval.Status.PENDING

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        approval = Approval.objects.filter(pk=object_id).select_related("order").first()
        if approval is not None:
            extra_context["items"] = list(approval.order.items.all())
            extra_context["triage"] = pending_neighbours(request, approval)
            extra_context["trail"] = AuditEntry.objects.filter(
                object_type="workflows.approval", object_id=str(approval.pk)
            ).order_by("created_at", "id")
        return super().change_view(request, object_id, form_url, extra_context)

    def history_facts(self, obj: Approval) -> list[HistoryRow]:
        # The request is stored by the approvals queue's handler, not audited: a fact of the row.
        expires = f"; it expires {obj.expires_at:%Y-%m-%d %H:%M:%S %Z}" if obj.expires_at else ""
        return [
            HistoryRow(
                at=obj.requested_at,
                action="approval.request",
                source="Step Functions",
                reason=f"The workflow's {obj.state_name} state waits for a decision{expires}.",
                audited=False,
            )
        ]
