"""The only module of ``webhooks`` that talks to SQS: the webhooks queue carries the order
events SNS fans out to it (raw, from the order-events topic) and one message per delivery.
"""

import json
from uuid import UUID

from console.aws import clients as aws
from console.aws import resources

WEBHOOKS_QUEUE = "webhooks"
# SQS's longest visibility timeout: 12 hours.
MAX_VISIBILITY_SECONDS = 43200


def send_deliveries(delivery_ids: list[UUID]) -> None:
    """One message per delivery, sent in batches of ten. Raises on a message SQS refused."""
    sqs = aws.client("sqs")
    url = resources.queue_url(WEBHOOKS_QUEUE)
    for start in range(0, len(delivery_ids), 10):
        chunk = delivery_ids[start : start + 10]
        response = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": json.dumps({"deliveryId": str(pk)})} for i, pk in enumerate(chunk)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"SQS refused {len(response['Failed'])} webhook deliveries: {response['Failed'][0]}")


def delay_retry(*, receipt_handle: str, seconds: int) -> None:
    """Keep a received message invisible for ``seconds``: its next attempt comes then."""
    aws.client("sqs").change_message_visibility(
        QueueUrl=resources.queue_url(WEBHOOKS_QUEUE),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_SECONDS)),
    )


def hold_for_attempts(*, receipt_handles: list[str], seconds_each: int) -> None:
    """Keep the batch's messages, in the order they are worked on, invisible only as long as
    the work up to each can take (the n-th: n times ``seconds_each``), not the queue's
    visibility timeout (six times the worker function's 15 minutes): if the invocation
    dies, they come back within that."""
    if not receipt_handles:
        return
    aws.client("sqs").change_message_visibility_batch(
        QueueUrl=resources.queue_url(WEBHOOKS_QUEUE),
        Entries=[
            {
                "Id": str(i),
                "ReceiptHandle": handle,
                "VisibilityTimeout": min((i + 1) * seconds_each, MAX_VISIBILITY_SECONDS),
            }
            for i, handle in enumerate(receipt_handles)
        ],
    )
