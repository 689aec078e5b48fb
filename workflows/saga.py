"""The order saga (the seed's section 4.2): reserve inventory, take payment, confirm, and
on a failure undo what was done, in reverse order (refund the payment, then release the
inventory). Each step is an SQS callback task like the order workflow's, answered by
``workflows.handlers.saga_tasks``; a step runs once per task (``step_task_run``).

Failure drills: an execution input ``{"drill": {"failAt": "<step>"}}`` makes that step fail
with ``DrillFailure``, to exercise the compensations; honoured only where
``SAGA_FAILURE_DRILLS`` is on (locally, in tests), refused when starting one elsewhere.
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.aws import resources
from console.models import AuditEntry
from console.platform.audit import audit_record
from orders.models import Order, StockLevel
from workflows import sfn
from workflows.models import Execution, StepRun
from workflows.steps import StepFailed

SAGA = "order-saga"
FORWARD_STEPS = ["ReserveInventory", "ProcessPayment", "ConfirmOrder"]
COMPENSATIONS = ["RollbackPayment", "RollbackInventory"]


class DrillsDisabled(Exception):
    pass


def _drill(step: str, message: dict[str, Any]) -> None:
    if message.get("failAt") == step and settings.SAGA_FAILURE_DRILLS:
        raise StepFailed("DrillFailure", f"Failure drill: {step} failed on purpose")


def reserve_inventory(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    """Take the ordered units out of tracked stock, all or nothing."""
    _drill("ReserveInventory", message)
    reserved = []
    with transaction.atomic():
        for item in order.items.all():
            taken = StockLevel.objects.filter(product_id=item.product_id, available__gte=item.quantity).update(
                available=F("available") - item.quantity
            )
            if taken:
                reserved.append({"productId": item.product_id, "quantity": item.quantity})
            elif StockLevel.objects.filter(product_id=item.product_id).exists():
                transaction.set_rollback(True)
                raise StepFailed("InsufficientStock", f"not enough {item.product_id} in stock for {item.quantity}")
    return {"reserved": reserved}


def process_payment(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    _drill("ProcessPayment", message)
    return {"paymentReference": f"saga-pay-{order.pk}", "amount": float(order.total)}


def confirm_order(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    _drill("ConfirmOrder", message)
    return {"confirmed": True}


def rollback_payment(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    """Refund what ProcessPayment took (recorded in its output)."""
    payment = _forward_output(message, "ProcessPayment")
    return {"refunded": payment.get("paymentReference"), "amount": payment.get("amount")}


def rollback_inventory(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    """Put back exactly what ReserveInventory took (recorded in its output)."""
    reserved = _forward_output(message, "ReserveInventory").get("reserved", [])
    with transaction.atomic():
        for line in reserved:
            StockLevel.objects.filter(product_id=line["productId"]).update(available=F("available") + line["quantity"])
    return {"released": reserved}


def _forward_output(message: dict[str, Any], step: str) -> dict[str, Any]:
    run = (
        StepRun.objects.filter(
            execution__arn=message.get("executionArn", ""), step=step, status=StepRun.Status.SUCCEEDED
        )
        .order_by("-finished_at")
        .first()
    )
    return (run.output or {}) if run else {}


SAGA_STEPS = {
    "ReserveInventory": reserve_inventory,
    "ProcessPayment": process_payment,
    "ConfirmOrder": confirm_order,
    "RollbackPayment": rollback_payment,
    "RollbackInventory": rollback_inventory,
}


def saga_start(
    *, order_id, actor=None, fail_at: str | None = None, source: str = AuditEntry.Source.CONSOLE
) -> Execution:
    """Start the order saga for an order (optionally a failure drill at ``fail_at``)."""
    if fail_at and not settings.SAGA_FAILURE_DRILLS:
        raise DrillsDisabled("Failure drills are off here (SAGA_FAILURE_DRILLS).")
    if fail_at and fail_at not in FORWARD_STEPS:
        raise ValueError(f"fail_at must be one of {', '.join(FORWARD_STEPS)}")
    order = Order.objects.get(pk=order_id)
    number = Execution.objects.filter(order=order, state_machine=SAGA).count() + 1
    name = f"saga-{order.pk}-{number}"
    with transaction.atomic():
        execution = Execution.objects.create(order=order, name=name, state_machine=SAGA)
        audit_record(
            action="saga.start",
            obj=execution,
            actor=actor,
            source=source,
            after={"order": str(order.pk), "failAt": fail_at},
        )
    arn = sfn.start_execution(
        state_machine_arn=resources.state_machine_arn(SAGA),
        name=name,
        payload={"orderId": str(order.pk), "total": float(order.total), "drill": {"failAt": fail_at}},
    )
    Execution.objects.filter(pk=execution.pk).update(
        arn=arn, status=Execution.Status.RUNNING, started_at=timezone.now()
    )
    execution.refresh_from_db()
    return execution
