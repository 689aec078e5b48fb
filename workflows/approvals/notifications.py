"""Approval emails and their links.

A link names the approval and the decision it offers, signed with the project's secret
and timestamped; it never carries the Step Functions task token. Opening it (GET or HEAD,
as mail scanners and link previews do) only shows a confirmation page: the decision is a
POST from a logged-in operator with the decide permission, like every other decision.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from workflows.models import Approval

_SALT = "workflows.approval-link"
DECISIONS = ("approve", "reject")


class LinkInvalid(Exception):
    """The link was altered, belongs to nothing here, or has expired (plain message)."""


@dataclass(frozen=True)
class ApprovalLink:
    approval_id: int
    decision: str


def approval_link_token(*, approval: Approval, decision: str) -> str:
    if decision not in DECISIONS:
        raise ValueError(decision)
    # Bound to this approval: its id and when it was requested (ids of a restored
    # database could repeat; the pair does not).
    return signing.dumps(
        {"a": approval.pk, "d": decision, "r": approval.requested_at.timestamp()}, salt=_SALT, compress=True
    )


def approval_link_url(*, approval: Approval, decision: str) -> str:
    path = reverse("admin:workflows_approval_link", args=[approval_link_token(approval=approval, decision=decision)])
    return settings.CONSOLE_BASE_URL.rstrip("/") + path


def approval_link_read(token: str) -> tuple[ApprovalLink, Approval]:
    """The approval and decision a link offers. Raises ``LinkInvalid`` (altered, unknown or
    expired: a link lives until the approval's own expiry, capped by
    ``APPROVAL_LINK_MAX_AGE_SECONDS``)."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.APPROVAL_LINK_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise LinkInvalid("This link has expired. Open the approval from the inbox instead.") from None
    except signing.BadSignature:
        raise LinkInvalid("This link is not valid (it may have been cut or altered).") from None
    link = ApprovalLink(approval_id=int(data["a"]), decision=data["d"])
    approval = (
        Approval.objects.select_related("order", "decided_by", "claimed_by", "first_approved_by")
        .filter(pk=link.approval_id)
        .first()
    )
    if approval is None or abs(approval.requested_at.timestamp() - float(data["r"])) > 0.001:
        raise LinkInvalid("This link does not belong to any approval here.")
    if link.decision not in DECISIONS:
        raise LinkInvalid("This link is not valid.")
    if approval.is_pending and approval.expires_at and approval.expires_at <= timezone.now():
        raise LinkInvalid("This approval has expired: the workflow stopped waiting for it.")
    return link, approval


def approvers():
    """Active staff who may decide approvals and have an email address."""
    User = get_user_model()
    permission = Permission.objects.filter(content_type__app_label="workflows", codename="decide_approval")
    return (
        User.objects.filter(is_active=True, is_staff=True)
        .exclude(email="")
        .filter(Q(is_superuser=True) | Q(groups__permissions__in=permission) | Q(user_permissions__in=permission))
        .distinct()
        .order_by("pk")
    )


def approval_notify(*, approval_id: int) -> int:
    """Email every approver about a pending approval, with Approve and Reject links.
    Returns how many were emailed (0 if emails are off or the approval is no longer pending)."""
    if not settings.APPROVAL_EMAILS:
        return 0
    approval = Approval.objects.select_related("order").prefetch_related("order__items").get(pk=approval_id)
    if not approval.is_pending:
        return 0
    recipients = [user.email for user in approvers()]
    if not recipients:
        return 0
    context = {
        "approval": approval,
        "order": approval.order,
        "items": list(approval.order.items.all()),
        "approve_url": approval_link_url(approval=approval, decision="approve"),
        "reject_url": approval_link_url(approval=approval, decision="reject"),
        "inbox_url": settings.CONSOLE_BASE_URL.rstrip("/") + reverse("admin:workflows_approval_changelist"),
    }
    subject = f"Approval needed: order {str(approval.order_id)[:8]} ({approval.order.total})"
    if approval.is_four_eyes:
        subject += " — needs two approvers"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("workflows/email/approval_request.txt", context),
        to=[settings.DEFAULT_FROM_EMAIL],
        bcc=recipients,
    )
    message.attach_alternative(render_to_string("workflows/email/approval_request.html", context), "text/html")
    message.send()
    return len(recipients)
