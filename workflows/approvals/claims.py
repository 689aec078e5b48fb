"""Claims and assignment: an operator takes a pending approval (colleagues see it as theirs
and cannot decide it meanwhile), releases it, or gives it to a colleague who may decide it.
Each change is one conditional update, audited."""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from workflows.approvals.rules import (
    ASSIGN_PERMISSION,
    DECIDE_PERMISSION,
    ApprovalNotPending,
    AssigneeNotAllowed,
    ClaimedByAnother,
    claimed_message,
    not_pending_message,
)
from workflows.models import Approval


def approval_claim(*, approval_id: int, actor, source: str = AuditEntry.Source.CONSOLE) -> Approval:
    """Take a pending approval: colleagues see it as yours and cannot decide it meanwhile.
    Claiming your own claim again is harmless. Raises ``ClaimedByAnother`` or
    ``ApprovalNotPending``."""
    now = timezone.now()
    with transaction.atomic():
        taken = Approval.objects.filter(pk=approval_id, status=Approval.Status.PENDING, claimed_by__isnull=True).update(
            claimed_by=actor, claimed_at=now
        )
        approval = Approval.objects.select_related("claimed_by", "decided_by").get(pk=approval_id)
        if taken:
            audit_record(
                action="approval.claim", obj=approval, actor=actor, source=source, after={"claimedBy": _name(actor)}
            )
            return approval
    if approval.status != Approval.Status.PENDING:
        raise ApprovalNotPending(approval, not_pending_message(approval))
    if approval.claimed_by_id == actor.pk:
        return approval
    raise ClaimedByAnother(approval, claimed_message(approval))


def approval_unclaim(*, approval_id: int, actor, source: str = AuditEntry.Source.CONSOLE) -> Approval:
    """Release a claim: your own, or anyone's with ``workflows.assign_approval``."""
    with transaction.atomic():
        approval = Approval.objects.select_related("claimed_by").get(pk=approval_id)
        holder = approval.claimed_by
        if holder is None:
            return approval
        released = Approval.objects.filter(pk=approval_id, claimed_by=holder)
        if holder.pk != actor.pk and not actor.has_perm(ASSIGN_PERMISSION):
            raise ClaimedByAnother(
                approval, f"Claimed by {holder.get_username()}: only they or an admin can release it."
            )
        if released.update(claimed_by=None, claimed_at=None):
            audit_record(
                action="approval.unclaim",
                obj=approval,
                actor=actor,
                source=source,
                before={"claimedBy": holder.get_username()},
                after={"claimedBy": None},
            )
    approval.refresh_from_db()
    return approval


def approval_assign(*, approval_id: int, assignee, actor, source: str = AuditEntry.Source.CONSOLE) -> Approval:
    """Give a pending approval to a colleague who may decide it (as their claim).

    Anyone who may decide can pass on an unclaimed approval or their own claim; taking a
    colleague's claim away needs ``workflows.assign_approval``. Raises
    ``AssigneeNotAllowed``, ``ClaimedByAnother`` or ``ApprovalNotPending``.
    """
    approval = Approval.objects.select_related("claimed_by").get(pk=approval_id)
    if not assignee.is_active or not assignee.is_staff or not assignee.has_perm(DECIDE_PERMISSION):
        raise AssigneeNotAllowed(f"{assignee.get_username()} may not decide approvals.")
    if approval.required_approvals > 1 and approval.first_approved_by_id == assignee.pk:
        raise AssigneeNotAllowed(
            f"{assignee.get_username()} gave the first approval; the second must come from someone else."
        )
    before = approval.claimed_by.get_username() if approval.claimed_by else None
    with transaction.atomic():
        target = Approval.objects.filter(pk=approval_id, status=Approval.Status.PENDING)
        if not actor.has_perm(ASSIGN_PERMISSION):
            target = target.filter(Q(claimed_by__isnull=True) | Q(claimed_by=actor))
        assigned = target.update(claimed_by=assignee, claimed_at=timezone.now())
        approval.refresh_from_db()
        if assigned:
            audit_record(
                action="approval.assign",
                obj=approval,
                actor=actor,
                source=source,
                before={"claimedBy": before},
                after={"claimedBy": assignee.get_username()},
            )
            return approval
    if approval.status != Approval.Status.PENDING:
        raise ApprovalNotPending(approval, not_pending_message(approval))
    raise ClaimedByAnother(approval, claimed_message(approval))


def _name(user) -> str:
    return user.get_username() if user is not None else ""
