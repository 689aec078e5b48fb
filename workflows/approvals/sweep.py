"""The approvals' sweep (scheduled): pending approvals whose task timed out or whose
execution ended are closed, heartbeats are sent for tasks that ask for them, and decisions
a transient error left undelivered are delivered again."""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from workflows import sfn
from workflows.approvals.decisions import approval_deliver
from workflows.approvals.rules import ApprovalNotPending, when
from workflows.executions import execution_refresh
from workflows.models import Approval

logger = logging.getLogger(__name__)

# How often a pending approval without heartbeats has its execution described.
_CHECK_EVERY = timedelta(minutes=5)
# A decision recorded but not delivered this long ago is delivered again.
_REDELIVER_AFTER = timedelta(seconds=30)


def approval_sweep(*, now=None, limit: int = 200) -> dict[str, int]:
    """Scheduled: mark pending approvals whose timeout passed (EXPIRED) or whose execution
    ended (CLOSED), send heartbeats for tasks with HeartbeatSeconds, and deliver decisions
    a transient error left undelivered. Each approval is handled on its own: one failure
    is logged and the rest go on. Returns counts per outcome."""
    now = now or timezone.now()
    counts = {"expired": 0, "closed": 0, "heartbeats": 0, "checked": 0, "redelivered": 0, "errors": 0}

    for approval in Approval.objects.filter(status=Approval.Status.PENDING, expires_at__lte=now)[:limit]:
        if _approval_close_undecided(
            approval=approval,
            status=Approval.Status.EXPIRED,
            detail=f"The approval's task timed out at {when(approval.expires_at)}: the workflow stopped waiting.",
        ):
            counts["expired"] += 1

    pending = (
        Approval.objects.filter(status=Approval.Status.PENDING)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("execution")
        .order_by("checked_at", "id")
    )
    for approval in pending[:limit]:
        try:
            if approval.heartbeat_seconds:
                due = (approval.checked_at or approval.requested_at) + timedelta(
                    seconds=max(approval.heartbeat_seconds // 3, 1)
                )
                if due > now:
                    continue
                counts[_approval_heartbeat(approval=approval, now=now)] += 1
            elif approval.execution and approval.execution.arn:
                if (approval.checked_at or approval.requested_at) + _CHECK_EVERY > now:
                    continue
                counts[_approval_check_execution(approval=approval, now=now)] += 1
        except Exception:
            logger.exception("sweep: approval %s could not be checked", approval.pk)
            counts["errors"] += 1

    undelivered = Approval.objects.filter(
        status__in=[Approval.Status.APPROVED, Approval.Status.REJECTED],
        delivered_at__isnull=True,
        decided_at__lte=now - _REDELIVER_AFTER,
    ).select_related("order", "decided_by", "first_approved_by")
    for approval in undelivered[:limit]:
        try:
            approval_deliver(approval=approval, source=AuditEntry.Source.SYSTEM)
            counts["redelivered"] += 1
        except ApprovalNotPending:
            counts["closed"] += 1
        except Exception:
            logger.exception("sweep: the decision on approval %s is still undelivered", approval.pk)
            counts["errors"] += 1
    return counts


def _approval_heartbeat(*, approval: Approval, now) -> str:
    try:
        sfn.send_task_heartbeat(task_token=approval.task_token)
    except sfn.TaskNotOpen as exc:
        status = {"expired": Approval.Status.EXPIRED, "invalid": Approval.Status.INVALID}.get(
            exc.status, Approval.Status.CLOSED
        )
        _approval_close_undecided(
            approval=approval,
            status=status,
            detail=f"Step Functions answered {exc.aws_code} to a heartbeat: the workflow no longer waits for it.",
        )
        return "closed" if status != Approval.Status.EXPIRED else "expired"
    Approval.objects.filter(pk=approval.pk).update(checked_at=now)
    return "heartbeats"


def _approval_check_execution(*, approval: Approval, now) -> str:
    execution = execution_refresh(execution=approval.execution)
    if execution.is_open:
        Approval.objects.filter(pk=approval.pk).update(checked_at=now)
        return "checked"
    detail = f"The execution has ended ({execution.status}{': ' + execution.error if execution.error else ''})."
    _approval_close_undecided(approval=approval, status=Approval.Status.CLOSED, detail=detail)
    return "closed"


def _approval_close_undecided(*, approval: Approval, status: str, detail: str) -> bool:
    """Mark a still-pending approval as no longer decidable (nothing is sent to AWS)."""
    with transaction.atomic():
        closed = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=status, outcome_detail=detail, claimed_by=None, claimed_at=None
        )
        if closed:
            audit_record(
                action=f"approval.{status.lower()}",
                obj=approval,
                reason=detail,
                before={"status": Approval.Status.PENDING},
                after={"status": status},
            )
    return bool(closed)
