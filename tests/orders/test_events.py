"""An order's state rebuilt from its events; the command that checks (and repairs) every
order against its replay."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from console.models import AuditEntry
from orders import services
from orders.events import ReplayError, order_replay
from orders.lifecycle import OrderStatus
from orders.models import Order, OrderEvent, OrderItem
from orders.selectors import order_events_check
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

ITEMS = [{"product_id": "p1", "name": "Widget", "quantity": 2, "price": Decimal("12.50")}]


def make_order() -> Order:
    return services.order_create(user_id="ana", items=ITEMS, start_workflow=False)


def test_replaying_an_orders_events_gives_its_current_state():
    order = make_order()
    services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    services.order_note_add(order_id=order.pk, note="called the customer")
    services.order_transition(order_id=order.pk, to_status=OrderStatus.FAILED, reason="card declined")
    order.refresh_from_db()

    state = order_replay(OrderEvent.objects.filter(order=order))

    assert (state.status, state.status_reason, state.version) == ("FAILED", "card declined", 4)
    assert (state.user_id, state.total) == ("ana", Decimal("25.00"))
    assert state.items == [{"productId": "p1", "name": "Widget", "quantity": 2, "price": "12.50"}]
    assert (order.status, order.status_reason, order.version) == (state.status, state.status_reason, state.version)


def test_a_note_takes_a_version_but_leaves_the_status():
    order = make_order()
    event = services.order_note_add(order_id=order.pk, note="  VIP customer  ")
    order.refresh_from_db()
    assert (event.version, event.event_type, event.data) == (2, "OrderNoteAdded", {"note": "VIP customer"})
    assert order.version == 2 and order.status == OrderStatus.CREATED
    assert AuditEntry.objects.get(action="order.note_add").reason == "VIP customer"
    with pytest.raises(ValueError):
        services.order_note_add(order_id=order.pk, note="   ")


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ([], "no events"),
        ([(1, "OrderCreated"), (3, "OrderValidated")], "version 2 is missing"),
        ([(1, "OrderValidated")], "not OrderCreated"),
        ([(1, "OrderCreated"), (2, "OrderCreated")], "OrderCreated again"),
    ],
)
def test_histories_that_cannot_be_replayed_say_why(versions, message):
    class Event:
        def __init__(self, version, event_type):
            self.version, self.event_type = version, event_type
            self.data = {"status": "VALIDATED"} if event_type != "OrderCreated" else {"userId": "u", "total": "1"}

    with pytest.raises(ReplayError, match=message):
        order_replay([Event(v, t) for v, t in versions])


def test_the_check_finds_exactly_the_orders_that_disagree_with_their_events():
    good = make_order()
    drifted = make_order()
    Order.objects.filter(pk=drifted.pk).update(status=OrderStatus.SHIPPED)  # a write that bypassed the events
    gap = make_order()
    services.order_transition(order_id=gap.pk, to_status=OrderStatus.VALIDATED)
    services.order_transition(order_id=gap.pk, to_status=OrderStatus.AWAITING_APPROVAL)
    OrderEvent.objects.filter(order=gap, version=2).delete()
    no_history = OrderFactory(history=False)
    wrong_items = make_order()
    OrderItem.objects.filter(order=wrong_items).update(quantity=5)

    found = {check.order_id: check for check in order_events_check(batch_size=2)}

    assert set(found) == {drifted.pk, gap.pk, no_history.pk, wrong_items.pk}
    assert good.pk not in found
    assert found[drifted.pk].differences == {"status": ("SHIPPED", "CREATED")}
    assert "version 2 is missing" in found[gap.pk].problem
    assert "no events" in found[no_history.pk].problem
    assert set(found[wrong_items.pk].differences) == {"items"}


def test_repair_rebuilds_rows_from_events_and_records_missing_histories():
    drifted = make_order()
    services.order_transition(order_id=drifted.pk, to_status=OrderStatus.VALIDATED)
    Order.objects.filter(pk=drifted.pk).update(status=OrderStatus.SHIPPED, version=9, total=Decimal("1"))
    OrderItem.objects.filter(order=drifted).delete()
    no_history = OrderFactory(history=False, status=OrderStatus.PAID, version=4)

    out = StringIO()
    call_command("orders_check_events", "--repair", stdout=out)

    drifted.refresh_from_db()
    assert (drifted.status, drifted.version, drifted.total) == ("VALIDATED", 2, Decimal("25.00"))
    assert [(i.product_id, i.quantity, i.price) for i in drifted.items.all()] == [("p1", 2, Decimal("12.50"))]
    no_history.refresh_from_db()
    baseline = OrderEvent.objects.get(order=no_history)
    assert (baseline.version, baseline.event_type, baseline.data["status"], baseline.data["baseline"]) == (
        1,
        "OrderCreated",
        "PAID",
        True,
    )
    assert no_history.version == 1 and no_history.status == OrderStatus.PAID
    repairs = AuditEntry.objects.filter(action="order.repair")
    assert {entry.object_id for entry in repairs} == {str(drifted.pk), str(no_history.pk)}
    drifted_entry = repairs.get(object_id=str(drifted.pk))
    assert drifted_entry.before["status"] == "SHIPPED" and drifted_entry.after["status"] == "VALIDATED"
    assert "2 repaired" in out.getvalue()
    # Everything agrees now: a second check finds nothing and exits cleanly.
    assert list(order_events_check()) == []
    call_command("orders_check_events", stdout=StringIO())


def test_the_check_exits_non_zero_and_a_gap_is_never_invented(capsys):
    order = make_order()
    services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    services.order_transition(order_id=order.pk, to_status=OrderStatus.AWAITING_APPROVAL)
    OrderEvent.objects.filter(order=order, version=2).delete()
    out = StringIO()
    with pytest.raises(CommandError, match="1 order"):
        call_command("orders_check_events", "--repair", stdout=out)
    assert "version 2 is missing" in out.getvalue() and "needs a person" in out.getvalue()
    assert list(OrderEvent.objects.filter(order=order).values_list("version", flat=True)) == [1, 3]


def test_the_factory_writes_the_history_the_services_would():
    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL)
    assert list(order_events_check(order_ids=[order.pk])) == []
