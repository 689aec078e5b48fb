"""An order's event history: the event that starts it (``order_created_event``), rebuilding
an order's state by replaying its events, and comparing that with the order's row.

The event log is the order's history and its truth; the ``Order`` row is what the events
add up to, kept for fast reads. ``order_replay`` folds the events in version order:

* ``OrderCreated`` (version 1) sets the customer, total, items and the first status;
* any event whose data has a ``status`` moves the order there (with ``reason``);
* other events (``OrderNoteAdded``, and types added later) only take the next version.

Versions must run 1, 2, 3, ... without gaps: the unique (order, version) key prevents
duplicates, and a gap means an event was lost or deleted.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orders.lifecycle import OrderStatus
from orders.models import Order, OrderEvent, OrderItem

ORDER_CREATED = "OrderCreated"


def order_created_data(*, order: Order, items: Iterable[OrderItem]) -> dict[str, Any]:
    """The data of an order's ``OrderCreated`` event: its first status, customer, total
    and items (amounts as strings, as written: ``"10.50"``). The one definition, used by
    ``orders.services.order_create``, an order's repair and the imports' bulk inserts;
    the imports' SQL (``orders.imports.bulk_postgres``) builds the same JSON, and the
    suite holds it to this."""
    return {
        "status": order.status,
        "userId": order.user_id,
        "total": str(order.total),
        "items": [
            {"productId": item.product_id, "name": item.name, "quantity": item.quantity, "price": str(item.price)}
            for item in items
        ],
    }


def order_created_event(
    *, order: Order, items: Iterable[OrderItem], correlation_id: str, causation_id: str, actor_name: str
) -> OrderEvent:
    """An order's first event (version 1, ``OrderCreated``), not saved: the caller saves
    it with the order, in the same transaction, and publishes it after the commit (or
    leaves it to the outbox schedule)."""
    return OrderEvent(
        order=order,
        version=1,
        event_type=ORDER_CREATED,
        data=order_created_data(order=order, items=items),
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor_name=actor_name,
    )


class ReplayError(Exception):
    """The events cannot be replayed into a state (no creation, a gap, a bad event)."""


@dataclass
class OrderState:
    """An order as its events describe it."""

    user_id: str = ""
    total: Decimal = Decimal("0")
    status: str = ""
    status_reason: str = ""
    version: int = 0
    items: list[dict] = field(default_factory=list)


def _decimal(value, where: str) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise ReplayError(f"{where}: {value!r} is not an amount") from exc


def order_replay(events: Iterable) -> OrderState:
    """The state the events add up to. ``events`` are OrderEvent-like objects (version,
    event_type, data) of one order, in any order. Raises ReplayError."""
    ordered = sorted(events, key=lambda event: event.version)
    if not ordered:
        raise ReplayError("the order has no events")
    state = OrderState()
    for expected, event in enumerate(ordered, start=1):
        if event.version != expected:
            raise ReplayError(f"version {expected} is missing (next event is version {event.version})")
        data = event.data or {}
        if expected == 1:
            if event.event_type != ORDER_CREATED:
                raise ReplayError(f"the first event is {event.event_type}, not {ORDER_CREATED}")
            state.user_id = str(data.get("userId", ""))
            state.total = _decimal(data.get("total", "0"), "OrderCreated total")
            state.items = list(data.get("items") or [])
            state.status = data.get("status") or OrderStatus.CREATED
            state.status_reason = data.get("reason", "")
        elif event.event_type == ORDER_CREATED:
            raise ReplayError(f"{ORDER_CREATED} again at version {event.version}")
        elif "status" in data:
            if data["status"] not in OrderStatus.values:
                raise ReplayError(f"version {event.version} sets an unknown status {data['status']!r}")
            state.status = data["status"]
            state.status_reason = data.get("reason", "")
        state.version = event.version
    return state


def _item_key(product_id, quantity, price) -> tuple:
    return (str(product_id), int(quantity), _decimal(price, "item price"))


def order_differences(*, order, items: Iterable, state: OrderState) -> dict[str, tuple]:
    """Fields where the order row (and its items) differ from the replayed state:
    ``{field: (row value, replayed value)}``; empty when they agree."""
    found: dict[str, tuple] = {}
    for name in ("user_id", "status", "status_reason", "version"):
        row_value, replayed = getattr(order, name), getattr(state, name)
        if row_value != replayed:
            found[name] = (row_value, replayed)
    if Decimal(order.total).quantize(Decimal("0.01")) != state.total:
        found["total"] = (str(order.total), str(state.total))
    row_items = Counter(_item_key(i.product_id, i.quantity, i.price) for i in items)
    event_items = Counter(_item_key(i.get("productId"), i.get("quantity", 0), i.get("price", 0)) for i in state.items)
    if row_items != event_items:
        found["items"] = (sum(row_items.values()), sum(event_items.values()))
    return found
