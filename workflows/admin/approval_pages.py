"""What the approval pages share: the decide permission's check, the inbox's address, a
page's context, and the way back to where the operator came from."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from workflows.approvals import DECIDE_PERMISSION
from workflows.models import Approval


def redirect_back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


def order_ref(approval: Approval) -> str:
    return str(approval.order_id)[:8]


class ApprovalPageMixin:
    """For an approval ``ModelAdmin``'s own pages (decisions, claims)."""

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
