"""Stopping a running execution, with the operator's reason.

StopExecution where the engine supports it: standard workflows (express ones cannot be
stopped). The order of an order-processing execution fails with the reason at once, so it
is never left waiting for a workflow that will not come back (a restart from the failed
step takes it on from there), and the execution's pending approvals close.

The engines differ: AWS ends the execution at once (ABORTED) and a task token it waited
on stops working; the local engine accepts the stop but ends the execution only when the
task it waits on is answered (FAILED, with the stop's error, following no Catch). So the
open tasks are answered too: the approvals' tokens are failed here, and a step task still
on its way is refused by the step handler (``workflows.step_tasks``) instead of run. On
AWS those answers find the task closed and are dropped; locally they end the execution.
"""

import logging

from django.db import transaction
from django.utils import timezone

from console.aws import resources
from console.models import AuditEntry
from console.platform.audit import audit_record
from orders.lifecycle import InvalidTransition, OrderStatus, is_open
from orders.services import order_transition
from workflows import sfn
from workflows.executions import execution_refresh
from workflows.models import Approval, Execution

logger = logging.getLogger(__name__)

# The error a stopped execution ends with (AWS records it; the step handler answers it).
STOP_ERROR = "ExecutionStopped"


class ExecutionNotStoppable(Exception):
    """The execution cannot be stopped; the message says why."""


def execution_can_stop(execution: Execution) -> bool:
    """Whether the engine supports stopping this execution now (running, standard, not
    already asked to stop)."""
    return (
        execution.status == Execution.Status.RUNNING
        and bool(execution.arn)
        and ":express:" not in execution.arn
        and execution.stop_requested_at is None
    )


def execution_stop(*, execution_id: int, actor, reason: str, source: str = AuditEntry.Source.CONSOLE) -> Execution:
    """Stop a running execution with ``reason`` (required). Returns the execution as now
    recorded: ABORTED where the engine ended it at once, else still RUNNING with the stop
    requested (the local engine ends it once its open task is answered; the sweep and the
    page record that).

    Raises ``ExecutionNotStoppable`` with the reason, ``sfn.StepFunctionsUnavailable`` (nothing
    was stopped) and ``sfn.ExecutionNotFound``.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ExecutionNotStoppable("Say why the execution is stopped: the reason is kept with the order.")
    execution = Execution.objects.select_related("order").get(pk=execution_id)
    if execution.arn:
        execution = execution_refresh(execution=execution)
    if execution.stop_requested_at is not None:
        raise ExecutionNotStoppable(
            f"A stop was already requested at {execution.stop_requested_at:%Y-%m-%d %H:%M:%S}; "
            "the engine ends the execution once the task it waits on is answered."
        )
    if execution.status != Execution.Status.RUNNING or not execution.arn:
        raise ExecutionNotStoppable(f"Only running executions can be stopped; this one is {execution.status}.")
    if ":express:" in execution.arn:
        raise ExecutionNotStoppable("Express workflows cannot be stopped: they run to their end.")

    who = actor.get_username() if actor is not None else "the system"
    cause = f"Stopped by {who}: {reason}"
    before = {"status": execution.status, "state": execution.current_state}
    request_id = sfn.stop_execution(execution_arn=execution.arn, error=STOP_ERROR, cause=cause)
    described = sfn.describe_execution(execution_arn=execution.arn)
    now = timezone.now()
    with transaction.atomic():
        fields = {"stop_requested_at": now, "stop_reason": reason, "error": STOP_ERROR, "cause": cause}
        if described["status"] != Execution.Status.RUNNING:
            fields |= {"status": described["status"], "stopped_at": described.get("stopDate") or now}
        Execution.objects.filter(pk=execution.pk).update(**fields)
        tokens = _close_pending_approvals(execution=execution, detail=cause)
        order_outcome = _fail_order(execution=execution, actor=actor, source=source, reason=cause)
        audit_record(
            action="execution.stop",
            obj=execution,
            actor=actor,
            source=source,
            reason=reason,
            before=before,
            after={"status": fields.get("status", "STOP_REQUESTED"), "order": order_outcome},
            aws_request_id=request_id,
        )
        transaction.on_commit(lambda: _fail_open_tasks(tokens, cause))
    execution.refresh_from_db()
    return execution


def _close_pending_approvals(*, execution: Execution, detail: str) -> list[str]:
    pending = list(Approval.objects.filter(execution=execution, status=Approval.Status.PENDING))
    for approval in pending:
        Approval.objects.filter(pk=approval.pk).update(
            status=Approval.Status.CLOSED, outcome_detail=detail, claimed_by=None, claimed_at=None
        )
        audit_record(
            action="approval.closed",
            obj=approval,
            reason=detail,
            before={"status": Approval.Status.PENDING},
            after={"status": Approval.Status.CLOSED},
        )
    return [approval.task_token for approval in pending]


def _fail_order(*, execution: Execution, actor, source: str, reason: str) -> str:
    """An order-processing execution's order fails with the reason, unless it is past that
    (completed, cancelled, ...). Returns what became of it, for the audit entry."""
    order = execution.order
    if not execution.state_machine.endswith(resources.ORDER_PROCESSING):
        return "unchanged (not its processing workflow)"
    if not is_open(order.status) or order.status == OrderStatus.COMPLETED:
        return f"unchanged ({order.status})"
    try:
        order_transition(order_id=order.pk, to_status=OrderStatus.FAILED, actor=actor, source=source, reason=reason)
    except InvalidTransition as exc:
        return f"unchanged ({exc})"
    return OrderStatus.FAILED


def _fail_open_tasks(tokens: list[str], cause: str) -> None:
    for token in tokens:
        try:
            sfn.send_task_failure(task_token=token, error=STOP_ERROR, cause=cause)
        except sfn.TaskNotOpen:
            pass  # AWS: the stop closed it already
        except Exception:
            # The stop stands (recorded, order failed); the local engine ends the
            # execution when this task times out instead.
            logger.exception("could not fail an open task of a stopped execution")
