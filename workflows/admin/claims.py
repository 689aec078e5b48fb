"""The approval's claim pages: claim and release (POSTs from the inbox or the order page),
and assign (a page to choose the colleague)."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_POST

from workflows.admin.approval_pages import ApprovalPageMixin, redirect_back
from workflows.approvals import (
    ASSIGN_PERMISSION,
    DECIDE_PERMISSION,
    ApprovalNotPending,
    AssigneeNotAllowed,
    approval_assign,
    approval_claim,
    approval_unclaim,
)
from workflows.models import Approval


class ApprovalClaimViews(ApprovalPageMixin):
    """Claim, release and assign pages of ``ApprovalAdmin`` (a mixin)."""

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("<int:approval_id>/claim/", view(self.claim_view), name="workflows_approval_claim"),
            path("<int:approval_id>/unclaim/", view(self.unclaim_view), name="workflows_approval_unclaim"),
            path("<int:approval_id>/assign/", view(self.assign_view), name="workflows_approval_assign"),
        ]
        return custom + super().get_urls()

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
        return redirect_back(request, self._inbox_url())

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
        return redirect_back(request, self._inbox_url())

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
                    return redirect_back(request, self._inbox_url())
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
