"""One delivery attempt against a real receiver, without the stack: signing, the attempt's
record, and disabling an endpoint that keeps failing."""

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from console.models import AuditEntry
from console.platform import roles
from tests.conftest import make_user
from tests.factories import OrderFactory
from tests.webhooks.receiver import Receiver
from webhooks import services, signing
from webhooks.handlers import webhooks_queue
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def an_event(order, event_id: str = "7b0e4f7e-5a43-4f1d-9d5e-1a2b3c4d5e6f") -> dict:
    """An order event as the outbox publishes it to the order-events topic."""
    return {
        "eventId": event_id,
        "aggregateId": str(order.pk),
        "version": 2,
        "eventType": "OrderShipped",
        "data": {"status": "SHIPPED"},
        "timestamp": "2026-12-05T10:00:00+00:00",
        "metadata": {},
    }


def a_delivery(endpoint) -> Delivery:
    message = an_event(OrderFactory(created_by=endpoint.owner))
    return Delivery.objects.create(
        endpoint=endpoint,
        event_id=message["eventId"],
        event_type="OrderShipped",
        order_id=message["aggregateId"],
        payload=services.webhook_payload(message),
        event_created_at=datetime.fromisoformat(message["timestamp"]),
    )


def test_the_signature_is_the_specs_and_verifies_with_the_library():
    secret = signing.new_secret()
    now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    headers = signing.signed_headers(webhook_id="msg_1", body=b'{"a":1}', secrets_in_use=[secret], now=now)

    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception, match="too old"):  # the library checks the timestamp's age too
        Webhook(secret).verify(b'{"a":1}', headers)


def test_an_attempt_is_signed_recorded_and_delivered(receiver):
    owner = make_user("attempt-client", roles.API_CLIENT, staff=False)
    endpoint = services.endpoint_create(owner=owner, url=receiver.url, event_types=[], actor=owner)
    receiver.secrets.append(endpoint.secret)
    delivery = a_delivery(endpoint)

    outcome = services.delivery_attempt(delivery_id=delivery.pk, last_try=False)

    assert outcome.delivered and outcome.number == 1
    [received] = receiver.received
    assert received.webhook_id == "msg_7b0e4f7e5a434f1d9d5e1a2b3c4d5e6f"
    assert received.payload["type"] == "OrderShipped" and received.verified_with == [endpoint.secret]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempt_set.get().status_code == 204


def test_an_endpoint_failing_n_times_in_a_row_is_disabled_and_its_deliveries_skipped(receiver, settings):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    receiver.fail_first = 100
    owner = make_user("failing-client", roles.API_CLIENT, staff=False)
    endpoint = services.endpoint_create(owner=owner, url=receiver.url, event_types=[], actor=owner)
    receiver.secrets.append(endpoint.secret)
    delivery = a_delivery(endpoint)

    outcomes = [services.delivery_attempt(delivery_id=delivery.pk, last_try=n == 2) for n in range(3)]

    assert [o.retry for o in outcomes] == [True, True, False]
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.consecutive_failures == 3
    assert AuditEntry.objects.filter(action="webhook.endpoint.disable", object_id=str(endpoint.pk)).exists()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 3
    # Sent again (redelivered) while the endpoint is disabled: skipped, not sent.
    assert services.delivery_attempt(delivery_id=delivery.pk, last_try=False).number == 0
    assert len(receiver.received) == 3
    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SKIPPED


def test_a_malformed_message_fails_alone_and_the_rest_of_its_batch_is_worked_on(local_aws, settings):
    owner = make_user("hooks-batch", roles.API_CLIENT, staff=False)
    endpoint = services.endpoint_create(owner=owner, url="https://receiver.example/hook", event_types=[], actor=owner)
    good = an_event(OrderFactory(created_by=owner), event_id="0f0e4f7e-5a43-4f1d-9d5e-1a2b3c4d5e6f")
    bodies = {
        "not-json": "{",
        "not-an-object": "[1, 2]",
        "bad-delivery-id": '{"deliveryId": "not-a-uuid"}',
        "no-order": '{"eventId": "1f0e4f7e-5a43-4f1d-9d5e-1a2b3c4d5e6f", "eventType": "OrderShipped"}',
        "good": json.dumps(good),
    }
    records = [
        {"messageId": name, "body": body, "receiptHandle": f"handle-{name}", "attributes": {}}
        for name, body in bodies.items()
    ]

    outcome = webhooks_queue({"Records": records})

    assert sorted(item["itemIdentifier"] for item in outcome["batchItemFailures"]) == [
        "bad-delivery-id",
        "no-order",
        "not-an-object",
        "not-json",
    ]
    # The good event was fanned out: one delivery to the endpoint.
    assert Delivery.objects.filter(endpoint=endpoint, event_id=good["eventId"]).count() == 1


def test_an_attempt_to_a_name_resolving_to_a_private_address_is_not_sent(receiver, settings):
    owner = make_user("private-client", roles.API_CLIENT, staff=False)
    local_name = receiver.url.replace("127.0.0.1", "localhost")
    endpoint = services.endpoint_create(owner=owner, url=local_name, event_types=[], actor=owner)
    receiver.secrets.append(endpoint.secret)
    delivery = a_delivery(endpoint)
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False  # as on AWS

    outcome = services.delivery_attempt(delivery_id=delivery.pk, last_try=False)

    assert not outcome.delivered and outcome.retry
    assert receiver.received == []
    attempt = delivery.attempt_set.get()
    assert attempt.status_code is None and "not a public address" in attempt.error


def test_a_redirect_is_a_failed_attempt_and_never_followed(receiver):
    target = Receiver()
    try:
        owner = make_user("redirecting-client", roles.API_CLIENT, staff=False)
        endpoint = services.endpoint_create(owner=owner, url=receiver.url, event_types=[], actor=owner)
        receiver.secrets.append(endpoint.secret)
        receiver.redirect_to = target.url
        delivery = a_delivery(endpoint)

        outcome = services.delivery_attempt(delivery_id=delivery.pk, last_try=False)

        assert not outcome.delivered and [r.answered for r in receiver.received] == [302]
        assert target.received == []
        assert delivery.attempt_set.get().status_code == 302
    finally:
        target.close()
