"""The realtime-pushes queue's handler, fed Lambda-shaped SQS batches: each order event is
pushed on its own, and only the messages that could not be pushed are reported."""

import json
import uuid

import pytest

from realtime import handlers
from realtime.models import Connection
from tests.factories import OrderFactory
from tests.on_lambda.events import sqs_event

pytestmark = pytest.mark.django_db
PUSHES_ARN = "arn:aws:sqs:us-east-1:123456789012:ops-console-dev-realtime-pushes"


def order_event(order_id: str) -> str:
    return json.dumps(
        {"eventId": str(uuid.uuid4()), "eventType": "OrderValidated", "aggregateId": order_id, "version": 2}
    )


def test_only_the_messages_that_could_not_be_pushed_are_reported():
    order = OrderFactory()  # its owner has no connection: nothing to push, nothing failed
    event = sqs_event(
        PUSHES_ARN,
        [order_event(str(order.pk)), "not json", json.dumps({"eventType": "OrderValidated"}), order_event("nope")],
    )
    good, *bad = event["Records"]

    result = handlers.order_status_pushes(event)

    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in bad]}
    assert not Connection.objects.exists()


def test_a_batch_that_fails_whole_is_reported_not_raised():
    event = sqs_event(PUSHES_ARN, ["not json", "{}"])

    result = handlers.order_status_pushes(event)

    assert result == {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in event["Records"]]}
