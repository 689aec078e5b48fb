"""Bulk approve: the inbox's action, with a confirmation page that says what approving will
do to each selected row, then each approved under the services' rules."""

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from workflows.admin.approval_pages import order_ref
from workflows.approvals import DECIDE_PERMISSION, TooManyForBulk, approval_bulk_approve
from workflows.models import Approval


class ApprovalBulkApprove:
    """The inbox's "Approve selected orders…" action (a mixin of ``ApprovalAdmin``), for
    operators who may decide."""

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

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
                    + ", ".join(order_ref(a) for a in outcome.approved),
                )
            if outcome.first_approvals:
                messages.info(
                    request,
                    f"First approval recorded for {len(outcome.first_approvals)} four-eyes order(s); each needs a "
                    "second operator: " + ", ".join(order_ref(a) for a in outcome.first_approvals),
                )
            for approval, reason in outcome.refused:
                messages.warning(request, f"Order {order_ref(approval)}: {reason}")
            return None
        rows = [(approval, bulk_preview(approval, request.user)) for approval in approvals]
        context = {
            **self.admin_site.each_context(request),
            "title": "Approve these orders?",
            "rows": rows,
            "will_decide": sum(1 for _, (ok, _text) in rows if ok),
            "queryset": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "too_many": len(approvals) > bulk_max(),
            "bulk_max": bulk_max(),
        }
        return TemplateResponse(request, "admin/workflows/approval/bulk_approve.html", context)


def bulk_max() -> int:
    return settings.APPROVAL_BULK_MAX


def bulk_preview(approval: Approval, user) -> tuple[bool, str]:
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
