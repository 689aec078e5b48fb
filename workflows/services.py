"""Workflow state changes: starting executions, running step tasks, and approvals.

Decisions on approvals happen once: a conditional update (``status = PENDING``) lets one
request claim the approval, and only that request calls Step Functions. The decision is
committed before the call, so the workflow's next step always finds the order decided;
if the call fails for a transient reason, the recorded decision is delivered again later.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from console import resources
from console.audit import audit_record
from console.models import AuditEntry
from orders.lifecycle import InvalidTransition, OrderStatus
from orders.models import Order
from orders.services import order_transition
from workflows import sfn
from workflows.models import Approval, Execution, StepRun, token_digest
from workflows.steps import STEPS, TERMINAL_STEPS, StepFailed

logger = logging.getLogger(__name__)


# --- Executions -------------------------------------------------------------------------


def execution_name(order_id: UUID) -> str:
    return f"order-{order_id}"


def workflow_enqueue_start(*, order_id: UUID) -> None:
    """Hand the start of an order's workflow to a background job (after commit).

    If the job cannot be queued, the order is already saved and stays CREATED without an
    execution; ``workflow_start_missing`` (scheduled) starts it later. The caller's
    request does not fail for it.
    """
    from workflows.tasks import order_workflow_start

    try:
        order_workflow_start.delay(str(order_id))
    except Exception:
        logger.exception("could not queue the workflow start of order %s; the sweep will start it", order_id)


def workflow_start_missing(*, older_than_seconds: int = 60) -> int:
    """Start the workflow of orders that have none yet (their start job was lost).
    Returns how many it started."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    orders = Order.objects.filter(
        status=OrderStatus.CREATED, created_at__lt=cutoff, executions__isnull=True
    ).values_list("pk", flat=True)[:500]
    started = 0
    for order_id in orders:
        try:
            workflow_start(order_id=order_id)
            started += 1
        except Exception:
            logger.exception("could not start the workflow of order %s", order_id)
    return started


def workflow_start(*, order_id: UUID) -> Execution:
    """Start the order's execution. Safe to repeat: the name is deterministic, so a second
    start finds the first execution instead of starting another."""
    order = Order.objects.get(pk=order_id)
    state_machine_arn = resources.state_machine_arn(resources.ORDER_PROCESSING)
    name = execution_name(order.pk)
    execution, _ = Execution.objects.get_or_create(
        name=name, defaults={"order": order, "state_machine": resources.ORDER_PROCESSING}
    )
    if execution.arn:
        return execution
    arn = sfn.start_execution(
        state_machine_arn=state_machine_arn,
        name=name,
        payload={
            "orderId": str(order.pk),
            "userId": order.user_id,
            "total": float(order.total),
            "policy": {
                "approvalTimeoutSeconds": settings.WORKFLOW_APPROVAL_TIMEOUT_SECONDS,
                "inventoryRecheckSeconds": settings.WORKFLOW_INVENTORY_RECHECK_SECONDS,
            },
        },
    )
    Execution.objects.filter(pk=execution.pk).update(
        arn=arn, status=Execution.Status.RUNNING, started_at=timezone.now()
    )
    execution.refresh_from_db()
    return execution


def execution_for_message(*, order: Order, execution_arn: str) -> Execution:
    """Our record of the execution a task message came from (made if we never saw it)."""
    name = execution_arn.rsplit(":", 1)[-1]
    execution, created = Execution.objects.get_or_create(
        name=name,
        defaults={
            "order": order,
            "arn": execution_arn,
            "state_machine": execution_arn.rsplit(":", 2)[-2],
            "status": Execution.Status.RUNNING,
            "started_at": timezone.now(),
        },
    )
    if not created and (not execution.arn or execution.status == Execution.Status.PENDING):
        Execution.objects.filter(pk=execution.pk).update(arn=execution_arn, status=Execution.Status.RUNNING)
        execution.refresh_from_db()
    return execution


def execution_refresh(*, execution: Execution) -> Execution:
    """Bring our record in line with what Step Functions says now."""
    if not execution.arn:
        return execution
    described = sfn.describe_execution(execution_arn=execution.arn)
    execution.status = described["status"]
    execution.stopped_at = described.get("stopDate")
    execution.error = described.get("error", "")[:256]
    execution.cause = described.get("cause", "")
    if execution.status == Execution.Status.RUNNING:
        execution.current_state = sfn.current_state(execution_arn=execution.arn) or execution.current_state
    execution.save(update_fields=["status", "stopped_at", "error", "cause", "current_state", "updated_at"])
    return execution


# --- Step tasks -------------------------------------------------------------------------


@dataclass
class TaskMessage:
    """The body the state machine sends with each callback task."""

    step: str
    order_id: str
    task_token: str
    execution_arn: str
    raw: dict[str, Any]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> "TaskMessage":
        missing = [key for key in ("step", "orderId", "taskToken", "executionArn") if not body.get(key)]
        if missing:
            raise ValueError(f"task message lacks {', '.join(missing)}")
        return cls(body["step"], body["orderId"], body["taskToken"], body["executionArn"], body)


def step_task_run(*, message: TaskMessage) -> StepRun:
    """Run one step task and answer Step Functions.

    At-least-once delivery is expected: the run is keyed by its task token, so a redelivered
    message never runs the step twice; it re-sends the recorded answer if that was not
    acknowledged. A task that is no longer open (timed out, execution gone) is recorded
    and dropped. Any other exception propagates, so the message is retried and, in the end,
    lands in the dead-letter queue.
    """
    step_function = STEPS.get(message.step)
    if step_function is None:
        raise ValueError(f"unknown workflow step {message.step!r}")
    order = Order.objects.get(pk=message.order_id)
    execution = execution_for_message(order=order, execution_arn=message.execution_arn)
    digest = token_digest(message.task_token)

    with transaction.atomic():
        run, created = StepRun.objects.select_for_update().get_or_create(
            token_sha256=digest, defaults={"execution": execution, "step": message.step}
        )
        if run.status == StepRun.Status.STARTED:
            Execution.objects.filter(pk=execution.pk).update(current_state=message.step)
            try:
                with transaction.atomic():
                    run.output = step_function(order, message.raw)
                    run.status = StepRun.Status.SUCCEEDED
            except StepFailed as failure:
                run.status, run.error, run.cause = StepRun.Status.FAILED, failure.error, failure.cause
            except InvalidTransition as exc:
                run.status, run.error, run.cause = StepRun.Status.FAILED, "InvalidOrderState", str(exc)
            run.finished_at = timezone.now()
            run.save()

    if run.answered_at is None:
        _step_answer(run=run, message=message, execution=execution)
    return run


def _step_answer(*, run: StepRun, message: TaskMessage, execution: Execution) -> None:
    try:
        if run.status == StepRun.Status.SUCCEEDED:
            sfn.send_task_success(task_token=message.task_token, output=run.output or {})
        else:
            sfn.send_task_failure(task_token=message.task_token, error=run.error, cause=run.cause)
    except sfn.TaskNotOpen as exc:
        logger.warning("step %s of %s: task no longer open (%s)", run.step, execution.name, exc.aws_code)
        run.error = run.error or exc.aws_code
        run.cause = run.cause or f"Task no longer open: {exc}"
    run.answered_at = timezone.now()
    run.save(update_fields=["answered_at", "error", "cause"])
    terminal = TERMINAL_STEPS.get(run.step)
    if terminal and run.status == StepRun.Status.SUCCEEDED:
        Execution.objects.filter(pk=execution.pk).update(status=terminal, stopped_at=timezone.now())


# --- Approvals --------------------------------------------------------------------------


class ApprovalNotPending(Exception):
    """The approval cannot be decided (already decided, expired, closed, cancelled)."""

    def __init__(self, approval: Approval, message: str):
        self.approval = approval
        super().__init__(message)


class ReasonRequired(ValueError):
    pass


def approval_request(*, message: TaskMessage) -> Approval:
    """Store a pending approval for the task in ``message`` (idempotent per task token)."""
    order = Order.objects.get(pk=message.order_id)
    execution = execution_for_message(order=order, execution_arn=message.execution_arn)
    entered = parse_datetime(message.raw.get("enteredTime") or "") or timezone.now()
    timeout = message.raw.get("timeoutSeconds")
    expires_at = entered + timedelta(seconds=int(timeout)) if timeout else None
    try:
        with transaction.atomic():
            approval = Approval.objects.create(
                order=order,
                execution=execution,
                state_name=message.raw.get("stateName") or message.step,
                task_token=message.task_token,
                token_sha256=token_digest(message.task_token),
                expires_at=expires_at,
            )
            Execution.objects.filter(pk=execution.pk).update(current_state=approval.state_name)
            if order.status == OrderStatus.CANCELLED:
                _approval_cancel(approval=approval, reason=order.status_reason)
            else:
                order_transition(order_id=order.pk, to_status=OrderStatus.AWAITING_APPROVAL)
    except IntegrityError:
        # The same task delivered again: the approval already exists.
        return Approval.objects.get(token_sha256=token_digest(message.task_token))
    return approval


def approval_decide(
    *,
    approval_id: int,
    approve: bool,
    actor,
    reason: str = "",
    source: str = AuditEntry.Source.CONSOLE,
) -> Approval:
    """Approve or reject, once. Raises ``ApprovalNotPending`` (with a plain message) when the
    approval is not open for a decision, and ``ReasonRequired`` for a reject without reason.
    Only the request that claims the approval calls Step Functions."""
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ReasonRequired("A rejection needs a reason.")
    approval = Approval.objects.select_related("order", "execution").get(pk=approval_id)
    _refuse_if_not_open(approval)
    decided = Approval.Status.APPROVED if approve else Approval.Status.REJECTED
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
                status=decided, decided_by=actor, decided_at=now, reason=reason
            )
            if not claimed:
                approval.refresh_from_db()
                raise ApprovalNotPending(approval, _not_pending_message(approval))
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
    return approval_deliver(approval=approval, source=source)


def approval_deliver(*, approval: Approval, source: str = AuditEntry.Source.SYSTEM) -> Approval:
    """Send a recorded decision to Step Functions (at most once successfully).

    A task that is no longer open turns the approval expired/closed/invalid and fails the
    order if it had been approved. Transient AWS errors propagate; the decision stays
    recorded and undelivered, so delivery can be retried.
    """
    if approval.delivered_at or approval.status not in {Approval.Status.APPROVED, Approval.Status.REJECTED}:
        return approval
    actor = approval.decided_by
    actor_name = actor.get_username() if actor else ""
    try:
        if approval.status == Approval.Status.APPROVED:
            request_id = sfn.send_task_success(
                task_token=approval.task_token,
                output={"approved": True, "approvedBy": actor_name, "note": approval.reason},
            )
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
        audit_record(
            action="approval.approve" if approval.status == Approval.Status.APPROVED else "approval.reject",
            obj=approval,
            actor=actor,
            source=source,
            reason=approval.reason,
            before={"status": Approval.Status.PENDING},
            after={"status": approval.status, "order": str(approval.order_id)},
            aws_request_id=request_id,
        )
    return approval


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
        raise ApprovalNotPending(approval, _not_pending_message(approval))
    if approval.expires_at and approval.expires_at <= timezone.now():
        Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=Approval.Status.EXPIRED, outcome_detail="The approval's task timed out."
        )
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, _not_pending_message(approval))
    if approval.execution and not approval.execution.is_open:
        Approval.objects.filter(pk=approval.pk, status=Approval.Status.PENDING).update(
            status=Approval.Status.CLOSED,
            outcome_detail=f"The execution has ended ({approval.execution.status}).",
        )
        approval.refresh_from_db()
        raise ApprovalNotPending(approval, _not_pending_message(approval))


def _not_pending_message(approval: Approval) -> str:
    who = approval.decided_by.get_username() if approval.decided_by else None
    when = timezone.localtime(approval.decided_at).strftime("%Y-%m-%d %H:%M:%S %Z") if approval.decided_at else None
    match approval.status:
        case Approval.Status.APPROVED | Approval.Status.REJECTED:
            return f"Already {approval.status.lower()} by {who} at {when}; nothing was sent again."
        case Approval.Status.EXPIRED:
            return "This approval has expired: the workflow stopped waiting for it. Nothing was sent."
        case Approval.Status.CLOSED:
            return f"The workflow no longer waits for this approval. {approval.outcome_detail}".strip()
        case Approval.Status.INVALID:
            return "Step Functions does not recognise this approval's task token. Nothing was sent."
        case Approval.Status.CANCELLED:
            return "The order was cancelled; the approval was closed with it."
    return f"The approval is {approval.status.lower()}."


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
