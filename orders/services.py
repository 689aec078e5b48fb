"""Writes to orders. Each function is one state change: atomic, audited, and it queues its
follow-up work with ``transaction.on_commit``."""

import logging
import random
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from console.platform.context import current_request_id
from orders import lifecycle
from orders.events import ReplayError, order_created_data, order_created_event, order_differences, order_replay
from orders.lifecycle import OrderStatus
from orders.models import (
    ITEM_PRICE_MAX,
    ITEM_QUANTITY_MAX,
    ORDER_TOTAL_MAX,
    Order,
    OrderEvent,
    OrderItem,
)
from orders.outbox import publish_after_commit
from orders.signals import order_cancelled, orders_submitted

logger = logging.getLogger(__name__)

CENTS = Decimal("0.01")

# How often a change re-reads and retries after losing an optimistic-lock race. Between
# attempts it waits a random, growing while, so a crowd of writers spreads out instead of
# colliding on every version.
_MAX_ATTEMPTS = 8
_BACKOFF_SECONDS = 0.002
_BACKOFF_CAP_SECONDS = 0.05

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


class VersionConflict(ConcurrentUpdate):
    """The caller expected another version of the order (it changed since they read it)."""

    def __init__(self, order_id, expected: int, current: int):
        self.expected = expected
        self.current = current
        super().__init__(f"Order {order_id} is at version {current}, not {expected}: it changed since you read it.")


class AppendStats:
    """Optimistic-lock conflicts seen by this process (each is followed by a retry, unless
    the writer gave up). Read by the contention benchmark and useful as a metric."""

    def __init__(self):
        self._lock = threading.Lock()
        self.conflicts = 0
        self.gave_up = 0

    def add(self, *, conflicts: int = 0, gave_up: int = 0) -> None:
        with self._lock:
            self.conflicts += conflicts
            self.gave_up += gave_up

    def reset(self) -> None:
        with self._lock:
            self.conflicts = self.gave_up = 0


append_stats = AppendStats()


def _backoff(attempt: int) -> None:
    # "Full jitter": a random wait up to a doubling bound, capped so no writer sleeps long.
    time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_SECONDS * 2**attempt)))


class StatusNotSettable(Exception):
    """The requested status is set by the workflow, not by clients."""

    def __init__(self, status: str):
        self.status = status
        super().__init__(
            f"{status} is set by the order workflow; clients may set only "
            f"{', '.join(sorted(lifecycle.CLIENT_SETTABLE))}."
        )


class OrderAmountsInvalid(ValueError):
    """An order's amounts are outside the limits (``orders.models``): nothing was written.

    ``errors`` maps the field path of the request (``items``, ``items.3``,
    ``items.3.price``) to its messages, in the REST API's problem shape.
    """

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {' '.join(messages)}" for path, messages in errors.items()))


def order_amounts_check(*, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Decimal]:
    """The items with their prices rounded to cents, and the order's total; raises
    ``OrderAmountsInvalid`` naming every field out of bounds.

    Checks what the columns and their constraints would refuse, before anything is
    written: at least one item; quantity 1 to ``ITEM_QUANTITY_MAX``; price 0 to
    ``ITEM_PRICE_MAX``; each line's total (quantity x price) and the order's total at most
    ``ORDER_TOTAL_MAX``. Items are dicts with ``quantity`` and ``price`` (a Decimal, int
    or numeric string). Pure: writes nothing, so importers can check rows with it too.
    """
    errors: dict[str, list[str]] = {}
    if not items:
        errors["items"] = ["An order needs at least one item."]
    checked, total = [], Decimal("0")
    for index, item in enumerate(items):
        quantity, price = item.get("quantity"), _amount(item.get("price"))
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= ITEM_QUANTITY_MAX:
            errors[f"items.{index}.quantity"] = [f"Must be a whole number from 1 to {ITEM_QUANTITY_MAX:,}."]
        if price is None or not 0 <= price <= ITEM_PRICE_MAX:
            errors[f"items.{index}.price"] = [f"Must be an amount from 0 to {ITEM_PRICE_MAX:,}."]
        if f"items.{index}.quantity" in errors or f"items.{index}.price" in errors:
            continue
        line_total = price * quantity
        if line_total > ORDER_TOTAL_MAX:
            errors[f"items.{index}"] = [
                f"This line's total (quantity x price) would be {line_total:,}, "
                f"above the largest allowed order total {ORDER_TOTAL_MAX:,}."
            ]
        checked.append({**item, "price": price})
        total += line_total
    if total > ORDER_TOTAL_MAX:
        errors.setdefault("items", []).append(
            f"The order's total would be {total:,}, above the largest allowed {ORDER_TOTAL_MAX:,}."
        )
    if errors:
        raise OrderAmountsInvalid(errors)
    return checked, total


def _amount(value) -> Decimal | None:
    """``value`` as an amount in cents, or None when it is not a finite number (or too
    large to round: the bounds check then refuses it anyway)."""
    if isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value)).quantize(CENTS)
    except (InvalidOperation, ValueError, TypeError):
        return None
    return amount if amount.is_finite() else None


def order_create(
    *,
    user_id: str,
    items: list[dict[str, Any]],
    created_by=None,
    source: str = AuditEntry.Source.API,
    start_workflow: bool = True,
) -> Order:
    """Create an order with its items and start its workflow once the order is committed.

    ``items`` are dicts with product_id, name, quantity and price. Their amounts are
    checked before anything is written (``order_amounts_check``): raises
    ``OrderAmountsInvalid``, with nothing written, when they are out of bounds.
    """
    items, total = order_amounts_check(items=items)
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
        created_event = order_created_event(
            order=order,
            items=order_items,
            correlation_id=current_request_id() or str(order.pk),
            causation_id=current_request_id(),
            actor_name=_actor_name(created_by),
        )
        created_event.save(force_insert=True)
        publish_after_commit(created_event)
        audit_record(
            action="order.create",
            obj=order,
            actor=created_by,
            source=source,
            after={"status": order.status, "total": str(total), "items": len(items)},
        )
        if start_workflow:
            order_id = order.pk
            transaction.on_commit(lambda: orders_submitted.send(sender=Order, order_ids=[order_id]))
    return order


def order_transition(
    *,
    order_id: UUID,
    to_status: str,
    actor=None,
    source: str = AuditEntry.Source.SYSTEM,
    reason: str = "",
    causation_id: str = "",
    expected_version: int | None = None,
) -> Order:
    """Move an order to ``to_status`` if the lifecycle allows it, appending its event.

    Optimistic locking: the row moves from the version read to the next one only if no
    one moved it first, and the event takes that version under the unique (order, version)
    key; of two concurrent writers, one wins. The loser re-reads the order and checks the
    lifecycle again (see ``_change_with_retry``).
    A caller that names ``expected_version`` (a REST client that read the order) gets
    ``VersionConflict`` instead of a retry when the order has moved on.

    Idempotent: an order already in ``to_status`` is returned unchanged, so a workflow step
    delivered twice does no harm. Raises ``InvalidTransition`` when the lifecycle forbids
    the change, ``Order.DoesNotExist`` for an unknown id, and ``ConcurrentUpdate`` if other
    writers keep winning.
    """

    def change(order: Order) -> Order:
        # A stated version is checked first, as HTTP's If-Match would: a caller who read
        # another version is told, even if someone else already made the same change.
        if expected_version is not None and order.version != expected_version:
            raise VersionConflict(order_id, expected_version, order.version)
        if order.status == to_status:
            return order
        lifecycle.check_transition(order.status, to_status)
        _row_claim(order=order, status=to_status, status_reason=reason)
        event = _event_append(
            order=order,
            event_type=EVENT_TYPES.get(to_status, "OrderStatusChanged"),
            data={"status": to_status, "previousStatus": order.status, "reason": reason},
            actor=actor,
            causation_id=causation_id,
        )
        audit_record(
            action="order.status_change",
            obj=order,
            actor=actor,
            source=source,
            reason=reason,
            before={"status": order.status, "version": order.version},
            after={"status": to_status, "version": event.version},
        )
        order.refresh_from_db()
        return order

    conflict = None if expected_version is None else VersionConflict(order_id, expected_version, expected_version + 1)
    return _change_with_retry(order_id=order_id, change=change, what=f"setting {to_status}", conflict=conflict)


def order_note_add(
    *,
    order_id: UUID,
    note: str,
    actor=None,
    source: str = AuditEntry.Source.CONSOLE,
    max_attempts: int = _MAX_ATTEMPTS,
) -> OrderEvent:
    """Add a note to an order's history (an ``OrderNoteAdded`` event; the status is not
    touched). Retries on optimistic-lock conflicts like a status change; raises
    ``ValueError`` for an empty note and ``ConcurrentUpdate`` if other writers keep winning."""
    note = (note or "").strip()
    if not note:
        raise ValueError("A note needs some text.")

    def change(order: Order) -> OrderEvent:
        _row_claim(order=order)
        event = _event_append(order=order, event_type="OrderNoteAdded", data={"note": note}, actor=actor)
        audit_record(
            action="order.note_add",
            obj=order,
            actor=actor,
            source=source,
            reason=note,
            before={"version": order.version},
            after={"version": event.version},
        )
        return event

    return _change_with_retry(order_id=order_id, change=change, what="adding the note", max_attempts=max_attempts)


# What the order workflow's compensations record on the order's history (the status is
# not touched: RecordFailure sets FAILED after them).
COMPENSATION_EVENT_TYPES = ("OrderPaymentRefunded", "OrderStockRestocked", "OrderCompensationFailed")


def order_compensation_record(
    *, order_id: UUID, event_type: str, data: dict, actor=None, source: str = AuditEntry.Source.SYSTEM
) -> OrderEvent:
    """Record a compensation of the order's workflow (a refund, stock put back, or a
    compensation that failed) as an event of the order, audited. Call it in the transaction
    that did the compensation, so the two are recorded together or not at all. Raises
    ``ValueError`` for another event type and ``ConcurrentUpdate`` if other writers keep
    winning."""
    if event_type not in COMPENSATION_EVENT_TYPES:
        raise ValueError(f"not a compensation event: {event_type!r}")

    def change(order: Order) -> OrderEvent:
        _row_claim(order=order)
        event = _event_append(order=order, event_type=event_type, data=data, actor=actor)
        audit_record(
            action="order.compensation",
            obj=order,
            actor=actor,
            source=source,
            reason=event_type,
            before={"version": order.version},
            after={"version": event.version, "event": event_type, **data},
        )
        return event

    return _change_with_retry(order_id=order_id, change=change, what=f"recording {event_type}")


# After this many lost races, a writer queues on the order's row lock instead of racing
# again: optimistic while writers are few, no livelock when many write one order at once.
_LOCK_AFTER_CONFLICTS = 2


def _change_with_retry(*, order_id: UUID, change, what: str, max_attempts: int = _MAX_ATTEMPTS, conflict=None):
    """Run ``change(order)`` in a transaction on a fresh read of the order, again when
    another writer moved the order first (``_row_claim``, or the (order, version) key).
    Raises ``conflict`` at the first lost race when given (the caller asked for a version),
    and ``ConcurrentUpdate`` after ``max_attempts``."""
    for attempt in range(max_attempts):
        locked = attempt >= _LOCK_AFTER_CONFLICTS
        # The optimistic read takes no lock and happens before the transaction; the
        # compare-and-swap in the transaction tells whether someone moved the order since.
        order = None if locked else Order.objects.get(pk=order_id)
        try:
            with transaction.atomic():
                if locked:
                    order = Order.objects.select_for_update().get(pk=order_id)
                return change(order)
        except IntegrityError:
            append_stats.add(conflicts=1)
            logger.info("order %s changed under us while %s; retrying", order_id, what)
            if conflict is not None:
                raise conflict from None
            _backoff(attempt)
    append_stats.add(gave_up=1)
    raise ConcurrentUpdate(f"order {order_id} kept changing; gave up {what}")


def _row_claim(*, order: Order, **fields) -> None:
    """Move the order row to the next version if it is still at the version read (a
    compare-and-swap), before the event is appended: every writer takes the row's lock
    before the event's (order, version) key, so writers never deadlock on each other, and
    a writer that lost the race learns it here. The unique (order, version) key still
    refuses any event appended at a version already taken."""
    if not Order.objects.filter(pk=order.pk, version=order.version).update(
        version=order.version + 1, updated_at=timezone.now(), **fields
    ):
        raise IntegrityError(f"order {order.pk} is no longer at version {order.version}")


def _event_append(*, order: Order, event_type: str, data: dict, actor=None, causation_id: str = "") -> OrderEvent:
    """Append the order's next event; raises IntegrityError if that version is taken.
    The event is published to SNS after the commit (and by the outbox schedule)."""
    previous = OrderEvent.objects.filter(order=order).order_by("-version").only("id", "correlation_id").first()
    event = OrderEvent.objects.create(
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
    publish_after_commit(event)
    return event


def _actor_name(actor) -> str:
    return actor.get_username() if actor is not None and getattr(actor, "is_authenticated", False) else ""


def order_set_status(
    *, order_id: UUID, status: str, actor, reason: str = "", expected_version: int | None = None
) -> Order:
    """A REST client's status change: only the statuses clients own (see lifecycle).
    ``expected_version``: refuse (``VersionConflict``) if the order changed since read."""
    if status == OrderStatus.CANCELLED:
        return order_cancel(
            order_id=order_id,
            actor=actor,
            reason=reason,
            source=AuditEntry.Source.API,
            expected_version=expected_version,
        )
    if status not in lifecycle.CLIENT_SETTABLE:
        raise StatusNotSettable(status)
    return order_transition(
        order_id=order_id,
        to_status=status,
        actor=actor,
        source=AuditEntry.Source.API,
        reason=reason,
        expected_version=expected_version,
    )


def order_cancel(
    *,
    order_id: UUID,
    actor,
    reason: str = "",
    source: str = AuditEntry.Source.API,
    expected_version: int | None = None,
) -> Order:
    """Cancel an order that has not been paid for, and end its workflow.

    The workflow ends at its next callback: a pending approval is failed with
    ``OrderCancelled`` right after commit, and any step that runs later finds the order
    cancelled and fails the same way. This works alike on AWS and the local engine (whose
    StopExecution does not stop anything).
    """
    with transaction.atomic():
        order = order_transition(
            order_id=order_id,
            to_status=OrderStatus.CANCELLED,
            actor=actor,
            source=source,
            reason=reason or "Cancelled",
            expected_version=expected_version,
        )
        order_cancelled.send(sender=Order, order=order, actor=actor, reason=reason)
    return order


# --- Repair from the event history --------------------------------------------------------


@dataclass
class RepairOutcome:
    order_id: UUID
    action: str  # "none", "rebuilt" or "baseline"
    before: dict
    after: dict


def order_repair(*, order_id: UUID, actor=None) -> RepairOutcome:
    """Bring an order's row (and items) in line with its event history, which is the truth.

    * Events that replay to another state than the row: the row is rebuilt from them.
    * No events at all (rows written before the history existed): the row's current state
      is recorded as its ``OrderCreated`` baseline (marked ``"baseline": true``) and the
      row's version restarts at 1.
    * A history that cannot be replayed (a missing version), or whose amounts are outside
      the limits, raises ``ReplayError``: an event cannot be invented, so a person must
      look at it.

    Atomic and audited (``order.repair``). The row is locked while it is repaired, and the
    update is conditional on the version read, so a concurrent writer either waits for
    the repair or retries against the repaired row.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        items = list(OrderItem.objects.filter(order=order))
        events = list(OrderEvent.objects.filter(order=order).order_by("version"))
        if not events:
            event = OrderEvent.objects.create(
                order=order,
                version=1,
                event_type=EVENT_TYPES[OrderStatus.CREATED],
                data={
                    **order_created_data(order=order, items=items),
                    "reason": order.status_reason,
                    "baseline": True,
                },
                correlation_id=current_request_id() or str(order.pk),
                causation_id=current_request_id(),
                actor_name=_actor_name(actor),
            )
            publish_after_commit(event)
            before, after = {"version": order.version, "events": 0}, {"version": 1, "events": 1}
            Order.objects.filter(pk=order.pk).update(version=1, updated_at=timezone.now())
            action = "baseline"
        else:
            state = order_replay(events)
            differences = order_differences(order=order, items=items, state=state)
            if not differences:
                return RepairOutcome(order.pk, "none", {}, {})
            # The database would refuse these amounts; say why instead of failing on it.
            if not 0 <= state.total <= ORDER_TOTAL_MAX:
                raise ReplayError(f"the events' total {state.total:,} is outside 0 to {ORDER_TOTAL_MAX:,}")
            if state.items:
                try:
                    order_amounts_check(items=state.items)
                except OrderAmountsInvalid as exc:
                    raise ReplayError(f"the events' items are outside the limits: {exc}") from None
            before = {name: _plain(row) for name, (row, _replayed) in differences.items()}
            after = {name: _plain(replayed) for name, (_row, replayed) in differences.items()}
            Order.objects.filter(pk=order.pk).update(
                user_id=state.user_id,
                total=state.total,
                status=state.status,
                status_reason=state.status_reason,
                version=state.version,
                updated_at=timezone.now(),
            )
            if "items" in differences:
                OrderItem.objects.filter(order=order).delete()
                OrderItem.objects.bulk_create(
                    OrderItem(
                        order=order,
                        product_id=item.get("productId", ""),
                        name=item.get("name", ""),
                        quantity=int(item.get("quantity", 0)),
                        price=Decimal(str(item.get("price", "0"))),
                    )
                    for item in state.items
                )
            action = "rebuilt"
        audit_record(
            action="order.repair",
            obj=order,
            actor=actor,
            source=AuditEntry.Source.SYSTEM,
            reason="Rebuilt from its event history" if action == "rebuilt" else "Recorded its missing history",
            before=before,
            after=after,
        )
    return RepairOutcome(order.pk, action, before, after)


def _plain(value):
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
