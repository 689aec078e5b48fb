"""Deciding an approval, once, and delivering the decision to Step Functions.

Decisions happen once: a conditional update (``status = PENDING``) lets one request claim
the approval, and only that request calls Step Functions. The decision is committed before
the call, so the workflow's next step always finds the order decided; if the call fails
for a transient reason, the recorded decision is delivered again later (the sweep,
``workflows.approvals.sweep``).
"""

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.models import AuditEntry
from console.platform import observability
from console.platform.audit import audit_record
from orders.lifecycle import InvalidTransition, OrderStatus
from orders.models import Order
from orders.services import order_transition
from workflows import sfn
from workflows.approvals.rules import (
    ApprovalNotPending,
    ClaimedByAnother,
    ReasonRequired,
    SecondApproverRequired,
    claimed_message,
    not_pending_message,
    when,
)
from workflows.models import Approval


@observability.with_correlation("approval_id")
def approval_decide(
    *,
    approval_id: int,
    approve: bool,
    actor,
    reason: str = "",
    source: str = AuditEntry.Source.CONSOLE,
) -> Approval:
    """Approve or reject, once. ``reason`` is the rejection's reason (required) or the
    approval's note (optional); both are stored, audited and sent to the workflow.

    Four-eyes orders (``required_approvals == 2``): the first approval is recorded and the
    approval stays pending (returned with ``needs_second_approval``); a second approval by a
    different operator decides. Anyone may reject. An approval claimed by a colleague is
    theirs to decide.

    Raises ``ApprovalNotPending`` (with a plain message; ``ClaimedByAnother`` and
    ``SecondApproverRequired`` are kinds of it) when the approval is not open for this
    decision, and ``ReasonRequired`` for a reject without reason. Every step is a
    conditional update, so of concurrent requests exactly one decides, and only that one
    calls Step Functions.
    """
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ReasonRequired("A rejection needs a reason.")
    approval = Approval.objects.select_related("order", "execution").get(pk=approval_id)
    _refuse_if_not_open(approval)
    decided = Approval.Status.APPROVED if approve else Approval.Status.REJECTED
    now = timezone.now()
    open_to_actor = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).filter(
        Q(claimed_by__isnull=True) | Q(claimed_by=actor)
    )
    if approve and approval.required_approvals > 1:
        with transaction.atomic():
            first = open_to_actor.filter(first_approved_by__isnull=True).update(
                first_approved_by=actor, first_approved_at=now, first_note=reason, claimed_by=None, claimed_at=None
            )
            if first:
                audit_record(
                    action="approval.first_approve",
                    obj=approval,
                    actor=actor,
                    source=source,
                    reason=reason,
                    before={"approvals": 0},
                    after={"approvals": 1, "required": approval.required_approvals, "order": str(approval.order_id)},
                )
        if first:
            approval.refresh_from_db()
            return approval
        # Someone gave the first approval: this one decides, unless it is the same person.
        open_to_actor = open_to_actor.filter(first_approved_by__isnull=False).exclude(first_approved_by=actor)
    try:
        with transaction.atomic():
            claimed = open_to_actor.update(
                status=decided, decided_by=actor, decided_at=now, reason=reason, claimed_by=None, claimed_at=None
            )
            if not claimed:
                approval.refresh_from_db()
                raise _refusal(approval, actor)
            order_transition(
                order_id=approval.order_id,
                to_status=OrderStatus.APPROVED if approve else OrderStatus.REJECTED,
                actor=actor,
                source=source,
                reason=reason,
            )
    except InvalidTransition as exc:
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, f"The order can no longer be decided: {exc}") from exc
    approval.refresh_from_db()
    observability.metric("ApprovalsDecided", decision=decided.lower())
    with observability.correlation(order_id=approval.order_id):
        return approval_deliver(approval=approval, source=source)


def _refusal(approval: Approval, actor) -> ApprovalNotPending:
    """Why a decision's conditional update found nothing to update, in plain words."""
    if approval.status != Approval.Status.PENDING:
        return ApprovalNotPending(approval, not_pending_message(approval))
    if approval.claimed_by_id and approval.claimed_by_id != actor.pk:
        return ClaimedByAnother(approval, claimed_message(approval))
    if approval.first_approved_by_id == actor.pk:
        return SecondApproverRequired(
            approval,
            f"You gave the first approval at {when(approval.first_approved_at)}; this order needs a second "
            "approval by a different operator.",
        )
    return ApprovalNotPending(approval, "The approval changed while you decided; reload it and decide again.")


def approval_deliver(*, approval: Approval, source: str = AuditEntry.Source.SYSTEM) -> Approval:
    """Send a recorded decision to Step Functions (at most once successfully).

    The task output (approve) carries who approved and their notes, both approvers for a
    four-eyes order; the failure (reject) carries the reason as its cause.

    A task that is no longer open turns the approval expired/closed/invalid and fails the
    order if it had been approved. Transient AWS errors propagate; the decision stays
    recorded and undelivered, so delivery can be retried (the sweep does).
    """
    if approval.delivered_at or approval.status not in {Approval.Status.APPROVED, Approval.Status.REJECTED}:
        return approval
    actor = approval.decided_by
    actor_name = actor.get_username() if actor else ""
    approvers = []
    try:
        if approval.status == Approval.Status.APPROVED:
            output: dict[str, Any] = {"approved": True, "approvedBy": actor_name, "note": approval.reason}
            if approval.required_approvals > 1:
                first = approval.first_approved_by
                approvers = [first.get_username() if first else "", actor_name]
                output["approvals"] = [
                    {"by": approvers[0], "at": _iso(approval.first_approved_at), "note": approval.first_note},
                    {"by": actor_name, "at": _iso(approval.decided_at), "note": approval.reason},
                ]
            request_id = sfn.send_task_success(task_token=approval.task_token, output=output)
        else:
            request_id = sfn.send_task_failure(
                task_token=approval.task_token,
                error="OrderRejected",
                cause=f"Rejected by {actor_name}: {approval.reason}",
            )
    except sfn.TaskNotOpen as exc:
        return _approval_task_gone(approval=approval, exc=exc)
    with transaction.atomic():
        approval.delivered_at = timezone.now()
        approval.aws_request_id = request_id
        approval.save(update_fields=["delivered_at", "aws_request_id"])
        after = {"status": approval.status, "order": str(approval.order_id)}
        if approvers:
            after["approvers"] = approvers
        audit_record(
            action="approval.approve" if approval.status == Approval.Status.APPROVED else "approval.reject",
            obj=approval,
            actor=actor,
            source=source,
            reason=approval.reason,
            before={"status": Approval.Status.PENDING},
            after=after,
            aws_request_id=request_id,
        )
    return approval


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _approval_task_gone(*, approval: Approval, exc: sfn.TaskNotOpen) -> Approval:
    status = {
        "expired": Approval.Status.EXPIRED,
        "invalid": Approval.Status.INVALID,
    }.get(exc.status, Approval.Status.CLOSED)
    decision = approval.status
    with transaction.atomic():
        approval.status = status
        approval.outcome_detail = (
            f"{decision.title()} by {approval.decided_by or 'someone'}, but Step Functions "
            f"answered {exc.aws_code}: the task is no longer open, so nothing was resumed."
        )
        approval.save(update_fields=["status", "outcome_detail"])
        if decision == Approval.Status.APPROVED:
            order = Order.objects.get(pk=approval.order_id)
            if order.status == OrderStatus.APPROVED:
                order_transition(
                    order_id=order.pk,
                    to_status=OrderStatus.FAILED,
                    reason=f"Approval task no longer open ({exc.aws_code})",
                )
        audit_record(
            action="approval.task_not_open",
            obj=approval,
            actor=approval.decided_by,
            reason=approval.outcome_detail,
            before={"status": decision},
            after={"status": status},
        )
    raise ApprovalNotPending(approval, approval.outcome_detail)


def _refuse_if_not_open(approval: Approval) -> None:
    """Refuse, without calling AWS, a decision we already know cannot be delivered."""
    if approval.status != Approval.Status.PENDING:
        raise ApprovalNotPending(approval, not_pending_message(approval))
    if approval.expires_at and approval.expires_at <= timezone.now():
        Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=Approval.Status.EXPIRED, outcome_detail="The approval's task timed out."
        )
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, not_pending_message(approval))
    if approval.execution and not approval.execution.is_open:
        Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=Approval.Status.CLOSED,
            outcome_detail=f"The execution has ended ({approval.execution.status}).",
        )
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, not_pending_message(approval))
