"""What each workflow step does to an order. ``workflows.step_tasks`` runs them and answers
Step Functions with the returned output, or with the error of a ``StepFailed``.

Steps run once per task (the handler records each run), but also tolerate running again.
Payment, shipping and notification have no external provider in this project: their steps
record the outcome a provider integration would return.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F

from orders.lifecycle import OrderStatus
from orders.models import Order, StockLevel
from orders.services import order_transition
from workflows import compensations
from workflows.models import Execution, StepRun


class StepFailed(Exception):
    """A business failure the workflow should see as the task's error."""

    def __init__(self, error: str, cause: str):
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}")


def _ensure_not_cancelled(order: Order) -> None:
    if order.status == OrderStatus.CANCELLED:
        raise StepFailed("OrderCancelled", order.status_reason or "The order was cancelled")


def validate_order(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    _ensure_not_cancelled(order)
    items = list(order.items.all())
    problems = []
    if not items:
        problems.append("the order has no items")
    if any(item.quantity < 1 for item in items):
        problems.append("every item needs a quantity of at least 1")
    if any(item.price < 0 for item in items):
        problems.append("prices cannot be negative")
    if sum((item.line_total for item in items), Decimal("0")) != order.total:
        problems.append("the total does not match the items")
    limit = Decimal(settings.ORDER_VALIDATION_MAX_TOTAL)
    if order.total > limit:
        problems.append(f"the total {order.total} exceeds the limit of {limit}")
    if problems:
        raise StepFailed("ValidationError", "; ".join(problems))
    order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    return {"valid": True}


def check_inventory(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    _ensure_not_cancelled(order)
    wanted: dict[str, int] = {}
    for item in order.items.all():
        wanted[item.product_id] = wanted.get(item.product_id, 0) + item.quantity
    tracked = StockLevel.objects.filter(product_id__in=wanted).values_list("product_id", "available")
    shortages = [
        {"productId": product_id, "wanted": wanted[product_id], "available": available}
        for product_id, available in tracked
        if available < wanted[product_id]
    ]
    return {"inventoryAvailable": not shortages, "shortages": shortages}


def process_payment(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    _ensure_not_cancelled(order)
    order_transition(order_id=order.pk, to_status=OrderStatus.PAID)
    return {"paymentReference": f"pay-{order.pk}", "amount": float(order.total)}


def update_database(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    """Take the ordered units out of tracked stock, once per order: a workflow restarted
    from a failed fulfilment runs this branch again, and must not take them twice (unless
    a compensation put them back). Takes nothing once its execution compensates (another
    branch of the Parallel failed first): the compensation may have run already."""
    execution = Execution.objects.select_for_update().get(arn=message.get("executionArn", ""))
    if execution.compensation_status:
        raise StepFailed("Compensating", "The workflow is undoing the order: no stock is taken.")
    if compensations.stock_taken_and_kept(order_id=order.pk):
        return {"stockReserved": True, "alreadyTaken": True}
    taken = []
    with transaction.atomic():
        for item in order.items.all():
            StockLevel.objects.filter(product_id=item.product_id).update(available=F("available") - item.quantity)
            taken.append({"productId": item.product_id, "quantity": item.quantity})
    return {"stockReserved": True, "taken": taken}


def send_notification(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    recipient = getattr(settings, "ORDER_NOTIFICATION_EMAIL", "")
    if recipient:
        send_mail(
            subject=f"Order {order.pk} is on its way",
            message=f"Order {order.pk} for {order.user_id} ({order.total}) has been paid and shipped.",
            from_email=None,
            recipient_list=[recipient],
        )
    return {"notified": bool(recipient)}


def initiate_shipping(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    order_transition(order_id=order.pk, to_status=OrderStatus.SHIPPED)
    return {"trackingNumber": f"TRK-{str(order.pk)[:8].upper()}"}


def complete_order(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    order_transition(order_id=order.pk, to_status=OrderStatus.COMPLETED)
    return {"completed": True}


def record_failure(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    failure = message.get("failure") or {}
    error = failure.get("Error") or "Unknown"
    cause = failure.get("Cause") or _recorded_cause(message.get("executionArn", ""), error)
    if order.status not in {OrderStatus.FAILED, OrderStatus.CANCELLED, OrderStatus.REJECTED}:
        order_transition(order_id=order.pk, to_status=OrderStatus.FAILED, reason=f"{error}: {cause}".strip(": "))
    return {"recorded": True, "error": error}


def _recorded_cause(execution_arn: str, error: str) -> str:
    """The cause our own step recorded for ``error`` (the local engine drops the cause
    of SendTaskFailure from the error it hands to Catch; AWS keeps it)."""
    run = (
        StepRun.objects.filter(execution__arn=execution_arn, status=StepRun.Status.FAILED, error=error)
        .order_by("-finished_at")
        .first()
    )
    return run.cause if run else ""


def restock_inventory(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    """Compensation: put back the stock UpdateDatabase took (nothing if it took none)."""
    return {"restocked": compensations.compensation_restock(execution_id=_execution_id(message))}


def refund_payment(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    """Compensation, the last: refund what ProcessPayment took; the execution is compensated."""
    execution_id = _execution_id(message)
    refunds = compensations.compensation_refund(execution_id=execution_id)
    compensations.compensation_finish(execution_id=execution_id)
    return {"refunded": [refund["paymentReference"] for refund in refunds]}


def record_compensation_failure(order: Order, message: dict[str, Any]) -> dict[str, Any]:
    failure = message.get("failure") or {}
    error = failure.get("Error") or "Unknown"
    cause = failure.get("Cause") or _recorded_cause(message.get("executionArn", ""), error)
    compensations.compensation_failure_record(execution_id=_execution_id(message), error=error, cause=cause)
    return {"recorded": True, "error": error}


def _execution_id(message: dict[str, Any]) -> int:
    return Execution.objects.values_list("pk", flat=True).get(arn=message.get("executionArn", ""))


STEPS: dict[str, Callable[[Order, dict[str, Any]], dict[str, Any]]] = {
    "ValidateOrder": validate_order,
    "CheckInventory": check_inventory,
    "ProcessPayment": process_payment,
    "UpdateDatabase": update_database,
    "SendNotification": send_notification,
    "InitiateShipping": initiate_shipping,
    "CompleteOrder": complete_order,
    "RecordFailure": record_failure,
    "RestockInventory": restock_inventory,
    "RefundPayment": refund_payment,
    "RecordCompensationFailure": record_compensation_failure,
}

# Steps after which the execution ends, and how.
TERMINAL_STEPS = {"CompleteOrder": "SUCCEEDED", "RecordFailure": "FAILED", "RecordCompensationFailure": "FAILED"}

# Compensations, in the order the workflow runs them (the reverse of the steps they undo).
COMPENSATION_STEPS = ("RestockInventory", "RefundPayment")
