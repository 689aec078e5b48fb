"""Executions: starting an order's workflow, our record of an execution, and keeping that
record in line with Step Functions.

Orders the API or an import submits are started by the batched starter
(``workflows.starts``); this module asks for those starts, starts one execution in this
process (restarts, redriven start jobs, the sweep's stragglers), and refreshes what we
know of executions (the order and execution pages, the sweep).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.utils import timezone

from console.aws import resources
from orders.lifecycle import InvalidTransition, OrderStatus, is_open
from orders.models import Order
from orders.services import order_transition
from workflows import sfn
from workflows.models import Execution
from workflows.starts import (
    StartPacer,
    execution_input,
    execution_name,
    requests_waiting,
    workflow_start_request,
    workflow_starts_follow_up,
    workflow_starts_run,
    workflow_starts_signal,
)

logger = logging.getLogger(__name__)


@dataclass
class TaskMessage:
    """The body the state machine sends with each callback task (steps and approvals)."""

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


# --- Starting -----------------------------------------------------------------------------------


def workflow_enqueue_start(*, order_id: UUID) -> None:
    """Ask for the start of an order's workflow; called after the order's commit.

    Records the start request and makes sure a starter runs (``workflows.starts``: no job
    per order). Never fails the caller: a request that could not be recorded leaves the
    order without an execution record, and ``workflow_start_missing`` (scheduled) starts
    it later.
    """
    try:
        workflow_start_request(order_ids=[order_id])
    except Exception:
        logger.exception("could not record the workflow start of order %s; the sweep will start it", order_id)
        return
    workflow_starts_signal()


# Orders without any execution record after this long: their request was lost (a crash
# between the order's commit and the request) or an import has not handed them on yet.
UNREQUESTED_AFTER_SECONDS = 60
# At most this many of those a run: an import hands its orders on at its own pace
# (CSV_IMPORT_WORKFLOW_STARTS_PER_SECOND), which the sweep must not overtake wholesale.
UNREQUESTED_PER_RUN = 500


def workflow_start_missing(
    *, older_than_seconds: int = UNREQUESTED_AFTER_SECONDS, deadline: float | None = None
) -> int:
    """Scheduled safety net: start every workflow that should be running by now. Returns
    how many it started.

    When start requests have waited longer than ``older_than_seconds`` (their starter died,
    its job was lost, or no signal got through; the live path starts them within seconds),
    the batched starter runs here over every waiting request, at
    ``WORKFLOW_STARTS_PER_SECOND``, until ``deadline`` (``time.monotonic()``); a
    continuation goes on after it. Orders with no execution record at all, older than
    ``older_than_seconds``, are started one by one, ``UNREQUESTED_PER_RUN`` a run.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    orders = Order.objects.filter(
        status=OrderStatus.CREATED, created_at__lt=cutoff, executions__isnull=True
    ).values_list("pk", flat=True)[:UNREQUESTED_PER_RUN]
    started = 0
    for order_id in orders:
        try:
            workflow_start(order_id=order_id)
            started += 1
        except Exception:
            logger.exception("could not start the workflow of order %s", order_id)
    if not requests_waiting().filter(created_at__lt=cutoff).exists():
        return started
    run = workflow_starts_run(deadline=deadline)
    workflow_starts_follow_up(run)
    return started + run.started


def workflow_start(*, order_id: UUID) -> Execution:
    """Start the order's execution now, in this process (restarts and single starts; orders
    the API creates go through the batched starter). Takes its token from the same
    budget. Safe to repeat: the name is deterministic, so a second start finds the first
    execution instead of starting another."""
    order = Order.objects.get(pk=order_id)
    state_machine_arn = resources.state_machine_arn(resources.ORDER_PROCESSING)
    name = execution_name(order.pk)
    execution, _ = Execution.objects.get_or_create(
        name=name, defaults={"order": order, "state_machine": resources.ORDER_PROCESSING}
    )
    if execution.arn:
        return execution
    StartPacer().acquire()
    arn = sfn.start_execution(state_machine_arn=state_machine_arn, name=name, payload=execution_input(order))
    Execution.objects.filter(pk=execution.pk).update(
        arn=arn, status=Execution.Status.RUNNING, started_at=timezone.now(), error=""
    )
    execution.refresh_from_db()
    return execution


# --- Our record -----------------------------------------------------------------------------------


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
    was = execution.status
    execution.status = described["status"]
    execution.stopped_at = described.get("stopDate")
    # The local engine forgets a stop's error and cause (and ends a stopped execution FAILED
    # once its open task is answered): keep the ones recorded with the stop.
    stopped_here = execution.stop_requested_at is not None and execution.status != Execution.Status.RUNNING
    execution.error = described.get("error", "")[:256] or (execution.error if stopped_here else "")
    execution.cause = described.get("cause", "") or (execution.cause if stopped_here else "")
    if execution.status == Execution.Status.RUNNING:
        execution.current_state = sfn.current_state(execution_arn=execution.arn) or execution.current_state
    execution.save(update_fields=["status", "stopped_at", "error", "cause", "current_state", "updated_at"])
    if execution.status == Execution.Status.ABORTED and was != Execution.Status.ABORTED and not stopped_here:
        _order_fail_after_outside_stop(execution=execution)
    return execution


def _order_fail_after_outside_stop(*, execution: Execution) -> None:
    """An order-processing execution stopped outside the console (the AWS console, the
    CLI): its order would wait for a workflow that will not come back, so it fails, saying
    so (a restart from the failed step takes it on)."""
    if not execution.state_machine.endswith(resources.ORDER_PROCESSING):
        return
    order = Order.objects.get(pk=execution.order_id)
    if order.status in {OrderStatus.FAILED, OrderStatus.COMPLETED} or not is_open(order.status):
        return
    said = ": ".join(part for part in (execution.error, execution.cause) if part) or "ABORTED"
    try:
        order_transition(
            order_id=order.pk,
            to_status=OrderStatus.FAILED,
            reason=f"The workflow was stopped outside the console ({said})",
        )
    except InvalidTransition:
        logger.warning("order %s of stopped %s could not be failed from %s", order.pk, execution.name, order.status)


def execution_sweep(*, limit: int = 50, older_than: timedelta = timedelta(minutes=1)) -> int:
    """Bring executions we still think are running in line with Step Functions (the ones
    not looked at for longest first). Returns how many ended."""
    ended = 0
    stale = Execution.objects.filter(status=Execution.Status.RUNNING, updated_at__lt=timezone.now() - older_than)
    for execution in stale.exclude(arn="").order_by("updated_at")[:limit]:
        try:
            execution = execution_refresh(execution=execution)
        except Exception:
            logger.exception("sweep: could not describe %s", execution.name)
            continue
        ended += not execution.is_open
    return ended
