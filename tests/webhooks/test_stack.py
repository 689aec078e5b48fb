"""Webhooks on the local stack: order events go from the outbox through SNS, the webhooks
queue and its handler (run by the consumer, as Lambda runs it) to a real receiving HTTP
server that verifies them with the Standard Webhooks library."""

import json
import time

import pytest
from rest_framework.test import APIClient

from console.aws import clients as aws
from console.aws import resources
from console.aws.resources import resource_name
from console.models import AuditEntry
from console.platform import roles
from orders.lifecycle import OrderStatus
from orders.models import OrderEvent
from orders.services import order_cancel, order_transition
from tests.conftest import make_user, stack_consumer_sigkill, wait_for
from tests.factories import OrderFactory
from tests.orders.test_outbox import drain
from tests.webhooks.receiver import Receiver
from webhooks import services
from webhooks.models import Delivery

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def publishing(settings):
    settings.ORDER_EVENTS_PUBLISH_ON_COMMIT = True


@pytest.fixture
def client_user(db):
    return make_user("hooks-client", roles.API_CLIENT, staff=False)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def registered(receiver: Receiver, owner, **kwargs):
    endpoint = services.endpoint_create(owner=owner, url=receiver.url, event_types=[], actor=owner, **kwargs)
    receiver.secrets.append(endpoint.secret)
    return endpoint


def delivered_for(receiver: Receiver, event: OrderEvent, count: int = 1, timeout: float = 60):
    webhook_id = f"msg_{event.pk.hex}"
    return wait_for(
        lambda: (
            (found := [r for r in receiver.delivered() if r.webhook_id == webhook_id]) and len(found) >= count and found
        ),
        timeout=timeout,
        what=f"{count} delivery of {event.event_type} {event.pk}",
    )


def test_a_status_change_reaches_its_clients_endpoint_signed_and_no_other(stack, publishing, client_user, receiver):
    other = make_user("hooks-other-client", roles.API_CLIENT, staff=False)
    registered(receiver, client_user)
    others_order = OrderFactory(created_by=other)
    order_transition(order_id=others_order.pk, to_status=OrderStatus.VALIDATED)
    order = OrderFactory(created_by=client_user)

    order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)

    event = OrderEvent.objects.get(order=order, event_type="OrderValidated")
    [received] = delivered_for(receiver, event)
    assert received.verified_with == receiver.secrets
    assert received.payload["type"] == "OrderValidated"
    assert received.payload["data"]["eventId"] == str(event.pk)
    assert received.payload["data"]["aggregateId"] == str(order.pk)
    assert received.payload["data"]["data"]["status"] == OrderStatus.VALIDATED
    assert not [r for r in receiver.received if r.payload["data"]["aggregateId"] == str(others_order.pk)]
    assert not Delivery.objects.filter(order_id=others_order.pk).exists()
    delivery = Delivery.objects.get(event_id=event.pk)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 1)


def test_an_endpoint_that_fails_three_times_is_retried_with_growing_delays(stack, publishing, client_user, receiver):
    receiver.fail_first = 3
    registered(receiver, client_user)
    order = OrderFactory(created_by=client_user)

    order_cancel(order_id=order.pk, actor=None, reason="retry drill")

    event = OrderEvent.objects.get(order=order, event_type="OrderCancelled")
    delivered_for(receiver, event, timeout=90)
    tries = [r for r in receiver.received if r.webhook_id == f"msg_{event.pk.hex}"]
    assert [r.answered for r in tries] == [500, 500, 500, 204]
    gaps = [later.at - earlier.at for earlier, later in zip(tries, tries[1:], strict=False)]
    # WEBHOOK_RETRY_BASE_SECONDS is 1 in the tests: 1, 2 and 4 s (SQS visibility is whole seconds).
    print("retry schedule observed (s):", [round(gap, 2) for gap in gaps])
    for gap, planned in zip(gaps, (1, 2, 4), strict=True):
        assert planned - 0.2 <= gap <= planned + 3, gaps
    delivery = Delivery.objects.get(event_id=event.pk)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert [(a.number, a.status_code, a.succeeded) for a in delivery.attempt_set.all()] == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
        (4, 204, True),
    ]
    assert delivery.endpoint.consecutive_failures == 0


def test_during_a_rotation_both_secrets_sign(stack, publishing, client_user, receiver):
    endpoint = registered(receiver, client_user)
    old_secret = endpoint.secret
    endpoint = services.endpoint_rotate_secret(endpoint=endpoint, actor=client_user)
    receiver.secrets.append(endpoint.secret)
    order = OrderFactory(created_by=client_user)

    order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)

    [received] = delivered_for(receiver, OrderEvent.objects.get(order=order, event_type="OrderValidated"))
    assert set(received.verified_with) == {old_secret, endpoint.secret}
    assert AuditEntry.objects.filter(action="webhook.endpoint.rotate_secret", object_id=str(endpoint.pk)).exists()


def test_a_replay_sends_an_orders_events_again_with_the_same_webhook_ids(stack, publishing, client_user, receiver):
    endpoint = registered(receiver, client_user)
    order = OrderFactory(created_by=client_user)
    order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    event = OrderEvent.objects.get(order=order, event_type="OrderValidated")
    [first] = delivered_for(receiver, event)

    outcome = services.events_replay(
        endpoints=services.Endpoint.objects.filter(pk=endpoint.pk), actor=client_user, order_id=order.pk
    )

    assert outcome["deliveries"] >= 1
    again = delivered_for(receiver, event, count=2)
    assert again[1].webhook_id == first.webhook_id and again[1].payload == first.payload
    assert AuditEntry.objects.filter(action="webhook.replay", actor=client_user).exists()


@pytest.fixture
def short_queue_hold(stack):
    """The webhooks queue's visibility timeout at 30 s for one test. Messages the consumer
    took for an execution environment still starting when it is killed (a busy machine
    makes that window wide) come back, as on Lambda, only when the queue's visibility
    timeout ends: 5400 s as deployed, longer than a test waits. Those the handler has
    started on are held only for their attempts (``webhooks.queue.hold_for_attempts``),
    whatever the queue says."""
    sqs = aws.client("sqs")
    url = resources.queue_url("webhooks")
    deployed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "30"})
    yield
    sqs.set_queue_attributes(QueueUrl=url, Attributes=deployed)


def test_nothing_is_lost_when_the_consumer_is_killed(stack, publishing, client_user, receiver, short_queue_hold):
    registered(receiver, client_user)
    orders = [OrderFactory(created_by=client_user) for _ in range(30)]
    for order in orders[:15]:
        order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    # Killed while those are being delivered; the rest change while no consumer runs.
    wait_for(lambda: receiver.delivered(), timeout=60, what="the first deliveries")
    stack_consumer_sigkill(stack, restart=False)
    for order in orders[15:]:
        order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    time.sleep(1)
    stack_consumer_sigkill(stack, restart=True)

    events = OrderEvent.objects.filter(order__in=orders, event_type="OrderValidated")
    expected = {f"msg_{event.pk.hex}" for event in events}
    assert len(expected) == 30
    wait_for(
        lambda: expected <= {r.webhook_id for r in receiver.delivered()},
        # Messages in flight at the kill come back as their hold ends: up to 10 x 15 s.
        timeout=240,
        what="every event's delivery after the consumer's SIGKILL",
    )


def test_a_replay_reaches_a_queue_subscriber_as_sns_delivered_to_it(stack, publishing, client_user, admin_user):
    """The order-notifications queue (read outside the console) gets, on a replay, the very
    messages SNS gave it: same bodies and attributes, through its filter policy."""
    queue = resource_name("order-notifications")
    queue_url = stack.outputs["OrderNotificationsQueueUrl"]
    drain(queue_url)
    order = OrderFactory(created_by=client_user)
    order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    order_cancel(order_id=order.pk, actor=None, reason="replay drill")
    mine = lambda messages: [m for m in messages if json.loads(m["Body"])["aggregateId"] == str(order.pk)]  # noqa: E731
    first: list[dict] = []
    wait_for(lambda: first.extend(mine(drain(queue_url))) or first, timeout=30, what="SNS's delivery")

    staff = APIClient()
    staff.force_authenticate(admin_user)
    listed = staff.get("/api/webhooks/queues").json()
    # The console's own subscribers (webhooks, real-time pushes) are read by the stage's functions.
    assert [item["name"] for item in listed] == [queue]
    assert listed[0]["replayable"] is True and "OrderCancelled" in listed[0]["filterPolicy"]["eventType"]

    response = staff.post("/api/webhooks/replay", {"orderId": str(order.pk), "queue": queue}, format="json")

    assert response.status_code == 202, response.content
    assert response.json() == {"events": 3, "deliveries": 0, "queues": {queue: 1}}
    again = mine(drain(queue_url))
    assert [json.loads(m["Body"]) for m in again] == [json.loads(m["Body"]) for m in first]
    assert [m["Body"] for m in again] == [m["Body"] for m in first]  # byte for byte: the same eventId
    assert [m["MessageAttributes"] for m in again] == [m["MessageAttributes"] for m in first]
    entry = AuditEntry.objects.get(action="webhook.replay", object_type="orders.queue_subscriber")
    assert entry.object_id == queue and entry.actor == admin_user and entry.after["queues"] == {queue: 1}

    # An API client neither sees the queue nor reaches it.
    client = APIClient()
    client.force_authenticate(client_user)
    assert client.get("/api/webhooks/queues").status_code == 403
    refused = client.post("/api/webhooks/replay", {"orderId": str(order.pk), "queue": queue}, format="json")
    assert refused.status_code == 404
    assert mine(drain(queue_url)) == []
