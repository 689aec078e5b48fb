"""Approval requests: the workflow's approval task stored as a pending approval (and its
approvers emailed), and a pending approval closed with its cancelled order."""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from orders.lifecycle import OrderStatus
from orders.models import Order
from orders.services import order_transition
from workflows import sfn
from workflows.approvals import notifications
from workflows.approvals.rules import approval_required_count
from workflows.executions import TaskMessage, execution_for_message
from workflows.models import Approval, Execution, token_digest

logger = logging.getLogger(__name__)


def approval_request(*, message: TaskMessage) -> Approval:
    """Store a pending approval for the task in ``message`` (idempotent per task token),
    and email the approvers once it is committed."""
    order = Order.objects.get(pk=message.order_id)
    execution = execution_for_message(order=order, execution_arn=message.execution_arn)
    entered = parse_datetime(message.raw.get("enteredTime") or "") or timezone.now()
    timeout = message.raw.get("timeoutSeconds")
    expires_at = entered + timedelta(seconds=int(timeout)) if timeout else None
    heartbeat = message.raw.get("heartbeatSeconds")
    try:
        with transaction.atomic():
            approval = Approval.objects.create(
                order=order,
                execution=execution,
                state_name=message.raw.get("stateName") or message.step,
                task_token=message.task_token,
                token_sha256=token_digest(message.task_token),
                expires_at=expires_at,
                required_approvals=approval_required_count(total=order.total),
                heartbeat_seconds=int(heartbeat) if heartbeat else None,
                checked_at=entered,
            )
            Execution.objects.filter(pk=execution.pk).update(current_state=approval.state_name)
            if order.status == OrderStatus.CANCELLED:
                _approval_cancel(approval=approval, reason=order.status_reason)
            else:
                order_transition(order_id=order.pk, to_status=OrderStatus.AWAITING_APPROVAL)
                approval_id = approval.pk
                transaction.on_commit(lambda: _approval_notify_quietly(approval_id))
    except IntegrityError:
        # The same task delivered again: the approval already exists.
        return Approval.objects.get(token_sha256=token_digest(message.task_token))
    return approval


def _approval_notify_quietly(approval_id: int) -> None:
    try:
        notifications.approval_notify(approval_id=approval_id)
    except Exception:
        # The approval is stored and in the inbox; a lost email must not lose the task.
        logger.exception("could not email the approvers of approval %s", approval_id)


def _approval_cancel(*, approval: Approval, reason: str) -> None:
    """Close a pending approval with its order and fail the task after commit."""
    claimed = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
        status=Approval.Status.CANCELLED, outcome_detail=reason or "Order cancelled"
    )
    if not claimed:
        return
    token = approval.task_token

    def fail_task() -> None:
        try:
            sfn.send_task_failure(task_token=token, error="OrderCancelled", cause=reason or "Order cancelled")
        except sfn.TaskNotOpen:
            pass
        except Exception:
            # The workflow will still end: its approval task times out into RecordFailure.
            logger.exception("could not fail the approval task of a cancelled order")

    transaction.on_commit(fail_task)


def workflow_order_cancelled(*, order: Order, actor=None, reason: str = "") -> None:
    """End the workflow of a cancelled order at its pending approval, if it has one."""
    for approval in Approval.objects.filter(order=order, status=Approval.Status.PENDING):
        _approval_cancel(approval=approval, reason=reason or "Order cancelled")
