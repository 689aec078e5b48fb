"""Fixtures for dead-letter queues and alarms: queues and users on the local stack."""

import json
import uuid

import pytest
from django.core.cache import cache

from console.aws import clients as aws
from console.platform import roles
from ops import sqs as ops_sqs
from tests.conftest import make_user, wait_for


@pytest.fixture(autouse=True)
def _fresh_discovery():
    """Discovered queues are cached per process; each test sees the queues as they are."""
    cache.clear()
    ops_sqs.reset_cache()
    yield
    cache.clear()
    ops_sqs.reset_cache()


@pytest.fixture
def support(db):
    return make_user("sue-support", roles.SUPPORT)


@pytest.fixture
def support_api(support):
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=support)[1]}")
    return client


def queue_url(name: str) -> str:
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def drain(name: str) -> list[dict]:
    """Receive and delete everything in a queue (tests' view of what arrived)."""
    sqs = aws.client("sqs")
    url = queue_url(name)
    found = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return found
        found.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )


def dead_letter_source(name: str, dlq: str, *, fifo: bool = False) -> str:
    """A stage queue that dead-letters into ``dlq`` after one receive, as a failing consumer would."""
    sqs = aws.client("sqs")
    attributes = {
        "VisibilityTimeout": "0",
        "RedrivePolicy": json.dumps(
            {
                "deadLetterTargetArn": sqs.get_queue_attributes(QueueUrl=queue_url(dlq), AttributeNames=["QueueArn"])[
                    "Attributes"
                ]["QueueArn"],
                "maxReceiveCount": 1,
            }
        ),
    }
    if fifo:
        attributes["FifoQueue"] = "true"
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def fail_once(url: str, expected: int = 1) -> None:
    """Receive every message once without deleting it: the next receive moves each to the DLQ."""
    sqs = aws.client("sqs")
    seen = 0
    while seen < expected:
        seen += len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []))
    # moto moves a message past maxReceiveCount on the next receive.
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    wait_for(
        lambda: (
            int(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            == 0
            or sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages") is None
        ),
        timeout=10,
        what="the messages to move to the DLQ",
    )


def archived(queue: str, count: int, timeout: float = 30):
    from ops.models import DeadLetter

    return wait_for(
        lambda: (
            (rows := list(DeadLetter.objects.filter(queue_name=queue).order_by("id"))) and len(rows) >= count and rows
        ),
        timeout=timeout,
        what=f"{count} message(s) archived from {queue}",
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def put_in_dlq(dlq: str, bodies: list[str], **attributes) -> None:
    sqs_client = aws.client("sqs")
    url = queue_url(dlq)
    for start in range(0, len(bodies), 10):
        sqs_client.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": body, **({"MessageAttributes": attributes} if attributes else {})}
                for i, body in enumerate(bodies[start : start + 10])
            ],
        )
