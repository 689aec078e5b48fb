"""The local stand-in for Lambda's SQS event source mappings, against the local AWS."""

import json
import threading

import pytest

from console import aws
from console.local_consumer import QueuePoller, SqsRoute, sqs_routes, zappa_stage_settings

# The poller closes stale database connections around each batch, as on Lambda.
pytestmark = [pytest.mark.stack, pytest.mark.django_db]


def test_routes_come_from_zappa_settings_for_every_stage():
    for stage in ("dev", "prod"):
        routes = {route.function: route.queue_name for route in sqs_routes(stage)}
        assert routes["workflows.handlers.step_tasks"] == f"ops-console-{stage}-steps"
        assert routes["workflows.handlers.approval_tasks"] == f"ops-console-{stage}-approvals"
    assert zappa_stage_settings("prod")["runtime"] == "python3.12"  # inherited from dev


def handler_failing_odd_bodies(event, context):
    handler_failing_odd_bodies.events.append(event)
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record in event["Records"] if int(record["body"]) % 2
        ]
    }


def test_a_batch_is_delivered_lambda_shaped_and_only_reported_failures_stay(local_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="consumer-test", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    for number in range(4):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=str(number),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )
    handler_failing_odd_bodies.events = []
    poller = QueuePoller(SqsRoute(f"{__name__}.handler_failing_odd_bodies", "consumer-test", 10), threading.Event())
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    deleted = 0
    while sum(len(e["Records"]) for e in handler_failing_odd_bodies.events) < 4:
        deleted += poller.poll_once(sqs, handler_failing_odd_bodies, url, arn)

    record = handler_failing_odd_bodies.events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "binaryValue": None,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert deleted == 2
    remaining = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert sorted(int(m["Body"]) for m in remaining) == [1, 3]


def handler_that_raises(event, context):
    raise RuntimeError("boom")


def test_a_function_that_raises_leaves_the_whole_batch(local_aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="consumer-raise", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"x": 1}))
    poller = QueuePoller(SqsRoute(f"{__name__}.handler_that_raises", "consumer-raise", 10), threading.Event())
    assert poller.poll_once(sqs, handler_that_raises, url, "arn") == 0
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")


def test_schedules_come_from_zappa_settings():
    from console.local_consumer import schedules

    assert any(
        s.function == "workflows.handlers.start_missing_executions" and s.seconds == 300 for s in schedules("dev")
    )
