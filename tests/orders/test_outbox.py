"""The event table as an outbox: every order event reaches the SNS topic ``order-events``
(on the local AWS) once, with an ``eventType`` attribute subscribers filter on, and nothing
is lost when the process dies between commit and publish, or after publish."""

import json
import threading
import uuid
from unittest import mock

import pytest
from botocore.stub import ANY, Stubber
from django.db import connection
from django.test import override_settings

from console.aws import clients as aws
from console.aws import resources
from orders import outbox, services
from orders.lifecycle import OrderStatus
from orders.models import OrderEvent

ITEMS = [{"product_id": "p1", "name": "Widget", "quantity": 1, "price": 10}]


def drain(queue_url: str, wait: int = 1) -> list[dict]:
    """Every message on the queue now (deleted as read)."""
    sqs = aws.client("sqs")
    messages = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


@pytest.fixture
def all_events_queue(local_aws):
    """A queue subscribed to every order event (raw delivery), as a consumer would be."""
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url = sqs.create_queue(QueueName=f"test-order-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(
        TopicArn=resources.topic_arn(resources.ORDER_EVENTS_TOPIC),
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"RawMessageDelivery": "true"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    OrderEvent.objects.update(published_at=None)  # nothing left over from other tests' rows
    yield url
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=url)


def bodies(messages: list[dict]) -> list[dict]:
    return [json.loads(message["Body"]) for message in messages]


@pytest.mark.django_db
def test_the_stack_subscribes_notifications_with_a_filter_policy_on_event_type(local_aws):
    sns = aws.client("sns")
    topic = local_aws.outputs["OrderEventsTopicArn"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    notifications = [s for s in subscriptions if s["Endpoint"].endswith(":ops-console-dev-order-notifications")]
    assert len(notifications) == 1
    attributes = sns.get_subscription_attributes(SubscriptionArn=notifications[0]["SubscriptionArn"])["Attributes"]
    assert json.loads(attributes["FilterPolicy"])["eventType"] == [
        "OrderApproved",
        "OrderRejected",
        "OrderShipped",
        "OrderDelivered",
        "OrderCancelled",
    ]
    assert attributes["RawMessageDelivery"] == "true"


@pytest.mark.django_db
def test_each_event_is_published_once_with_its_id_type_and_version(local_aws, all_events_queue):
    order = services.order_create(user_id="ana", items=ITEMS, start_workflow=False)
    services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    services.order_cancel(order_id=order.pk, actor=None, reason="customer asked")

    assert outbox.publish_pending_events({}, None) == {"published": 3}
    assert outbox.outbox_publish_pending() == 0  # nothing twice
    assert not OrderEvent.objects.filter(order=order, published_at__isnull=True).exists()

    messages = drain(all_events_queue)
    received = sorted(bodies(messages), key=lambda body: body["version"])
    assert [(b["version"], b["eventType"]) for b in received] == [
        (1, "OrderCreated"),
        (2, "OrderValidated"),
        (3, "OrderCancelled"),
    ]
    events = {str(e.pk): e for e in OrderEvent.objects.filter(order=order)}
    for body in received:
        event = events[body["eventId"]]
        assert body["aggregateId"] == str(order.pk) and body["data"] == event.data
        assert body["metadata"]["correlationId"] == event.correlation_id
    for message in messages:
        attributes = message["MessageAttributes"]
        body = json.loads(message["Body"])
        assert attributes["eventType"]["StringValue"] == body["eventType"]
        assert attributes["eventId"]["StringValue"] == body["eventId"]

    # The notifications subscriber's filter policy let through only the cancellation.
    notifications = drain(local_aws.outputs["OrderNotificationsQueueUrl"])
    assert [b["eventType"] for b in bodies(notifications) if b["aggregateId"] == str(order.pk)] == ["OrderCancelled"]


@pytest.mark.django_db
def test_a_committed_event_is_published_right_after_the_commit(
    local_aws, all_events_queue, django_capture_on_commit_callbacks
):
    with override_settings(ORDER_EVENTS_PUBLISH_ON_COMMIT=True):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            order = services.order_create(user_id="ben", items=ITEMS, start_workflow=False)
        event = OrderEvent.objects.get(order=order)
        assert event.published_at is None  # nothing leaves before the commit
        for callback in callbacks:
            callback()
    event.refresh_from_db()
    assert event.published_at is not None
    assert [b["eventId"] for b in bodies(drain(all_events_queue))] == [str(event.pk)]


@pytest.mark.django_db
def test_a_crash_between_commit_and_publish_loses_nothing(
    local_aws, all_events_queue, django_capture_on_commit_callbacks
):
    with override_settings(ORDER_EVENTS_PUBLISH_ON_COMMIT=True):
        # The order commits, then the process dies: its after-commit publish never runs.
        with django_capture_on_commit_callbacks(execute=False):
            died = services.order_create(user_id="cai", items=ITEMS, start_workflow=False)
        # Another commits while SNS fails: the request still succeeds, the event waits.
        with Stubber(aws.client("sns")) as stubber, django_capture_on_commit_callbacks(execute=True):
            stubber.add_client_error("publish_batch", "InternalError", http_status_code=500)
            refused = services.order_create(user_id="cid", items=ITEMS, start_workflow=False)
    waiting = OrderEvent.objects.filter(order__in=[died, refused])
    assert waiting.filter(published_at__isnull=True).count() == 2

    # The schedule publishes both on its next run.
    assert outbox.publish_pending_events({}, None) == {"published": 2}
    assert sorted(b["eventId"] for b in bodies(drain(all_events_queue))) == sorted(str(e.pk) for e in waiting)


class ProcessDied(BaseException):
    """Stands for the process dying: no handler catches it."""


@pytest.mark.django_db
def test_a_crash_after_publish_republishes_with_the_same_event_id(local_aws, all_events_queue):
    order = services.order_create(user_id="dee", items=ITEMS, start_workflow=False)
    event = OrderEvent.objects.get(order=order)
    real_publish = outbox.sns.publish_batch

    def publish_then_die(**kwargs):
        real_publish(**kwargs)  # SNS has the message ...
        raise ProcessDied  # ... and the process dies before marking it published

    with mock.patch.object(outbox.sns, "publish_batch", side_effect=publish_then_die):
        with pytest.raises(ProcessDied):
            outbox.outbox_publish_pending()
    event.refresh_from_db()
    assert event.published_at is None  # the mark was never committed

    assert outbox.outbox_publish_pending() == 1
    delivered = bodies(drain(all_events_queue))
    # Delivered twice, as the same event: a consumer keeps the first and drops the other.
    assert [b["eventId"] for b in delivered] == [str(event.pk), str(event.pk)]
    assert len({json.dumps(b, sort_keys=True) for b in delivered}) == 1


@pytest.mark.django_db
def test_events_sns_refuses_stay_in_the_outbox(local_aws):
    order = services.order_create(user_id="eve", items=ITEMS, start_workflow=False)
    services.order_transition(order_id=order.pk, to_status=OrderStatus.VALIDATED)
    OrderEvent.objects.exclude(order=order).update(published_at="2026-01-01T00:00:00Z")
    first, second = OrderEvent.objects.filter(order=order).order_by("version")
    client = aws.client("sns")
    with Stubber(client) as stubber:
        stubber.add_response(
            "publish_batch",
            {
                "Successful": [{"Id": first.pk.hex, "MessageId": "m-1"}],
                "Failed": [{"Id": second.pk.hex, "Code": "InternalError", "SenderFault": False}],
            },
            {"TopicArn": ANY, "PublishBatchRequestEntries": ANY},
        )
        assert outbox.outbox_publish_pending() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.published_at is not None and second.published_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_publish_each_event_once(local_aws, all_events_queue):
    for n in range(30):
        services.order_create(user_id=f"c{n}", items=ITEMS, start_workflow=False)
    barrier = threading.Barrier(3)
    counts = []

    def relay() -> None:
        barrier.wait()
        try:
            counts.append(outbox.outbox_publish_pending(batch_size=7))
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 30
    ids = [b["eventId"] for b in bodies(drain(all_events_queue))]
    assert len(ids) == 30 and len(set(ids)) == 30
