from decimal import Decimal
from unittest import mock

import pytest

from console.models import AuditEntry
from orders import services
from orders.lifecycle import InvalidTransition, OrderStatus
from orders.models import Order
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_order_create_computes_the_total_and_audits(api_user):
    order = services.order_create(
        user_id="customer-1",
        items=[
            {"product_id": "p1", "name": "Widget", "quantity": 2, "price": Decimal("1000")},
            {"product_id": "p2", "name": "Cable", "quantity": 3, "price": Decimal("9.99")},
        ],
        created_by=api_user,
        start_workflow=False,
    )
    order.refresh_from_db()
    assert order.total == Decimal("2029.97")
    assert order.status == OrderStatus.CREATED
    assert order.items.count() == 2
    entry = AuditEntry.objects.get(action="order.create", object_id=str(order.pk))
    assert entry.actor == api_user and entry.source == AuditEntry.Source.API


def test_order_create_tells_of_the_submission_only_after_commit(submitted_orders, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = services.order_create(user_id="c", items=[{"product_id": "p", "name": "n", "quantity": 1, "price": 1}])
    assert submitted_orders == []
    for callback in callbacks:
        callback()
    assert submitted_orders == [order.pk]


def test_transition_bumps_the_version_and_records_before_and_after():
    order = OrderFactory()
    changed = services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    assert changed.status == OrderStatus.VALIDATED
    assert changed.version == order.version + 1
    entry = AuditEntry.objects.get(action="order.status_change", object_id=str(order.pk))
    assert entry.before["status"] == OrderStatus.CREATED and entry.after["status"] == OrderStatus.VALIDATED


def test_transition_to_the_current_status_changes_nothing():
    order = OrderFactory(status=OrderStatus.VALIDATED)
    again = services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    assert again.version == order.version
    assert not AuditEntry.objects.filter(action="order.status_change").exists()


def test_transition_refuses_what_the_lifecycle_forbids():
    order = OrderFactory(status=OrderStatus.CREATED)
    with pytest.raises(InvalidTransition):
        services.order_transition(order_id=order.pk, to_status=OrderStatus.PAID)
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED


def test_a_writer_that_lost_the_race_rereads_and_rechecks():
    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL)
    real_get = Order.objects.get
    calls = {"n": 0}

    def get_then_race(*args, **kwargs):
        found = real_get(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            # Another writer cancels the order between our read and our write.
            Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED, version=found.version + 1)
        return found

    with mock.patch.object(Order.objects, "get", side_effect=get_then_race):
        with pytest.raises(InvalidTransition) as raised:
            services.order_transition(order_id=order.pk, to_status=OrderStatus.APPROVED)
    assert raised.value.current == OrderStatus.CANCELLED
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_clients_may_not_set_statuses_the_workflow_owns(api_user):
    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL)
    with pytest.raises(services.StatusNotSettable):
        services.order_set_status(order_id=order.pk, status=OrderStatus.APPROVED, actor=api_user)


def test_cancel_closes_a_pending_approval_and_fails_its_task_after_commit(api_user, django_capture_on_commit_callbacks):
    from workflows.models import Approval

    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL)
    approval = Approval.objects.create(
        order=order, state_name="RequestApproval", task_token="tok", token_sha256="a" * 64
    )
    with mock.patch("workflows.sfn.send_task_failure") as send_failure:
        with django_capture_on_commit_callbacks(execute=True):
            services.order_cancel(order_id=order.pk, actor=api_user, reason="customer asked")
    approval.refresh_from_db()
    assert approval.status == Approval.Status.CANCELLED
    send_failure.assert_called_once_with(task_token="tok", error="OrderCancelled", cause="customer asked")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.status_reason == "customer asked"


def test_every_change_appends_the_next_event_with_the_same_correlation():
    from orders.models import OrderEvent

    order = services.order_create(
        user_id="c", items=[{"product_id": "p", "name": "n", "quantity": 1, "price": 5}], start_workflow=False
    )
    services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    services.order_transition(order_id=order.pk, to_status=OrderStatus.FAILED, reason="test")
    events = list(OrderEvent.objects.filter(order=order))
    assert [(e.version, e.event_type) for e in events] == [
        (1, "OrderCreated"),
        (2, "OrderValidated"),
        (3, "OrderFailed"),
    ]
    assert events[0].data["items"] == [{"productId": "p", "name": "n", "quantity": 1, "price": "5.00"}]
    assert len({e.correlation_id for e in events}) == 1
    assert events[2].causation_id == str(events[1].id)
    assert events[2].data == {"status": "FAILED", "previousStatus": "VALIDATED", "reason": "test"}
    order.refresh_from_db()
    assert order.version == 3


def test_two_writers_cannot_append_the_same_version():
    from django.db import IntegrityError, transaction

    from orders.models import OrderEvent

    order = OrderFactory()
    OrderEvent.objects.create(order=order, version=2, event_type="OrderValidated")
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderEvent.objects.create(order=order, version=2, event_type="OrderCancelled")


def test_a_writer_whose_version_was_taken_retries_on_the_new_state():
    from orders.models import OrderEvent

    order = OrderFactory(status=OrderStatus.VALIDATED)
    stale = Order.objects.get(pk=order.pk)
    # A rival already appended version 2 and cancelled the order; we still hold version 1.
    OrderEvent.objects.create(order=order, version=2, event_type="OrderCancelled", data={"status": "CANCELLED"})
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED, version=2)
    real_get = Order.objects.get
    reads = []

    def stale_first(*args, **kwargs):
        reads.append(1)
        return stale if len(reads) == 1 else real_get(*args, **kwargs)

    with mock.patch.object(Order.objects, "get", side_effect=stale_first):
        with pytest.raises(InvalidTransition) as raised:
            services.order_transition(order_id=order.pk, to_status=OrderStatus.AWAITING_APPROVAL)
    assert len(reads) == 2 and raised.value.current == OrderStatus.CANCELLED
    # Only the factory's OrderCreated and the rival's event: nothing appended by the loser.
    assert list(OrderEvent.objects.filter(order=order).values_list("version", flat=True)) == [1, 2]
