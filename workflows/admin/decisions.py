"""The approval's decision pages: approve (a POST from the inbox or the order page),
reject (a page asking for the reason), and an approval email's link (GET shows what it
would decide; a POST by an operator who may decide, decides)."""

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from workflows.admin.approval_pages import ApprovalPageMixin
from workflows.approvals import DECIDE_PERMISSION, ApprovalNotPending, ReasonRequired, approval_decide
from workflows.approvals.notifications import LinkInvalid, approval_link_read
from workflows.models import Approval

logger = logging.getLogger(__name__)


class ApprovalDecisionViews(ApprovalPageMixin):
    """Approve, reject and email-link pages of ``ApprovalAdmin`` (a mixin)."""

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("<int:approval_id>/approve/", view(self.approve_view), name="workflows_approval_approve"),
            path("<int:approval_id>/reject/", view(self.reject_view), name="workflows_approval_reject"),
            path("link/<str:token>/", view(self.link_view), name="workflows_approval_link"),
        ]
        return custom + super().get_urls()

    def approve_view(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        return require_POST(self._approve)(request, approval_id)

    def _approve(self, request: HttpRequest, approval_id: int) -> HttpResponse:
        self._check_decide(request)
        approval = get_object_or_404(Approval, pk=approval_id)
        decided = self._decide(request, approval, approve=True, reason=request.POST.get("note", ""))
        return self._landing(request, approval, decided=decided is not None)

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
                decided = self._decide(request, approval, approve=False, reason=request.POST.get("reason", ""))
            except ReasonRequired as exc:
                error = str(exc)
            else:
                return self._landing(request, approval, decided=decided is not None)
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
