"""Writes to orders. Each function is one state change: atomic, audited, and it queues its
follow-up work with ``transaction.on_commit``."""

import logging
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from console.audit import audit_record
from console.context import current_request_id
from console.models import AuditEntry
from orders import lifecycle
from orders.lifecycle import OrderStatus
from orders.models import Order, OrderEvent, OrderItem

logger = logging.getLogger(__name__)

CENTS = Decimal("0.01")

# How often a status change re-reads and retries after losing an optimistic-lock race.
_MAX_ATTEMPTS = 5

# The event each status is reached by; other statuses are an OrderStatusChanged.
EVENT_TYPES = {
    OrderStatus.CREATED: "OrderCreated",
    OrderStatus.VALIDATED: "OrderValidated",
    OrderStatus.APPROVED: "OrderApproved",
    OrderStatus.REJECTED: "OrderRejected",
    OrderStatus.PAID: "OrderPaid",
    OrderStatus.SHIPPED: "OrderShipped",
    OrderStatus.COMPLETED: "OrderCompleted",
    OrderStatus.DELIVERED: "OrderDelivered",
    OrderStatus.FAILED: "OrderFailed",
    OrderStatus.CANCELLED: "OrderCancelled",
}


class ConcurrentUpdate(Exception):
    """Another writer changed the order between our read and our write, every time we tried."""


class StatusNotSettable(Exception):
    """The requested status is set by the workflow, not by clients."""

    def __init__(self, status: str):
        self.status = status
        super().__init__(
            f"{status} is set by the order workflow; clients may set only "
            f"{', '.join(sorted(lifecycle.CLIENT_SETTABLE))}."
        )


def order_create(
    *,
    user_id: str,
    items: list[dict[str, Any]],
    created_by=None,
    source: str = AuditEntry.Source.API,
    start_workflow: bool = True,
) -> Order:
    """Create an order with its items and start its workflow once the order is committed.

    ``items`` are dicts with product_id, name, quantity (>= 1) and price (>= 0), already
    validated by the caller.
    """
    items = [{**item, "price": Decimal(item["price"]).quantize(CENTS)} for item in items]
    total = sum((item["price"] * item["quantity"] for item in items), Decimal("0"))
    with transaction.atomic():
        order = Order.objects.create(user_id=user_id, total=total, created_by=created_by)
        order_items = OrderItem.objects.bulk_create(
            OrderItem(
                order=order,
                product_id=item["product_id"],
                name=item["name"],
                quantity=item["quantity"],
                price=item["price"],
            )
            for item in items
        )
        OrderEvent.objects.create(
            order=order,
            version=order.version,
            event_type=EVENT_TYPES[OrderStatus.CREATED],
            data={
                "status": order.status,
                "userId": user_id,
                "total": str(total),
                "items": [
                    {"productId": i.product_id, "name": i.name, "quantity": i.quantity, "price": str(i.price)}
                    for i in order_items
                ],
            },
            correlation_id=current_request_id() or str(order.pk),
            causation_id=current_request_id(),
            actor_name=_actor_name(created_by),
        )
        audit_record(
            action="order.create",
            obj=order,
            actor=created_by,
            source=source,
            after={"status": order.status, "total": str(total), "items": len(items)},
        )
        if start_workflow:
            from workflows.services import workflow_enqueue_start

            order_id = order.pk
            transaction.on_commit(lambda: workflow_enqueue_start(order_id=order_id))
    return order


def order_transition(
    *,
    order_id: UUID,
    to_status: str,
    actor=None,
    source: str = AuditEntry.Source.SYSTEM,
    reason: str = "",
    causation_id: str = "",
) -> Order:
    """Move an order to ``to_status`` if the lifecycle allows it, appending its event.

    Optimistic locking: the event takes version ``order.version + 1``; the unique
    (order, version) key lets only one of two concurrent writers append it. The loser
    re-reads the order and checks the lifecycle again (up to ``_MAX_ATTEMPTS`` times).

    Idempotent: an order already in ``to_status`` is returned unchanged, so a workflow step
    delivered twice does no harm. Raises ``InvalidTransition`` when the lifecycle forbids
    the change, ``Order.DoesNotExist`` for an unknown id, and ``ConcurrentUpdate`` if other
    writers keep winning.
    """
    for _attempt in range(_MAX_ATTEMPTS):
        order = Order.objects.get(pk=order_id)
        if order.status == to_status:
            return order
        lifecycle.check_transition(order.status, to_status)
        try:
            with transaction.atomic():
                event = _event_append(
                    order=order,
                    event_type=EVENT_TYPES.get(to_status, "OrderStatusChanged"),
                    data={"status": to_status, "previousStatus": order.status, "reason": reason},
                    actor=actor,
                    causation_id=causation_id,
                )
                updated = Order.objects.filter(pk=order.pk, version=order.version).update(
                    status=to_status, status_reason=reason, version=event.version, updated_at=timezone.now()
                )
                if not updated:
                    # A writer that bypassed the event log changed the row: treat as a lost race.
                    raise IntegrityError("order row changed without an event")
                audit_record(
                    action="order.status_change",
                    obj=order,
                    actor=actor,
                    source=source,
                    reason=reason,
                    before={"status": order.status, "version": order.version},
                    after={"status": to_status, "version": event.version},
                )
        except IntegrityError:
            logger.info("order %s changed under us; retrying %s", order_id, to_status)
            continue
        order.refresh_from_db()
        return order
    raise ConcurrentUpdate(f"order {order_id} kept changing; gave up setting {to_status}")


def _event_append(*, order: Order, event_type: str, data: dict, actor=None, causation_id: str = "") -> OrderEvent:
    """Append the order's next event; raises IntegrityError if that version is taken."""
    previous = OrderEvent.objects.filter(order=order).order_by("-version").only("id", "correlation_id").first()
    return OrderEvent.objects.create(
        order=order,
        version=order.version + 1,
        event_type=event_type,
        data=data,
        # The correlation id stays the one of the request that created the order, through
        # the whole workflow; the causation id is what caused this change.
        correlation_id=(previous.correlation_id if previous else "") or current_request_id() or str(order.pk),
        causation_id=causation_id or current_request_id() or (str(previous.id) if previous else ""),
        actor_name=_actor_name(actor),
    )


def _actor_name(actor) -> str:
    return actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""


def order_set_status(*, order_id: UUID, status: str, actor, reason: str = "") -> Order:
    """A REST client's status change: only the statuses clients own (see lifecycle)."""
    if status == OrderStatus.CANCELLED:
        return order_cancel(order_id=order_id, actor=actor, reason=reason, source=AuditEntry.Source.API)
    if status not in lifecycle.CLIENT_SETTABLE:
        raise StatusNotSettable(status)
    return order_transition(
        order_id=order_id, to_status=status, actor=actor, source=AuditEntry.Source.API, reason=reason
    )


def order_cancel(*, order_id: UUID, actor, reason: str = "", source: str = AuditEntry.Source.API) -> Order:
    """Cancel an order that has not been paid for, and end its workflow.

    The workflow ends at its next callback: a pending approval is failed with
    ``OrderCancelled`` right after commit, and any step that runs later finds the order
    cancelled and fails the same way. This works alike on AWS and the local engine (whose
    StopExecution does not stop anything).
    """
    from workflows.services import workflow_order_cancelled

    with transaction.atomic():
        order = order_transition(
            order_id=order_id,
            to_status=OrderStatus.CANCELLED,
            actor=actor,
            source=source,
            reason=reason or "Cancelled",
        )
        workflow_order_cancelled(order=order, actor=actor, reason=reason)
    return order
