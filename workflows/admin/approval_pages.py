"""What the approval pages share: the decide permission's check, the inbox's address, a
page's context, and the way back to where the operator came from."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from workflows import selectors
from workflows.approvals import DECIDE_PERMISSION
from workflows.models import Approval

# A decision made on an approval's own page says so (``after=next``): the operator is
# triaging, and lands on the next approval waiting for them.
AFTER_NEXT = "next"


def redirect_back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


def pending_neighbours(request: HttpRequest, approval: Approval) -> selectors.PendingNeighbours:
    """The approvals around this one that the reader could decide (all pending ones for a
    reader who may not decide: they only look)."""
    reader = request.user if request.user.has_perm(DECIDE_PERMISSION) else None
    return selectors.approval_pending_neighbours(approval=approval, open_to=reader)


def order_ref(approval: Approval) -> str:
    return str(approval.order_id)[:8]


class ApprovalPageMixin:
    """For an approval ``ModelAdmin``'s own pages (decisions, claims)."""

    def _check_decide(self, request: HttpRequest) -> None:
        if not request.user.has_perm(DECIDE_PERMISSION):
            raise PermissionDenied("You may not decide approvals.")

    def _inbox_url(self) -> str:
        return reverse("admin:workflows_approval_changelist")

    def _landing(self, request: HttpRequest, approval: Approval, *, decided: bool) -> HttpResponseRedirect:
        """Where every decision lands, approve and reject alike. Made on an approval's page
        (``after=next``): the next approval waiting for this operator (the oldest one left
        when this was the last), or the inbox when none is; a refused decision stays on its
        approval, to read why. Made elsewhere: back there (the inbox, the order page)."""
        if (request.POST.get("after") or request.GET.get("after")) != AFTER_NEXT:
            return redirect_back(request, self._inbox_url())
        if not decided:
            return HttpResponseRedirect(self._approval_url(approval))
        neighbours = pending_neighbours(request, approval)
        following = neighbours.next or neighbours.oldest
        if following is None:
            messages.info(request, "No more approvals are waiting for you.")
            return HttpResponseRedirect(self._inbox_url())
        return HttpResponseRedirect(self._approval_url(following))

    def _approval_url(self, approval: Approval) -> str:
        return reverse("admin:workflows_approval_change", args=[approval.pk])

    def _context(self, request: HttpRequest, approval: Approval, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "approval": approval,
            "order": approval.order,
            "items": list(approval.order.items.all()),
            "opts": self.model._meta,
            "next": request.GET.get("next") or request.POST.get("next") or "",
            "after": AFTER_NEXT if (request.GET.get("after") or request.POST.get("after")) == AFTER_NEXT else "",
            **extra,
        }
