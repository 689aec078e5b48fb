"""Restarting a failed, timed out or aborted execution from its failed step.

An order's processing workflow restarts as a new execution that resumes at the failed
step: its input names the state (``resume.from``) and the definition's first state, a
Choice, goes there, skipping the steps that had succeeded; the order is put back in the
status that step expects. This works alike on AWS and on the local engine (which has no
RedriveExecution), and also when the failure was already handled by the workflow
(recorded in RecordFailure, ended in a Fail state), which RedriveExecution would only
repeat. Other workflows (the saga) are redriven where the engine can, or start again
with the same input."""

import json
import logging

from django.db import transaction
from django.utils import timezone

from console.aws import resources
from console.models import AuditEntry
from console.platform.audit import audit_record
from orders.lifecycle import OrderStatus
from orders.services import order_transition
from workflows import selectors, sfn
from workflows.executions import execution_refresh
from workflows.graph import definition_graph
from workflows.models import Compensation, Execution

logger = logging.getLogger(__name__)


class ExecutionNotRestartable(Exception):
    """The execution (or its order) cannot be restarted; the message says why."""


RESTARTABLE_STATUSES = {Execution.Status.FAILED, Execution.Status.TIMED_OUT, Execution.Status.ABORTED}

# Where order processing may resume, and the status the order has when the workflow enters
# that state (the order is put back there first). They are the choices of the definition's
# first state, ResumeOrStart. A failure anywhere else (ValidateOrder) restarts from the start.
RESUMABLE_STATES = {
    "CheckInventory": OrderStatus.VALIDATED,
    "RequestApproval": OrderStatus.VALIDATED,
    "ProcessPayment": OrderStatus.APPROVED,
    "ParallelFulfillment": OrderStatus.PAID,
    "CompleteOrder": OrderStatus.SHIPPED,
}


def execution_resume_point(*, execution: Execution, definition: dict | None = None) -> str:
    """The state a restart of this order-processing execution resumes at: the top-level
    state around the first one that failed (a Parallel branch's step resumes its whole
    Parallel), if resumable; "" to start from the beginning."""
    if not execution.arn or not execution.state_machine.endswith(resources.ORDER_PROCESSING):
        return ""
    history = selectors.execution_history(execution_arn=execution.arn)
    failed = next((visit.name for visit in history.visits if visit.outcome in {"failed", "timed out"}), "")
    if not failed:
        return ""
    if definition is None:
        definition, _ = selectors.execution_definition(execution=execution)
    nodes = definition_graph(definition).nodes
    while failed in nodes and nodes[failed].container:
        failed = nodes[failed].container
    return failed if failed in RESUMABLE_STATES else ""


def execution_restart(
    *, execution_id: int, actor, reason: str = "", source: str = AuditEntry.Source.CONSOLE
) -> Execution:
    """Restart a failed, timed out or aborted execution; returns the execution now running.

    Order processing: a new execution named ``<name>-restart-<n>``, linked to this one,
    resumes at the failed step (``execution_resume_point``), the order first put back in
    the status that step expects (FAILED -> APPROVED before ProcessPayment, ...); a failure
    in ValidateOrder starts the order over (FAILED -> CREATED). Other workflows are
    redriven (RedriveExecution: AWS continues from the unsuccessful step) unless they ended
    in one of their own Fail states (the failure was handled, compensated: redriving would
    only fail again) or the engine has no redrive (the local one); then a new execution
    starts with the same input. Audited either way.

    Raises ``ExecutionNotRestartable`` with the reason, and ``sfn.StepFunctionsUnavailable``
    when AWS answers RedriveExecution with a server error or throttling: the execution may
    still be redrivable, so nothing is started and the order stays as it is.
    """
    execution = Execution.objects.select_related("order").get(pk=execution_id)
    if execution.arn:
        execution = execution_refresh(execution=execution)
    if execution.status not in RESTARTABLE_STATUSES:
        raise ExecutionNotRestartable(
            f"Only failed, timed out or aborted executions can be restarted; this one is {execution.status}."
        )
    if execution.restarts.exclude(status__in=RESTARTABLE_STATUSES | {Execution.Status.SUCCEEDED}).exists():
        raise ExecutionNotRestartable("A restart of this execution is already running.")
    described = sfn.describe_execution(execution_arn=execution.arn)
    designed_end = execution.error in _fail_state_errors(described["stateMachineArn"])
    is_order_processing = execution.state_machine.endswith(resources.ORDER_PROCESSING)
    order = execution.order
    if is_order_processing and order.status != OrderStatus.FAILED:
        raise ExecutionNotRestartable(
            f"The order is {order.status}: only the workflow of a failed order can be restarted."
        )

    if not designed_end and not is_order_processing:
        try:
            request_id = sfn.redrive_execution(execution_arn=execution.arn)
        except (sfn.RedriveUnsupported, sfn.ExecutionNotRedrivable) as exc:
            logger.info("redrive of %s not possible (%s); starting a new execution", execution.name, exc)
        else:
            with transaction.atomic():
                Execution.objects.filter(pk=execution.pk).update(
                    status=Execution.Status.RUNNING,
                    stopped_at=None,
                    error="",
                    cause="",
                    redrive_count=execution.redrive_count + 1,
                    restart_method="redrive",
                )
                audit_record(
                    action="execution.restart",
                    obj=execution,
                    actor=actor,
                    source=source,
                    reason=reason,
                    before={"status": execution.status, "error": execution.error},
                    after={"status": Execution.Status.RUNNING, "method": "redrive"},
                    aws_request_id=request_id,
                )
            execution.refresh_from_db()
            return execution

    # Restarts of restarts keep one numbering: order-<id>-restart-1, -2, ...
    root_name = execution.name.split("-restart-")[0]
    name = f"{root_name}-restart-{Execution.objects.filter(name__startswith=f'{root_name}-restart-').count() + 1}"
    payload = json.loads(described.get("input") or "{}")
    payload.pop("resume", None)
    resume_at = execution_resume_point(execution=execution) if is_order_processing else ""
    if (
        resume_at in {"ParallelFulfillment", "CompleteOrder"}
        and execution.compensations.filter(action=Compensation.Action.REFUND).exists()
    ):
        resume_at = "ProcessPayment"  # the payment was refunded: take it again
    if resume_at:
        payload["resume"] = {"from": resume_at, "execution": execution.name}
    with transaction.atomic():
        restarted = Execution.objects.create(
            order=order,
            name=name,
            state_machine=execution.state_machine,
            restarted_from=execution,
            restart_method="resume" if resume_at else "new-execution",
            resumed_at=resume_at,
        )
        if is_order_processing:
            where = f" from {resume_at}" if resume_at else ""
            order_transition(
                order_id=order.pk,
                to_status=RESUMABLE_STATES.get(resume_at, OrderStatus.CREATED),
                actor=actor,
                source=source,
                reason=f"Workflow restarted{where} ({name}){': ' + reason if reason else ''}",
            )
    try:
        arn = sfn.start_execution(state_machine_arn=described["stateMachineArn"], name=name, payload=payload)
    except Exception:
        with transaction.atomic():
            Execution.objects.filter(pk=restarted.pk).delete()
            if is_order_processing:
                order_transition(
                    order_id=order.pk, to_status=OrderStatus.FAILED, reason=order.status_reason or "Restart failed"
                )
        raise
    with transaction.atomic():
        Execution.objects.filter(pk=restarted.pk).update(
            arn=arn, status=Execution.Status.RUNNING, started_at=timezone.now()
        )
        audit_record(
            action="execution.restart",
            obj=execution,
            actor=actor,
            source=source,
            reason=reason,
            before={"status": execution.status, "error": execution.error},
            after={
                "method": "resume" if resume_at else "new-execution",
                "resumedAt": resume_at,
                "newExecution": name,
                "newExecutionArn": arn,
            },
        )
    restarted.refresh_from_db()
    return restarted


def _fail_state_errors(state_machine_arn: str) -> set[str]:
    """The errors of the definition's own Fail states (failures it ends on by design)."""
    definition = json.loads(sfn.describe_state_machine(state_machine_arn=state_machine_arn)["definition"])
    errors: set[str] = set()

    def collect(states: dict) -> None:
        for state in states.values():
            if state.get("Type") == "Fail" and state.get("Error"):
                errors.add(state["Error"])
            for branch in state.get("Branches", []):
                collect(branch.get("States", {}))

    collect(definition.get("States", {}))
    return errors
