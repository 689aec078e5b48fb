"""Restarting a failed, timed out or aborted execution: redriven from its failed step where
the engine can, otherwise a new execution with the same input."""

import json
import logging

from django.db import transaction
from django.utils import timezone

from console.aws import resources
from console.models import AuditEntry
from console.platform.audit import audit_record
from orders.lifecycle import OrderStatus
from orders.services import order_transition
from workflows import sfn
from workflows.executions import execution_refresh
from workflows.models import Execution

logger = logging.getLogger(__name__)


class ExecutionNotRestartable(Exception):
    """The execution (or its order) cannot be restarted; the message says why."""


RESTARTABLE_STATUSES = {Execution.Status.FAILED, Execution.Status.TIMED_OUT, Execution.Status.ABORTED}


def execution_restart(
    *, execution_id: int, actor, reason: str = "", source: str = AuditEntry.Source.CONSOLE
) -> Execution:
    """Restart a failed, timed out or aborted execution; returns the execution now running.

    RedriveExecution continues an execution from its unsuccessful step, where the engine
    has it (AWS). When that step is one of the definition's own Fail states (the failure
    was already handled: recorded, compensated), redriving would only fail again; and the
    local engine has no RedriveExecution. In those cases a new execution starts with the
    same input, named ``<name>-restart-<n>`` and linked to this one. An order-processing
    restart starts the failed order over (FAILED -> CREATED) first. Audited either way.

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

    if not designed_end:
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
    with transaction.atomic():
        restarted = Execution.objects.create(
            order=order,
            name=name,
            state_machine=execution.state_machine,
            restarted_from=execution,
            restart_method="new-execution",
        )
        if is_order_processing:
            order_transition(
                order_id=order.pk,
                to_status=OrderStatus.CREATED,
                actor=actor,
                source=source,
                reason=f"Workflow restarted ({name}){': ' + reason if reason else ''}",
            )
    try:
        arn = sfn.start_execution(
            state_machine_arn=described["stateMachineArn"],
            name=name,
            payload=json.loads(described.get("input") or "{}"),
        )
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
            after={"method": "new-execution", "newExecution": name, "newExecutionArn": arn},
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
