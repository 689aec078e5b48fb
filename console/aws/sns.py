"""The only module that talks to SNS."""

import json
from dataclasses import dataclass, field
from typing import Any

from console.aws import clients as aws

# SNS takes at most 10 messages per PublishBatch call.
BATCH_LIMIT = 10


@dataclass
class Message:
    """One message: ``id`` is ours (unique within a batch), ``body`` is sent as JSON and
    ``attributes`` as String message attributes (what subscription filter policies match)."""

    id: str
    body: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)


def publish_batch(*, topic_arn: str, messages: list[Message]) -> tuple[list[str], dict[str, str]]:
    """Publish ``messages`` in batches of 10. Returns (ids published, {id: error code} of
    those SNS refused). Transport errors propagate: nothing after them was sent."""
    published: list[str] = []
    failed: dict[str, str] = {}
    client = aws.client("sns")
    for start in range(0, len(messages), BATCH_LIMIT):
        chunk = messages[start : start + BATCH_LIMIT]
        response = client.publish_batch(
            TopicArn=topic_arn,
            PublishBatchRequestEntries=[
                {
                    "Id": message.id,
                    "Message": json.dumps(message.body, separators=(",", ":")),
                    "MessageAttributes": {
                        name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()
                    },
                }
                for message in chunk
            ],
        )
        published += [entry["Id"] for entry in response.get("Successful", [])]
        failed.update({entry["Id"]: entry.get("Code", "Failed") for entry in response.get("Failed", [])})
    return published, failed
